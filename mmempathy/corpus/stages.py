"""The two stages of corpus inference, shared by both engines, and the engines that run them: a CPU
stage (:func:`file_rows`: decoding, faces, voice activity, Whisper) and a model stage
(:func:`predict_rows`), on this process (:func:`run_local`) or as a Ray Data pipeline (:func:`run_ray`)."""

from __future__ import annotations

import logging
import pickle
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmempathy.errors import InputError
from mmempathy.media.config import VideoConfig

if TYPE_CHECKING:
    import pandas as pd
    import ray

    from mmempathy.corpus.store import Writer
    from mmempathy.model import EmotionFuser


def file_rows(item: dict[str, Any], spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The CPU stage: a file's segments as rows to predict, then one closing row.

    Rows are ``{"key", "kind", "index", "payload"}``: ``kind`` ``"segment"`` (``payload``: the
    pickled :class:`~mmempathy.sample.Sample`, ``index``: its order), then ``"done"`` (``index``:
    the number of segments, ``payload``: the timeline's ``meta``), or ``"failed"`` (the error) when
    anything goes wrong, even after some segments went out. Never raises for a bad file.

    Args:
        item: ``path``, ``subtitles``, ``transcript`` and ``key`` of one file.
        spec: From :func:`sample_spec`: ``config``, ``face_size``, ``sample_rate``, ``modalities``.
    """
    from mmempathy.media.pipeline import iter_samples, readable

    key, count = item["key"], 0
    try:
        report: dict[str, Any] = {}  # the file's duration and streams, its segmentation and text source
        skipped: list[list[float]] = []
        samples = iter_samples(
            item["path"],
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
                yield row(key, "segment", count, sample)
                count += 1
        yield row(key, "done", count, {**report, "config": asdict(spec["config"]), "skipped": skipped})
    except Exception as err:  # noqa: BLE001 - any error is this file's: recorded, and the corpus goes on
        yield row(key, "failed", count, {"error": type(err).__name__, "message": str(err)})


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
            as :func:`pack` makes them, or a Ray reference to them: a model object cannot travel as it
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
            self.fuser = load_model(model, device)
            return
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in model.items():
                (Path(tmp) / name).parent.mkdir(parents=True, exist_ok=True)
                (Path(tmp) / name).write_bytes(data)
            self.fuser = load_model(tmp, device)

    def __call__(self, rows: pd.DataFrame) -> pd.DataFrame:
        return predict_rows(self.fuser, rows)


def run_local(fuser: EmotionFuser, todo: list[dict[str, Any]], writer: Writer, spec: dict, batch_size: int) -> None:
    import pandas as pd

    from mmempathy.media.pipeline import baseline_reader

    if baseline_reader(fuser, spec["config"].adapt) is not None:  # a person baseline needs a whole file at once
        for item in todo:
            writer.add_rows(pd.DataFrame(list(adapted_rows(fuser, file_rows(item, spec), batch_size))))
        return
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


def adapted_rows(fuser: EmotionFuser, rows: Iterator[dict[str, Any]], batch_size: int) -> Iterator[dict[str, Any]]:
    """The model stage for one file's rows, its faces and voice read against their person baselines
    (as :func:`~mmempathy.media.pipeline.predict_video` with ``adapt="auto"``): the segment rows come
    out together, after the file's last segment."""
    from mmempathy.media.pipeline import adapt_report, baseline_reader, read_batch, segments_of

    reader, batch, kept = baseline_reader(fuser, "auto"), [], []
    try:
        for r in rows:
            if r["kind"] == "segment":
                batch.append(pickle.loads(r["payload"]))
                if len(batch) == batch_size:
                    read_batch(fuser, reader, batch, kept)
                    batch = []
            elif r["kind"] == "done":
                if batch:
                    read_batch(fuser, reader, batch, kept)
                segments = segments_of(kept, reader.results())
                yield from (row(r["key"], "segment", i, seg) for i, seg in enumerate(segments))
                meta = {**pickle.loads(r["payload"]), "adapt": adapt_report("auto", reader, segments)}
                yield row(r["key"], "done", r["index"], meta)
            else:
                yield r
    except Exception as err:  # noqa: BLE001 - as in predict_rows: the file fails, the run does not
        yield row(r["key"], "failed", 0, {"error": type(err).__name__, "message": f"model: {err}"})


@contextmanager
def quiet_ray() -> Iterator[None]:
    """Ray's own notes off the terminal while it runs: its Python loggers (start-up, Ray Data's execution
    plans) show errors only. Ray keeps its full logs in its session folder (``/tmp/ray/session_latest/logs``)."""
    import ray.data  # noqa: F401  (it sets its loggers' levels when imported: set ours after)

    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


@quiet_ray()
def run_ray(
    model: EmotionFuser | str | Path,
    todo: list[dict[str, Any]],
    writer: Writer,
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
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        except ConnectionError as err:
            raise InputError(f"cannot reach the Ray cluster at {address}: {err}") from None
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False  # ours counts files
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        # Without GPUs the model stage (lite) is about a quarter of all the work (benchmarks/RESULTS.md).
        workers = model_workers or (gpus if gpus else max(1, int(resources.get("CPU", 1)) // 4))
        # A model given by name is loaded by each worker; a model object travels to them as its checkpoint.
        shipped = str(model) if isinstance(model, (str, Path)) else ray.put(pack(model))  # put once, not per actor
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


def row(key: str, kind: str, index: int, value: Any) -> dict[str, Any]:
    # Pickle carries samples between our own stages (Ray would pickle them anyway); nothing read from disk.
    return {"key": key, "kind": kind, "index": index, "payload": pickle.dumps(value)}


def sample_spec(fuser: EmotionFuser, config: VideoConfig) -> dict[str, Any]:
    """What the CPU stage needs: the settings, and from the model what ``predict_video`` takes from it
    (:func:`~mmempathy.media.pipeline.sample_settings`)."""
    from mmempathy.media.pipeline import sample_settings

    return {"config": config, **sample_settings(fuser, config)}


def pack(fuser: EmotionFuser) -> dict[str, bytes]:
    """The files of ``fuser``'s checkpoint (:meth:`~mmempathy.model.EmotionFuser.save_pretrained`), by relative path."""
    with tempfile.TemporaryDirectory() as tmp:
        fuser.save_pretrained(tmp)
        return {str(p.relative_to(tmp)): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}


def load_model(model: EmotionFuser | str | Path, device: str | None) -> EmotionFuser:
    if not isinstance(model, (str, Path)):
        return model if device is None else model.to(device)
    from mmempathy.model import EmotionFuser

    return EmotionFuser.from_pretrained(model, device=device)
