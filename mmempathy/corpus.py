"""Emotion timelines for a whole archive of recordings, on one machine or on a Ray cluster.

:func:`predict_corpus` runs every media file of a folder (or of a CSV list) through the video
pipeline and writes one row per segment. The work is split at the natural boundary of
:func:`~mmempathy.media.pipeline.predict_video`: a CPU stage (:func:`file_rows`: decoding, face
detection, voice activity, optional Whisper) turns a file into its segments' samples, a model stage
(:func:`predict_rows`) predicts them in batches. ``engine="local"`` runs both stages in this
process, file after file; ``engine="ray"`` runs the same two functions as a Ray Data pipeline (CPU
tasks for the first, model actors, one GPU each where the cluster has GPUs, for the second), on a
local Ray instance or a cluster (``ray_address``). Either way the results come back to this
process, which writes them, so both engines write the same rows the same way.

The output ``out`` (say ``results.parquet``) is a directory that ``pandas.read_parquet`` and
pyarrow read as one table (:func:`read_corpus`)::

    results.parquet/
        _run.json                               model, labels and settings; a resume must match them
        part-<path hash>-<stamp>.parquet        one per input file: its segments, one row each
        _failures/<path hash>-<stamp>.json      one per failed file: path, error type and message

Each file is written whole (to a temporary name, then renamed). ``<stamp>`` hashes the file's size
and modification time (and its subtitles' and transcript's), so running again skips every file
whose part is there and does again only the files that are new, changed or unfinished; a changed
file's old part is removed once its new one is written. A file that fails (corrupt, empty, no
segment could be made, or any other error) is recorded in ``_failures/`` and the run goes on; the
next run skips it while it is unchanged, unless ``retry_failed=True``. Columns: ``file`` (the
path as the folder walk found it or as the CSV wrote it), ``segment`` (0, 1, ... in time order),
then :meth:`~mmempathy.media.timeline.Timeline.to_dataframe`'s columns, with every modality the
model reads (NaN where a segment lacked it, weight 0), so every part has the same schema. Each
part's parquet metadata (key ``mmempathy``) holds the file's timeline ``meta`` (duration, text
source, dropped and skipped segments, settings), its size and modification time.

Needs the ``corpus`` extra (``pip install 'mmempathy[corpus]'``: pyarrow, and Ray for ``engine="ray"``).

Example:
    >>> from mmempathy.corpus import predict_corpus, read_corpus  # doctest: +SKIP
    >>> report = predict_corpus("lite", "calls/", "results.parquet", engine="ray")  # doctest: +SKIP
    >>> table = read_corpus("results.parquet")  # doctest: +SKIP
    >>> table.groupby("file")["dominant"].agg(lambda d: d.value_counts().index[0])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mmempathy.errors import InputError
from mmempathy.io import atomic_write, check_media_path
from mmempathy.media.config import VideoConfig

if TYPE_CHECKING:
    import pandas as pd
    import ray

    from mmempathy.model import EmotionFuser

# File suffixes a folder walk takes as media.
MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4a", ".mp3", ".wav", ".flac", ".ogg"})
ENGINES = ("local", "ray")
RUN_FILE = "_run.json"
FAILURES_DIR = "_failures"  # names starting with "_" are not data to pyarrow's dataset reader


@dataclass(frozen=True)
class CorpusItem:
    """One input file, with what the pipeline reads beside it.

    Attributes:
        path: The media file.
        file: How the results name it (the ``file`` column): the path as found or as listed.
        subtitles: An ``.srt``/``.vtt`` file for it, if any.
        transcript: Its text without timing, if any.
    """

    path: Path
    file: str
    subtitles: Path | None = None
    transcript: str | None = None

    @property
    def key(self) -> str:
        """A name for the file's outputs: a hash of its absolute path."""
        return hashlib.sha1(os.path.abspath(self.path).encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def stamp(self) -> str:
        """A hash of what the results depend on besides the settings: size and mtime of the file and its subtitles,
        and the transcript (a missing file has a stamp too: it fails, and is tried again once it appears)."""
        parts = [_stat(self.path), _stat(self.subtitles) if self.subtitles else "", self.transcript or ""]
        return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:8]


@dataclass
class CorpusReport:
    """What a :func:`predict_corpus` run did.

    Attributes:
        out: The output directory.
        total: Input files (after removing duplicates).
        done: Files predicted and written in this run.
        failed: Files that failed in this run (each recorded in ``out/_failures/``).
        skipped: Files left alone: done before, unchanged (``skipped_failed`` of them had failed before).
        skipped_failed: Files that had failed before, unchanged, and were not retried.
        segments: Segment rows written in this run.
        media_seconds: Duration of the media predicted in this run.
        seconds: Wall time of the run.
        failures: ``(file, error type, message)`` of this run's failures.
    """

    out: Path
    total: int = 0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    skipped_failed: int = 0
    segments: int = 0
    media_seconds: float = 0.0
    seconds: float = 0.0
    failures: list[tuple[str, str, str]] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``12 files: 10 done, 1 failed, 1 skipped (done before); 310 segments, 0.80 h of media in 95 s``."""
        skipped = f"{self.skipped} skipped (done before" + (
            f", {self.skipped_failed} of them failed)" if self.skipped_failed else ")"
        )
        rate = (
            f" ({self.media_seconds / self.seconds:.1f}x real time)" if self.seconds > 0 and self.media_seconds else ""
        )
        return (
            f"{self.total} files: {self.done} done, {self.failed} failed, {skipped}; {self.segments} segments, "
            f"{self.media_seconds / 3600:.2f} h of media in {self.seconds:.0f} s{rate}"
        )


def find_inputs(source: str | Path) -> list[CorpusItem]:
    """The media files of a folder (searched recursively) or of a CSV list.

    A folder's files are those with a suffix in :data:`MEDIA_SUFFIXES`, sorted; ``<name>.srt`` or
    ``<name>.vtt`` beside a file are its subtitles (:func:`subtitles_beside`). A CSV needs a
    ``path`` column and may have ``subtitles`` and ``transcript`` columns; relative paths are
    relative to the CSV's folder.

    Raises:
        InputError: ``source`` is missing, is neither a folder nor a ``.csv``, the CSV lacks a
            ``path`` column, or no media file was found.
    """
    source = Path(source)
    if source.is_dir():
        paths = sorted(p for p in source.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file())
        items = [CorpusItem(p, str(p), subtitles_beside(p)) for p in paths]
        if not items:
            raise InputError(f"no media files in {source} (searched for {', '.join(sorted(MEDIA_SUFFIXES))})")
        return items
    if not source.exists():
        raise InputError(f"input not found: {source}")
    if source.suffix.lower() != ".csv":
        raise InputError(f"input must be a folder or a .csv list of files with a 'path' column, not {source}")
    return _read_list(source)


def subtitles_beside(path: Path) -> Path | None:
    """``<name>.srt`` or else ``<name>.vtt`` next to a media file, if there is one."""
    return next((p for p in (path.with_suffix(".srt"), path.with_suffix(".vtt")) if p.is_file()), None)


def predict_corpus(
    model: EmotionFuser | str | Path,
    inputs: str | Path | Iterable[str | Path | CorpusItem],
    out: str | Path,
    *,
    engine: str = "local",
    config: VideoConfig | None = None,
    retry_failed: bool = False,
    device: str | None = None,
    ray_address: str | None = None,
    model_workers: int | None = None,
    progress: bool = True,
) -> CorpusReport:
    """Predict every file of a corpus into a parquet dataset; resumable (see the module's docstring).

    Args:
        model: The model, or a preset name or checkpoint directory to load.
        inputs: A folder, a CSV list (:func:`find_inputs`), or files.
        out: The output directory (made if missing).
        engine: ``"local"`` (this process) or ``"ray"`` (a Ray Data pipeline).
        config: Segmenting and decoding settings (as for ``predict_video``); its ``progress`` is ignored.
        retry_failed: Try again the files that failed in an earlier run although they have not changed.
        device: Torch device of the model (default: CUDA if available); for Ray, that of each model worker.
        ray_address: A Ray cluster to use (``"auto"``, ``"ray://host:10001"``); default: the Ray
            instance this process already started, else a new local one (stopped at the end).
        model_workers: Ray model actors (default: one per GPU of the cluster; without GPUs one per four CPUs).
        progress: A progress bar over files.

    Returns:
        What was done, skipped and failed (:class:`CorpusReport`).

    Raises:
        InputError: Bad inputs or options, a missing extra, or ``out`` holding results made with
            another model or other settings.
    """
    if engine not in ENGINES:
        raise InputError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if model_workers is not None and model_workers < 1:
        raise InputError(f"model_workers must be at least 1, got {model_workers}")
    _require("pyarrow", "writing parquet")
    if engine == "ray":
        _require("ray", "engine='ray'")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out must be a directory (a parquet dataset), and {out} is a file")
    items = _dedupe(find_inputs(inputs) if isinstance(inputs, (str, Path)) else _as_items(inputs))
    config = replace(config or VideoConfig(), progress=False)  # one bar over files, not one per file
    # With Ray a model given by name is loaded by the workers; here it only gives labels and the processor.
    fuser = _load(model, "cpu" if engine == "ray" and isinstance(model, (str, Path)) else device)
    writer = _Writer(out, fuser, config, model if isinstance(model, (str, Path)) else None)
    todo, report = writer.plan(items, retry_failed=retry_failed)
    spec = _sample_spec(fuser, config)
    start = time.perf_counter()
    with _progress(len(todo), progress) as bar:
        writer.bar = bar
        if engine == "local":
            _run_local(fuser, todo, writer, spec, config.batch_size)
        else:
            _run_ray(model, todo, writer, spec, config.batch_size, device, ray_address, model_workers)
    writer.finish()
    report.done, report.failed, report.segments = writer.done, len(writer.failures), writer.segments
    report.media_seconds, report.failures = writer.media_seconds, writer.failures
    report.seconds = time.perf_counter() - start
    return report


def read_corpus(out: str | Path) -> pd.DataFrame:
    """Every segment row of a :func:`predict_corpus` output, in the order of ``file`` and ``segment``."""
    pq = _require("pyarrow.parquet", "reading parquet")
    parts = sorted(Path(out).glob("part-*.parquet"))
    if not parts:
        raise InputError(f"no results in {out}")
    table = pq.ParquetDataset(parts).read().to_pandas()
    return table.sort_values(["file", "segment"], ignore_index=True)


def read_failures(out: str | Path) -> pd.DataFrame:
    """The failed files of a :func:`predict_corpus` output: ``file, path, error, message, time``."""
    import pandas as pd

    records = [json.loads(p.read_text()) for p in sorted((Path(out) / FAILURES_DIR).glob("*.json"))]
    return pd.DataFrame(records, columns=["file", "path", "error", "message", "time"])


# --- the two stages, shared by both engines --------------------------------------------------


def file_rows(item: dict[str, Any], spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The CPU stage: a file's segments as rows to predict, then one closing row.

    Rows are ``{"key", "kind", "index", "payload"}``: ``kind`` ``"segment"`` (``payload``: the
    pickled :class:`~mmempathy.sample.Sample`, ``index``: its order), then ``"done"`` (``index``:
    the number of segments, ``payload``: the timeline's ``meta``), or ``"failed"`` (the error) when
    anything goes wrong, even after some segments went out. Never raises for a bad file.

    Args:
        item: ``path``, ``subtitles``, ``transcript`` and ``key`` of one file.
        spec: From :func:`_sample_spec`: ``config``, ``face_size``, ``sample_rate``, ``modalities``.
    """
    from mmempathy.media.decode import probe
    from mmempathy.media.pipeline import iter_samples, readable

    key, count = item["key"], 0
    try:
        path = check_media_path(item["path"])
        info = probe(path)
        report: dict[str, Any] = {}
        skipped: list[list[float]] = []
        samples = iter_samples(
            path,
            item["subtitles"],
            item["transcript"],
            config=spec["config"],
            face_size=spec["face_size"],
            sample_rate=spec["sample_rate"],
            modalities=spec["modalities"],
            report=report,
        )
        with closing(samples):  # the file closes now on an error, not at garbage collection
            for sample in samples:
                if not readable(sample, spec["modalities"]):  # as predict_video: nothing the model reads
                    skipped.append([sample.meta["start"], sample.meta["end"]])
                    continue
                yield _row(key, "segment", count, sample)
                count += 1
        meta = {"duration": info.duration, "has_video": info.has_video, "has_audio": info.has_audio, **report}
        yield _row(key, "done", count, {**meta, "config": asdict(spec["config"]), "skipped": skipped})
    except Exception as err:  # noqa: BLE001 - any error is this file's: recorded, and the corpus goes on
        yield _row(key, "failed", count, {"error": type(err).__name__, "message": str(err)})


def predict_rows(fuser: EmotionFuser, rows: pd.DataFrame) -> pd.DataFrame:
    """The model stage: each ``"segment"`` row's sample predicted, its payload now the pickled
    :class:`~mmempathy.media.timeline.Segment`; other rows pass unchanged. A batch the model fails on
    turns its segment rows into ``"failed"`` rows (their files are recorded as failed)."""
    from mmempathy.media.pipeline import predict_segments

    rows = rows.copy()
    todo = (rows["kind"] == "segment").to_numpy()
    if not todo.any():
        return rows
    try:
        segments = predict_segments(fuser, [pickle.loads(p) for p in rows.loc[todo, "payload"]])
        rows.loc[todo, "payload"] = [pickle.dumps(s) for s in segments]
    except Exception as err:  # noqa: BLE001 - as in file_rows: the files fail, the run does not
        rows.loc[todo, "kind"] = "failed"
        rows.loc[todo, "payload"] = pickle.dumps({"error": type(err).__name__, "message": f"model: {err}"})
    return rows


class ModelWorker:
    """A Ray actor of the model stage: loads the model once, then predicts batches of rows.

    Args:
        model: A preset name or checkpoint directory, or a checkpoint's files (``{relative path: bytes}``,
            as :func:`_pack` makes them, or a Ray reference to them: a model object cannot travel as it
            is, its parametrized modules do not pickle).
        device: The torch device (default: CUDA if available).
    """

    def __init__(self, model: str | dict[str, bytes] | ray.ObjectRef, device: str | None = None):
        import ray
        import torch

        threads = int(ray.get_runtime_context().get_assigned_resources().get("CPU", 1))
        torch.set_num_threads(max(1, threads))
        if isinstance(model, ray.ObjectRef):
            model = ray.get(model)
        if isinstance(model, str):
            self.fuser = _load(model, device)
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in model.items():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / name).write_bytes(data)
            self.fuser = _load(tmp, device)

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        return predict_rows(self.fuser, rows)


# --- engines ---------------------------------------------------------------------------------------


def _run_local(fuser: EmotionFuser, todo: list[dict[str, Any]], writer: _Writer, spec: dict, batch_size: int) -> None:
    import pandas as pd

    pending: list[dict[str, Any]] = []
    segments = 0
    for item in todo:
        for row in file_rows(item, spec):
            pending.append(row)
            segments += row["kind"] == "segment"
            if segments == batch_size:
                writer.add_rows(predict_rows(fuser, pd.DataFrame(pending)))
                pending, segments = [], 0
    if pending:
        writer.add_rows(predict_rows(fuser, pd.DataFrame(pending)))


def _run_ray(
    model: EmotionFuser | str | Path,
    todo: list[dict[str, Any]],
    writer: _Writer,
    spec: dict,
    batch_size: int,
    device: str | None,
    address: str | None,
    model_workers: int | None,
) -> None:
    import ray

    if not todo:
        return
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        except ConnectionError as err:
            raise InputError(f"cannot reach the Ray cluster at {address}: {err}") from None
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts files
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        # Without GPUs the model stage (lite) is about a quarter of all the work (benchmarks/RESULTS.md).
        workers = model_workers or (gpus if gpus else max(1, int(resources.get("CPU", 1)) // 4))
        # A model given by name is loaded by each worker; a model object travels to them as its checkpoint.
        shipped = str(model) if isinstance(model, (str, Path)) else ray.put(_pack(model))  # put once, not per actor
        ds = ray.data.from_items(todo, override_num_blocks=len(todo))  # one file a task: small files balance
        if spec["config"].asr_threads == 0:  # each CPU task holds one CPU: Whisper should not take four
            spec = {**spec, "config": replace(spec["config"], asr_threads=1)}
        ds = ds.flat_map(file_rows, fn_args=(spec,), num_cpus=1)
        ds = ds.map_batches(
            ModelWorker,
            fn_constructor_args=(shipped, device),
            batch_size=batch_size,
            batch_format="pandas",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_gpus=1 if gpus else 0,
            num_cpus=1,
        )
        for batch in ds.iter_batches(batch_size=None, batch_format="pandas"):
            writer.add_rows(batch)
    finally:
        if started:
            ray.shutdown()


# --- writing ---------------------------------------------------------------------------------------


@dataclass
class _Pending:
    segments: dict[int, Any] = field(default_factory=dict)
    expected: int | None = None
    meta: dict[str, Any] | None = None


class _Writer:
    """Receives rows in any order, and writes each file's part (or failure) as soon as it is complete."""

    def __init__(self, out: Path, fuser: EmotionFuser, config: VideoConfig, model_name: str | Path | None):
        self.out = out
        self.labels = tuple(fuser.labels)
        self.modalities = [str(getattr(m, "value", m)) for m in fuser.modalities]
        self.settings = {
            "model": None if model_name is None else str(model_name),
            "labels": list(self.labels),
            "modalities": self.modalities,
            "config": {k: v for k, v in asdict(config).items() if k != "progress"},
        }
        self.items: dict[str, dict[str, Any]] = {}
        self.pending: dict[str, _Pending] = {}
        self.parts: dict[str, list[Path]] = {}  # key -> its part files already there
        self.failed_before: dict[str, list[Path]] = {}
        self.bar: Any = None
        self.done = self.segments = 0
        self.media_seconds = 0.0
        self.failures: list[tuple[str, str, str]] = []

    def plan(self, items: list[CorpusItem], *, retry_failed: bool) -> tuple[list[dict[str, Any]], CorpusReport]:
        """Check ``out``'s settings, write them, and pick the files to do."""
        self._check_settings()
        for path in self.out.glob("part-*.parquet"):
            self.parts.setdefault(path.stem.split("-")[1], []).append(path)
        for path in (self.out / FAILURES_DIR).glob("*.json"):
            self.failed_before.setdefault(path.stem.split("-")[0], []).append(path)
        report = CorpusReport(self.out, total=len(items))
        todo = []
        for item in items:
            key, stamp = item.key, item.stamp()
            if any(p.stem == f"part-{key}-{stamp}" for p in self.parts.get(key, [])):
                report.skipped += 1
                continue
            if not retry_failed and any(p.stem == f"{key}-{stamp}" for p in self.failed_before.get(key, [])):
                report.skipped += 1
                report.skipped_failed += 1
                continue
            size, mtime = _size_mtime(item.path)  # as planned: the file may go before its part is written
            row = {"key": key, "stamp": stamp, "path": str(item.path), "file": item.file, "size": size, "mtime": mtime}
            row.update(subtitles=None if item.subtitles is None else str(item.subtitles), transcript=item.transcript)
            self.items[key] = row
            todo.append(row)
        return todo, report

    def add_rows(self, rows: pd.DataFrame) -> None:
        for key, kind, index, payload in zip(rows["key"], rows["kind"], rows["index"], rows["payload"]):
            if key not in self.pending and key not in self.items:
                continue  # its file already failed
            entry = self.pending.setdefault(key, _Pending())
            value = pickle.loads(payload)
            if kind == "failed":
                self._fail(key, value)
                continue
            if kind == "segment":
                entry.segments[int(index)] = value
            else:
                entry.expected, entry.meta = int(index), value
            if entry.expected is not None and len(entry.segments) == entry.expected:
                self._write(key, entry)

    def finish(self) -> None:
        for key in list(self.pending):  # cannot happen unless a stage lost rows: say so rather than hide it
            self._fail(
                key, {"error": "RuntimeError", "message": "the pipeline ended before all its segments came back"}
            )

    def _write(self, key: str, entry: _Pending) -> None:
        pa, pq = _require("pyarrow", "writing parquet"), _require("pyarrow.parquet", "writing parquet")
        item = self.items.pop(key)
        del self.pending[key]
        table = pa.Table.from_pandas(self._frame(item, entry), schema=self._schema(), preserve_index=False)
        meta = {"file": item["file"], "path": item["path"], "size": item["size"], "mtime": item["mtime"]}
        meta["meta"] = entry.meta
        table = table.replace_schema_metadata({"mmempathy": json.dumps(meta, default=str)})
        path = self.out / f"part-{key}-{item['stamp']}.parquet"
        atomic_write(path, lambda tmp: pq.write_table(table, tmp))
        self._remove_older(key, keep=path)
        self.done += 1
        self.segments += table.num_rows
        self.media_seconds += float(entry.meta.get("duration") or 0.0)
        self._tick()

    def _frame(self, item: dict[str, Any], entry: _Pending) -> pd.DataFrame:
        from mmempathy.media.timeline import Timeline

        segments = [entry.segments[i] for i in range(len(entry.segments))]
        frame = Timeline(segments, labels=self.labels, source=item["file"], meta=entry.meta).to_dataframe()
        frame = frame.reindex(columns=self._schema().names[2:])  # every modality, in one order
        weights = [c for c in frame.columns if c.startswith("w_")]
        frame[weights] = frame[weights].fillna(0.0)
        frame.insert(0, "segment", range(len(frame)))
        frame.insert(0, "file", item["file"])
        return frame

    def _schema(self) -> Any:
        import pyarrow as pa

        floats = ["start", "end"]
        floats_after = [f"p_{label}" for label in self.labels]
        floats_after += [f"{m}_p_{label}" for m in self.modalities for label in self.labels]
        floats_after += [f"w_{m}" for m in self.modalities] + ["incongruity"]
        return pa.schema(
            [("file", pa.string()), ("segment", pa.int32())]
            + [(c, pa.float64()) for c in floats]
            + [("dominant", pa.string())]
            + [(c, pa.float64()) for c in floats_after]
            + [("present", pa.string()), ("speech", pa.float64()), ("text", pa.string())]
        )

    def _fail(self, key: str, error: dict[str, str]) -> None:
        item = self.items.pop(key)
        self.pending.pop(key, None)
        record = {"file": item["file"], "path": item["path"], **error, "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        path = self.out / FAILURES_DIR / f"{key}-{item['stamp']}.json"
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(record, ensure_ascii=False) + "\n"), durable=False)
        self._remove_older(key, keep=path)  # an older part of a file that now fails is no longer its result
        self.failures.append((item["file"], error["error"], error["message"]))
        self._tick()

    def _remove_older(self, key: str, keep: Path) -> None:
        for path in [*self.parts.pop(key, []), *self.failed_before.pop(key, [])]:
            if path != keep:
                path.unlink(missing_ok=True)

    def _tick(self) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(failed=len(self.failures), refresh=False)

    def _check_settings(self) -> None:
        path = self.out / RUN_FILE
        if path.is_file():
            before = json.loads(path.read_text())
            differ = [k for k in ("labels", "modalities", "config") if before.get(k) != self.settings[k]]
            if None not in (before.get("model"), self.settings["model"]) and before["model"] != self.settings["model"]:
                differ.insert(0, "model")
            if differ:
                raise InputError(
                    f"{self.out} holds results made with another {', '.join(differ)} "
                    f"(see {path}); give another --out, or remove it to start again"
                )
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(self.settings, indent=2) + "\n"))


# --- helpers ---------------------------------------------------------------------------------------


def _row(key: str, kind: str, index: int, value: Any) -> dict[str, Any]:
    # Pickle carries samples between our own stages (Ray would pickle them anyway); nothing read from disk.
    return {"key": key, "kind": kind, "index": index, "payload": pickle.dumps(value)}


def _sample_spec(fuser: EmotionFuser, config: VideoConfig) -> dict[str, Any]:
    """What the CPU stage needs from the model, as ``predict_video`` derives it."""
    from mmempathy.media.decode import SAMPLE_RATE
    from mmempathy.modality import Modality

    processor = getattr(fuser, "processor", None)
    return {
        "config": config,
        "face_size": config.face_size or getattr(processor, "face_size", None) or 112,
        "sample_rate": getattr(processor, "sample_rate", None) or SAMPLE_RATE,
        "modalities": {str(getattr(m, "value", m)) for m in getattr(fuser, "modalities", Modality)},
    }


def _pack(fuser: EmotionFuser) -> dict[str, bytes]:
    """The files of ``fuser``'s checkpoint (:meth:`~mmempathy.model.EmotionFuser.save_pretrained`), by relative path."""
    with tempfile.TemporaryDirectory() as tmp:
        fuser.save_pretrained(tmp)
        return {str(p.relative_to(tmp)): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}


def _load(model: EmotionFuser | str | Path, device: str | None) -> EmotionFuser:
    if not isinstance(model, (str, Path)):
        return model if device is None else model.to(device)
    from mmempathy.model import EmotionFuser

    return EmotionFuser.from_pretrained(model, device=device)


def _read_list(source: Path) -> list[CorpusItem]:
    import pandas as pd

    try:
        table = pd.read_csv(source, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {source} as CSV: {err}") from None
    if "path" not in table.columns:
        raise InputError(f"{source} has no 'path' column (columns: {', '.join(table.columns) or 'none'})")
    root = source.parent

    def resolve(value: str) -> Path | None:
        return (root / value) if value else None

    items = []
    for row in table.to_dict("records"):
        if not row["path"]:
            continue
        subtitles = resolve(row.get("subtitles", ""))
        items.append(CorpusItem(root / row["path"], row["path"], subtitles, row.get("transcript") or None))
    if not items:
        raise InputError(f"{source} lists no files")
    return items


def _as_items(inputs: Iterable[str | Path | CorpusItem]) -> list[CorpusItem]:
    items = [i if isinstance(i, CorpusItem) else CorpusItem(Path(i), str(i), subtitles_beside(Path(i))) for i in inputs]
    if not items:
        raise InputError("no input files given")
    return items


def _dedupe(items: list[CorpusItem]) -> list[CorpusItem]:
    """The first of each file listed twice."""
    first: dict[str, CorpusItem] = {}
    for item in items:
        first.setdefault(item.key, item)
    return list(first.values())


def _stat(path: Path) -> str:
    size, mtime = _size_mtime(path)
    return f"{size}:{mtime!r}"


def _size_mtime(path: Path) -> tuple[int | None, float | None]:
    try:
        stat = path.stat()
    except OSError:
        return None, None
    return stat.st_size, stat.st_mtime


def _require(module: str, purpose: str) -> ModuleType:
    """``module``, or an InputError that names the extra providing it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{purpose} needs {module.split('.')[0]}: pip install 'mmempathy[corpus]'") from None


def _progress(total: int, show: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="file", desc="predict-corpus", disable=not show)
