"""Where corpus results go: one parquet part per file and one JSON record per failure, written as
each file completes (:class:`Writer`), and what a run did (:class:`CorpusReport`)."""

from __future__ import annotations

import importlib
import json
import pickle
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mmempathy.corpus.inputs import CorpusItem, printable, size_mtime
from mmempathy.errors import InputError
from mmempathy.io import atomic_write
from mmempathy.media.config import VideoConfig
from mmempathy.modality import PERSONAL

if TYPE_CHECKING:
    import pandas as pd

    from mmempathy.model import EmotionFuser

RUN_FILE = "_run.json"
FAILURES_DIR = "_failures"  # names starting with "_" are not data to pyarrow's dataset reader


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


@dataclass
class _Pending:
    segments: dict[int, Any] = field(default_factory=dict)
    expected: int | None = None
    meta: dict[str, Any] | None = None


class Writer:
    """Receives rows in any order, and writes each file's part (or failure) as soon as it is complete."""

    SETTINGS = ("labels", "modalities", "config")  # what a resume must match (and ``model`` when both name one)

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
            size, mtime = size_mtime(item.path)  # as planned: the file may go before its part is written
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
        pa, pq = require("pyarrow", "writing parquet"), require("pyarrow.parquet", "writing parquet")
        item = self.items.pop(key)
        del self.pending[key]
        table = pa.Table.from_pandas(self._frame(item, entry), schema=self._schema(), preserve_index=False)
        meta = {"file": item["file"], "path": printable(item["path"]), "size": item["size"], "mtime": item["mtime"]}
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
        counts = [c for c in frame.columns if c.startswith("baseline_")]
        frame[counts] = frame[counts].fillna(0).astype("int32")
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
            + [("present", pa.string()), ("speech", pa.float64()), ("text", pa.string()), ("adapted", pa.string())]
            + [(f"baseline_{m}", pa.int32()) for m in self.modalities if m in PERSONAL]
        )

    def _fail(self, key: str, error: dict[str, str]) -> None:
        item = self.items.pop(key)
        self.pending.pop(key, None)
        error = {k: printable(str(v)) for k, v in error.items()}  # a message may quote a name that is not UTF-8
        record = {"file": item["file"], "path": printable(item["path"]), **error}
        record["time"] = time.strftime("%Y-%m-%dT%H:%M:%S")
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
            before = self._read_settings(path)
            differ = [k for k in self.SETTINGS if before.get(k) != self.settings[k]]
            if None not in (before.get("model"), self.settings["model"]) and before["model"] != self.settings["model"]:
                differ.insert(0, "model")
            if differ:
                raise InputError(
                    f"{self.out} holds results made with another {', '.join(differ)} "
                    f"(see {path}); give another --out, or remove it to start again"
                )
        atomic_write(path, lambda tmp: tmp.write_text(json.dumps(self.settings, indent=2) + "\n"))

    def _read_settings(self, path: Path) -> dict[str, Any]:
        """The settings an earlier run wrote; damaged ones are refused: the parts cannot be checked against them."""
        try:
            before = json.loads(path.read_bytes())
        except (OSError, ValueError, RecursionError) as err:
            before = err
        if isinstance(before, dict) and all(k in before for k in self.SETTINGS):
            return before
        why = f"not JSON ({before})" if isinstance(before, Exception) else "not the settings of a run"
        raise InputError(
            f"{path} is damaged ({why}): it records the model and settings of the results in {self.out}; "
            f"restore it, give another --out, or remove {self.out} to start again"
        )


def require(module: str, purpose: str) -> ModuleType:
    """``module``, or an InputError that names the extra providing it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InputError(f"{purpose} needs {module.split('.')[0]}: pip install 'mmempathy[corpus]'") from None


def progress_bar(total: int, show: bool) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="file", desc="predict-corpus", disable=not show)
