"""Online corrections: a store that survives restarts, and small per-user adapters trained on it.

``fuser.feedback(item, label, user=...)`` encodes the item once and records its **encoder outputs**
(so adapting later needs no media), the corrected label, who gave it and when, in a
:class:`FeedbackStore`. ``fuser.adapt(...)`` trains a small :class:`Adapter` on those corrections
mixed with a *replay buffer* of original training data, where a distillation prior holds it to the
base model's own predictions (what keeps the model from forgetting; see :func:`train_adapter`), and
saves it beside the base weights (``<checkpoint>/adapters/<name>/adapter.{json,safetensors}``); the
base ``model.safetensors`` is never written. ``fuser.use_adapter(None)`` switches it off and gives
back the base model's outputs exactly; :func:`delete_adapter` removes its files.

Two kinds of adapter:

* ``"calibration"``: a per-user head on the fused logits, ``z' = z (I + A) + b`` (``A`` and ``b``
  start at zero, so a new adapter changes nothing). ``c^2 + c`` numbers (56 for seven labels); it
  trains on the base model's logits, which are computed once, so it takes milliseconds.
* ``"lora"``: LoRA (``peft``, the ``train`` extra) on every linear layer of the fusion and the heads.
  More capacity (thousands of numbers), and each step runs the fusion.

Why SQLite for the store: one file, every write a transaction (a crash or a bad item in the middle
of a batch leaves the rows already stored intact, never half a row), safe for several processes (the
coach's web workers and a training job) and readable with standard tools. Each row's tensors are one
safetensors blob, so nothing is ever unpickled.

Example:
    >>> fuser = EmotionFuser.from_pretrained("lite")  # doctest: +SKIP
    >>> fuser.feedback({"audio": wave, "sample_rate": 16000}, "anger", user="ana")  # doctest: +SKIP
    >>> fuser.adapt(user="ana", replay=train_samples)  # doctest: +SKIP
    >>> fuser.use_adapter(None)  # back to the base model  # doctest: +SKIP
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load, load_file, save, save_file
from torch import nn

from mmempathy.config import coerce
from mmempathy.errors import CheckpointError, InputError, MMEmpathyError
from mmempathy.modality import Modality
from mmempathy.output import FuserOutput
from mmempathy.sample import Sample
from mmempathy.sqlite_store import check_store, create_schema

log = logging.getLogger(__name__)
Encoded = dict[Modality, tuple[torch.Tensor, torch.Tensor]]
STORE_NAME = "feedback.sqlite"
ADAPTERS_DIR = "adapters"
ADAPTER_CONFIG, ADAPTER_WEIGHTS = "adapter.json", "adapter.safetensors"
SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS corrections (
    id INTEGER PRIMARY KEY,
    user TEXT,                 -- who corrected (NULL: anonymous)
    label TEXT NOT NULL,       -- the corrected label's name
    created TEXT NOT NULL,     -- ISO time, UTC
    source TEXT NOT NULL,      -- api, csv, coach
    meta TEXT NOT NULL,        -- JSON: file, start, end, item id...
    modalities TEXT NOT NULL,  -- JSON list of the modalities stored
    fingerprints TEXT NOT NULL,-- JSON {modality: encoder fingerprint}: features of another encoder are not reused
    features BLOB NOT NULL);   -- safetensors: <m>.tokens [t, d], <m>.mask [t]
CREATE INDEX IF NOT EXISTS corrections_user ON corrections(user);
"""


class FeedbackStoreError(MMEmpathyError):
    """The feedback store file is unusable (not SQLite, not a feedback store, damaged); nothing was changed."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Correction:
    """One stored correction."""

    id: int
    user: str | None
    label: str
    created: str
    source: str
    meta: dict[str, Any]
    fingerprints: dict[str, str]
    encoded: Encoded


class FeedbackStore:
    """Corrections in one SQLite file (created when missing).

    Args:
        path: The ``.sqlite`` file.

    Raises:
        FeedbackStoreError: The file exists but is not a readable feedback store; it is left as it is.
            Later, any SQLite failure (a read-only file or folder, a locked database) is one too.

    A store that cannot be written (read-only) can still be read. A row that cannot be decoded is left
    out of :meth:`corrections`, with a warning naming it; ``damaged`` holds ``(id, reason)`` of the
    rows the last call left out.

    Example:
        >>> store = FeedbackStore(tmp_path / "feedback.sqlite")  # doctest: +SKIP
        >>> len(store)  # doctest: +SKIP
        0
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damaged: list[tuple[int, str]] = []
        if "\0" in str(self.path):
            raise FeedbackStoreError(f"a feedback store path cannot hold a NUL character: {str(self.path)!r}")
        if self.path.is_dir():
            raise FeedbackStoreError(f"{self.path} is a directory, not a feedback store file")
        self._check()
        if self._has_schema():  # nothing to write: a read-only store stays readable
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise FeedbackStoreError(f"cannot create the feedback store {self.path}: {err}") from err
        create_schema(self.connect, SCHEMA, SCHEMA_VERSION)

    def _has_schema(self) -> bool:
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return False
        with self.connect() as db:
            return db.execute("SELECT 1 FROM sqlite_master WHERE name='corrections'").fetchone() is not None

    def _check(self) -> None:
        check_store(
            self.path,
            self.connect,
            tables=("meta", "corrections"),
            version=SCHEMA_VERSION,
            what="feedback store",
            hint="it was left untouched; move it away or pass another store path",
            error=FeedbackStoreError,
        )

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one transaction: committed on success, rolled back on any error.

        SQLite's operational failures (a read-only file or folder, a locked or vanished database) come out
        as :class:`FeedbackStoreError`; nothing of the transaction is kept."""
        try:
            conn = sqlite3.connect(self.path, timeout=30)
        except sqlite3.OperationalError as err:
            raise FeedbackStoreError(f"cannot open the feedback store {self.path}: {err}") from err
        try:
            with conn:
                yield conn
        except sqlite3.OperationalError as err:
            hint = " (check the permissions of the file and of its folder)" if "readonly" in str(err) else ""
            raise FeedbackStoreError(f"feedback store {self.path}: {err}{hint}; nothing was changed") from err
        finally:
            conn.close()

    def add(self, records: Iterable[dict[str, Any]]) -> list[int]:
        """Store corrections in **one** transaction (all or none); returns their ids.

        Each record has ``encoded``, ``label``, ``fingerprints`` and optionally ``user``, ``source``, ``meta``.
        """
        rows = [
            (
                r.get("user"),
                r["label"],
                now(),
                r.get("source", "api"),
                json.dumps(r.get("meta") or {}, default=str),
                json.dumps([m.value for m in r["encoded"]]),
                json.dumps(r["fingerprints"]),
                pack(r["encoded"]),
            )
            for r in records
        ]
        ids = []
        with self.connect() as db:
            for row in rows:
                cur = db.execute(
                    "INSERT INTO corrections (user, label, created, source, meta, modalities, fingerprints, features)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
                ids.append(int(cur.lastrowid))
        return ids

    def corrections(self, user: str | None = None, *, everyone: bool = False) -> list[Correction]:
        """The stored corrections in the order given: ``user``'s (``None``: the anonymous ones), or ``everyone``'s."""
        query = "SELECT id, user, label, created, source, meta, fingerprints, features FROM corrections"
        args: tuple = ()
        if not everyone:
            query, args = (query + " WHERE user IS NULL", ()) if user is None else (query + " WHERE user = ?", (user,))
        with self.connect() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        out, self.damaged = [], []
        for row in rows:
            try:
                out.append(decode_row(row))
            except ValueError as err:
                self.damaged.append((int(row[0]), str(err)))
        if self.damaged:
            ids = ", ".join(str(i) for i, _ in self.damaged[:10]) + (" ..." if len(self.damaged) > 10 else "")
            log.warning(
                "feedback store %s: %d damaged row(s) left out (id %s): %s; remove them with "
                "FeedbackStore(path).delete(ids)", self.path, len(self.damaged), ids, self.damaged[0][1],
            )  # fmt: skip
        return out

    def users(self) -> list[str | None]:
        """Who has corrections stored."""
        with self.connect() as db:
            return [r[0] for r in db.execute("SELECT DISTINCT user FROM corrections ORDER BY user")]

    def delete(self, ids: Sequence[int]) -> int:
        """Remove corrections by id; returns how many went."""
        with self.connect() as db:
            return db.executemany("DELETE FROM corrections WHERE id = ?", [(int(i),) for i in ids]).rowcount

    def __len__(self) -> int:
        with self.connect() as db:
            return int(db.execute("SELECT COUNT(*) FROM corrections").fetchone()[0])


def decode_row(row: Sequence[Any]) -> Correction:
    """A :class:`Correction` from a ``corrections`` row; ``ValueError`` says what is damaged in it."""
    i, user, label, created, source, meta, fingerprints, blob = row
    if user is not None and not isinstance(user, str):
        raise ValueError(f"its user is {type(user).__name__}, not text")
    if not isinstance(label, str) or not label:
        raise ValueError(f"its label is {label!r}, not a label name")
    try:
        meta, fingerprints = json.loads(meta), json.loads(fingerprints)
    except (TypeError, ValueError) as err:
        raise ValueError(f"its meta or fingerprints are not JSON ({err})") from None
    if not isinstance(meta, dict) or not isinstance(fingerprints, dict):
        raise ValueError("its meta or fingerprints are not JSON objects")
    if not isinstance(blob, bytes):
        raise ValueError(f"its features are {type(blob).__name__}, not a safetensors blob")
    return Correction(int(i), user, label, str(created), str(source), meta, fingerprints, unpack(blob))


def pack(encoded: Encoded) -> bytes:
    """One item's encoder outputs as safetensors bytes."""
    tensors = {}
    for m, (tokens, mask) in encoded.items():
        tensors[f"{m.value}.tokens"] = tokens.detach().float().cpu().contiguous()
        tensors[f"{m.value}.mask"] = mask.detach().bool().cpu().contiguous()
    return save(tensors)


def unpack(blob: bytes) -> Encoded:
    """The inverse of :func:`pack`; ``ValueError`` if ``blob`` is not what :func:`pack` writes."""
    try:
        tensors = load(blob)
    except Exception as err:  # safetensors raises its own error types for a truncated or foreign blob
        raise ValueError(f"its features are not readable safetensors ({err})") from None
    out: Encoded = {}
    for key, tokens in tensors.items():
        name, _, part = key.rpartition(".")
        if part not in ("tokens", "mask") or name not in {m.value for m in Modality}:
            raise ValueError(f"its features hold an unknown tensor {key!r}")
        mask = tensors.get(f"{name}.mask")
        if part == "mask":
            continue
        if mask is None or tokens.ndim != 2 or mask.shape != tokens.shape[:1] or mask.dtype != torch.bool:
            raise ValueError(f"its {name} features are not [tokens, dim] with a boolean mask")
        out[Modality(name)] = (tokens, mask)
    if not out:
        raise ValueError("its features hold no modality")
    return out


# ---------------------------------------------------------------------------------------------- recording


def as_sample(item: Any) -> Sample:
    """A :class:`Sample` from a Sample, or a dict of ``predict``'s keyword arguments (``text``, ``audio``,
    ``sample_rate``, ``faces``, ``features``)."""
    if isinstance(item, Sample):
        return item
    if isinstance(item, dict) and not any(isinstance(k, Modality) for k in item):
        unknown = sorted(set(item) - {"text", "audio", "sample_rate", "faces", "features", "meta"})
        if unknown:
            raise InputError(f"unknown item fields {unknown}; use text, audio, sample_rate, faces, features")
        return Sample(**item)
    raise InputError(f"a correction's item must be a Sample or a dict of inputs, not {type(item).__name__}")


def label_name(fuser: Any, label: str | int) -> str:
    """The label's name in the model's label set; raises InputError for anything else."""
    labels = list(fuser.labels)
    if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
        if not 0 <= int(label) < len(labels):
            raise InputError(f"label index {label} is outside 0..{len(labels) - 1}")
        return labels[int(label)]
    if isinstance(label, str) and label.strip().lower() in labels:
        return label.strip().lower()
    raise InputError(f"unknown label {label!r}; this model's labels are: {', '.join(labels)}")


class Fingerprints:
    """Encoder fingerprints of a model, computed once (hashing every weight takes a moment)."""

    _cache: dict[int, tuple[Any, dict[str, str]]] = {}

    @classmethod
    def of(cls, fuser: Any) -> dict[str, str]:
        from mmempathy.train.cache import encoder_fingerprint

        held = cls._cache.get(id(fuser))
        if held is None or held[0] is not fuser:
            held = (fuser, {m.value: encoder_fingerprint(fuser, m) for m in fuser.modalities})
            cls._cache[id(fuser)] = held
        return held[1]


@torch.no_grad()
def encode_samples(fuser: Any, samples: Sequence[Sample], *, batch_size: int = 16) -> list[Encoded]:
    """Each sample's encoder outputs, cut after its last valid token (what the store and the cache keep)."""
    was_training = fuser.training
    fuser.eval()
    out: list[Encoded] = []
    for start in range(0, len(samples), batch_size):
        chunk = list(samples[start : start + batch_size])
        for s in chunk:
            if not [m for m in s.present() if m in fuser.modalities]:
                raise InputError(
                    f"an item has none of the model's modalities ({', '.join(m.value for m in fuser.modalities)})"
                )
        batch = fuser.processor.collate(chunk)
        batch = {m: {k: v.to(fuser.device) for k, v in t.items()} for m, t in batch.items()}
        encoded = fuser.encode(batch)
        for i in range(len(chunk)):
            item = {}
            for m, (tokens, mask) in encoded.items():
                if mask[i].any():
                    end = int(mask[i].nonzero().max()) + 1
                    item[m] = (tokens[i, :end].float().cpu(), mask[i, :end].cpu())
            if not item:
                raise InputError(f"an item gave no usable input for any modality (meta={chunk[i].meta})")
            out.append(item)
    fuser.train(was_training)
    return out


def default_directory(fuser: Any) -> Path:
    """Where a model's feedback store and adapters live: ``$MMEMPATHY_FEEDBACK_DIR``, else
    ``<checkpoint>/adapters`` for a model loaded from a directory, else (a packaged preset such as
    ``lite``, or a model built in code) a folder under ``~/.cache/mmempathy/feedback``."""
    if os.environ.get("MMEMPATHY_FEEDBACK_DIR"):
        return Path(os.environ["MMEMPATHY_FEEDBACK_DIR"])
    checkpoint = getattr(fuser, "checkpoint_dir", None)
    package = Path(__file__).resolve().parent
    if checkpoint is not None and package not in Path(checkpoint).resolve().parents:
        return Path(checkpoint) / ADAPTERS_DIR
    if checkpoint is not None:  # a packaged preset: never write inside the installed package
        return Path.home() / ".cache" / "mmempathy" / "feedback" / Path(checkpoint).name
    digest = hashlib.sha256(json.dumps(fuser.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()
    return Path.home() / ".cache" / "mmempathy" / "feedback" / digest[:16]


def open_store(fuser: Any, store: str | Path | FeedbackStore | None) -> FeedbackStore:
    if isinstance(store, FeedbackStore):
        return store
    return FeedbackStore(Path(store) if store is not None else default_directory(fuser) / STORE_NAME)


def record(
    fuser: Any,
    items: Sequence[Any],
    labels: Sequence[str | int],
    *,
    user: str | None = None,
    store: str | Path | FeedbackStore | None = None,
    source: str = "api",
    metas: Sequence[dict[str, Any]] | None = None,
) -> list[int]:
    """Check, encode and store corrections, all or none (see :meth:`EmotionFuser.feedback`)."""
    if len(items) != len(labels):
        raise InputError(f"{len(items)} items but {len(labels)} labels")
    if user is not None and (not isinstance(user, str) or not user.isprintable()):
        raise InputError(f"user must be a name without control characters or lone surrogates, not {user!r}")
    names = [label_name(fuser, lab) for lab in labels]  # every label is checked before anything is encoded
    samples = [as_sample(it) for it in items]
    encoded = encode_samples(fuser, samples)
    fingerprints = Fingerprints.of(fuser)
    metas = metas or [s.meta for s in samples]
    db = open_store(fuser, store)
    return db.add(
        {
            "encoded": enc,
            "label": name,
            "user": user,
            "source": source,
            "meta": meta,
            "fingerprints": {m.value: fingerprints[m.value] for m in enc},
        }
        for enc, name, meta in zip(encoded, names, metas)
    )


def read_segments_csv(path: str | Path, *, model_modalities: Iterable[str] | None = None) -> list[tuple[Sample, str]]:
    """Corrected timeline segments from a CSV with columns ``source, start, end, label`` (seconds), each
    segment re-read from its media file through :func:`mmempathy.media.pipeline.iter_samples` (the
    segment's text, if any, comes from an optional ``text`` column; speech is not transcribed)."""
    from mmempathy.media.pipeline import VideoConfig, iter_samples
    from mmempathy.media.subtitles import Cue

    path = Path(path)
    if "\0" in str(path) or not path.is_file():
        raise InputError(f"segments CSV not found: {path}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            missing = {"source", "start", "end", "label"} - set(reader.fieldnames or [])
            if missing:
                raise InputError(f"{path} lacks the columns {sorted(missing)} (need source, start, end, label)")
            rows = [(reader.line_num, row) for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:  # a binary file, a NUL byte
        raise InputError(f"{path} is not a UTF-8 CSV text file ({err})") from None
    by_source: dict[str, list[tuple[Cue, str]]] = {}
    for line, row in rows:
        if None in row or None in row.values():  # DictReader's marks of a row longer or shorter than the header
            got = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise InputError(f"{path}:{line}: has {got} fields where the header has {len(reader.fieldnames)}")
        if not row["source"].strip() or "\0" in row["source"]:
            raise InputError(f"{path}:{line}: source must name a media file, got {row['source']!r}")
        try:
            start, end = float(row["start"]), float(row["end"])
        except (TypeError, ValueError):
            raise InputError(
                f"{path}:{line}: start and end must be seconds, got {row['start']!r}, {row['end']!r}"
            ) from None
        if not 0 <= start < end:
            raise InputError(f"{path}:{line}: need 0 <= start < end, got {start}, {end}")
        source = Path(row["source"])
        if not source.is_absolute():
            source = path.parent / source
        by_source.setdefault(str(source), []).append((Cue(start, end, (row.get("text") or "").strip()), row["label"]))
    out: list[tuple[Sample, str]] = []
    config = VideoConfig(segment_by="subtitles", asr="off", vad=False, min_segment=0.0)  # read as labelled
    for source, cues in by_source.items():
        cues = sorted(cues, key=lambda c: c[0].start)
        samples = list(iter_samples(source, subtitles=[c for c, _ in cues], config=config, modalities=model_modalities))
        for sample in samples:  # match each read segment to its row by its times
            cue, label = min(
                cues, key=lambda c: abs(c[0].start - sample.meta["start"]) + abs(c[0].end - sample.meta["end"])
            )
            if not cue.text:
                sample.text = None
            sample.meta.update(file=source)
            out.append((sample, label))
    return out


def record_segments_csv(
    fuser: Any, path: str | Path, *, user: str | None = None, store: str | Path | FeedbackStore | None = None
) -> list[int]:
    """Store the corrections of a segments CSV (see :func:`read_segments_csv`); all or none."""
    pairs = read_segments_csv(path, model_modalities=[m.value for m in fuser.modalities])
    for _, label in pairs:
        label_name(fuser, label)
    if not pairs:
        raise InputError(f"{path} gave no segments")
    return record(
        fuser,
        [s for s, _ in pairs],
        [lab for _, lab in pairs],
        user=user,
        store=store,
        source="csv",
        metas=[{k: s.meta.get(k) for k in ("file", "start", "end")} for s, _ in pairs],
    )


@dataclass
class CoachImport:
    """What :func:`import_coach` did: the ids stored, and how many answers were skipped for each reason."""

    ids: list[int]
    skipped: dict[str, int]

    def __str__(self) -> str:
        text = f"imported {len(self.ids)} coach answer(s)"
        return text + (f"; skipped {counts_text(self.skipped)}" if self.skipped else "")


class SkippedAnswer(InputError):
    """A coach answer that cannot become a correction; the message is the reason (counted, not raised)."""


def counts_text(counts: dict[str, int]) -> str:
    """``{"already imported": 2, ...}`` as ``"2 already imported, ..."``."""
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def import_coach(
    fuser: Any,
    coach_db: str | Path,
    library: Any,
    *,
    store: str | Path | FeedbackStore | None = None,
    use: str = "answer",
    people: Sequence[str] | None = None,
) -> CoachImport:
    """Copy the coach's answers into the feedback store, one correction per answer, user = the person.

    Args:
        coach_db: The coach's SQLite file (:class:`mmempathy.coach.db.Database`).
        library: The coach's :class:`~mmempathy.coach.items.Library` (to find each item's media).
        use: ``"answer"`` (what the person perceived: personalises the model to them) or ``"truth"``
            (the item's source label).
        people: Only these people's answers (default: everyone's).

    Returns:
        The ids stored and, per reason, how many answers were skipped: already imported (same person,
        item and time), the item no longer in the library, an answer on a whole clip (only timed
        segments of a video are read), missing or unreadable media, a label the model lacks, nothing
        the model reads.
    """
    from mmempathy.coach.db import Database

    if use not in ("answer", "truth"):
        raise InputError(f"use must be 'answer' or 'truth', not {use!r}")
    if not Path(coach_db).is_file():  # the coach's Database would create an empty one
        raise InputError(f"coach database not found: {coach_db}")
    db = open_store(fuser, store)
    done = {
        (c.user, c.meta.get("item_id"), c.meta.get("answered"))
        for c in db.corrections(everyone=True)
        if c.source == "coach"
    }
    with Database(coach_db).connect() as conn:
        rows = conn.execute(
            "SELECT p.name AS person, a.item_id, a.truth, a.answer, a.answered FROM answers a"
            " JOIN people p ON p.id = a.person_id ORDER BY a.id"
        ).fetchall()
    result = CoachImport([], {})
    for row in rows:
        if people is not None and row["person"] not in people:
            continue
        try:
            if (row["person"], row["item_id"], row["answered"]) in done:
                raise SkippedAnswer("already imported")
            sample = coach_answer_sample(fuser, library, row[use], row["item_id"])
            meta = {"item_id": row["item_id"], "answered": row["answered"], "truth": row["truth"]}
            try:
                stored = record(fuser, [sample], [row[use]], user=row["person"], store=db, source="coach", metas=[meta])
            except InputError as err:  # the encoders found nothing usable in it (silence, an empty frame)
                raise SkippedAnswer("whose inputs gave the model nothing to read") from err
            result.ids += stored
        except SkippedAnswer as why:
            result.skipped[str(why)] = result.skipped.get(str(why), 0) + 1
    return result


def coach_answer_sample(fuser: Any, library: Any, label: Any, item_id: str) -> Sample:
    """The sample a coach answer corrects, checked as :func:`record` would; :class:`SkippedAnswer` if none."""
    try:
        label_name(fuser, label)
    except InputError:
        raise SkippedAnswer("with a label this model lacks") from None
    item = library.items.get(item_id)
    if item is None:
        raise SkippedAnswer("on items no longer in the coach's library")
    sample = coach_sample(item)
    if not [m for m in sample.present() if m in fuser.modalities]:
        raise SkippedAnswer("on items with none of this model's modalities")
    return sample


def coach_sample(item: Any) -> Sample:
    """The inputs of a coach item (text, a voice or face file, a video segment).

    Raises:
        SkippedAnswer: The item has none (a text item without text, a whole clip, missing or unreadable
            media); the message says which.
    """
    if item.kind == "text":
        if not item.text:
            raise SkippedAnswer("on text items without text")
        return Sample(text=item.text.split(": ", 1)[-1])
    if item.kind == "video" and (item.start is None or item.end is None):
        raise SkippedAnswer("on whole clips (only timed segments of a video are read)")
    if item.path is None or not Path(item.path).is_file():
        raise SkippedAnswer("whose media file is missing")
    try:
        return _read_coach_media(item)
    except (OSError, RuntimeError, ValueError) as err:  # soundfile's and the decoder's errors; InputError too
        raise SkippedAnswer("whose media cannot be read") from err


def _read_coach_media(item: Any) -> Sample:
    if item.kind == "face":
        import cv2

        image = cv2.imread(str(item.path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise InputError(f"not an image: {item.path}")
        return Sample(faces=image)
    if item.kind == "voice":
        import soundfile as sf

        wave, rate = sf.read(str(item.path), dtype="float32", always_2d=True)
        return Sample(text=item.text, audio=wave.mean(axis=1), sample_rate=rate)
    from mmempathy.media.pipeline import VideoConfig, iter_samples
    from mmempathy.media.subtitles import Cue

    cue = Cue(float(item.start), float(item.end), item.text or "")
    got = list(
        iter_samples(item.path, subtitles=[cue], config=VideoConfig(segment_by="subtitles", asr="off", vad=False))
    )
    if not got:
        raise InputError(f"no segment read from {item.path}")
    return got[0]


# ---------------------------------------------------------------------------------------------- adapters


@dataclass
class AdaptSettings:
    """How an adapter is trained."""

    kind: str = "calibration"  # "calibration" (per-user head on the fused logits) or "lora" (fusion and heads)
    rank: int = 4  # LoRA rank
    alpha: float = 8.0  # LoRA scaling numerator
    steps: int = 150  # optimiser steps
    lr: float = 0.0  # learning rate (0: 0.05 for calibration, 0.002 for lora)
    batch_size: int = 16  # corrections per step (all of them when fewer)
    replay_ratio: float = 2.0  # replay items per correction in each step
    replay_weight: float = 1.0  # weight of the replay items' cross-entropy (their true labels)
    # the base model's own predictions on replay items are worth this many corrections (anchor and
    # distill_temperature chosen on RAVDESS dev actors 17-18 by benchmarks/feedback.py --select)
    anchor: float = 200.0
    distill_temperature: float = 2.0  # softening of the anchor's distributions (Hinton et al. 2015)
    weight_decay: float = 1e-3  # pulls the adapter back towards "no change"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("calibration", "lora"):
            raise InputError(f"adapter kind must be 'calibration' or 'lora', not {self.kind!r}")
        if self.steps < 1 or self.batch_size < 1 or self.rank < 1:
            raise InputError("steps, batch_size and rank must be at least 1")
        if min(self.replay_ratio, self.replay_weight, self.anchor) < 0:
            raise InputError("replay_ratio, replay_weight and anchor must not be negative")
        if self.distill_temperature <= 0:
            raise InputError("distill_temperature must be positive")


class CalibrationHead(nn.Module):
    """``z -> z (I + A) + b`` on the fused logits; starts as the identity."""

    def __init__(self, classes: int) -> None:
        super().__init__()
        self.matrix = nn.Parameter(torch.zeros(classes, classes))
        self.bias = nn.Parameter(torch.zeros(classes))

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits + logits @ self.matrix + self.bias


def lora_container(fuser: Any) -> nn.ModuleDict:
    """The fuser's fusion and heads in one container (the same module objects, not copies)."""
    return nn.ModuleDict({"fusion": fuser.fusion, "head": fuser.head, "heads": fuser.heads})


def lora_targets(container: nn.Module) -> list[str]:
    return [n for n, m in container.named_modules() if isinstance(m, nn.Linear)]


class Adapter:
    """A trained correction of one model; attach it with ``fuser.use_adapter(adapter)``.

    Attributes:
        settings: How it was trained.
        labels: The label set it was trained for.
        info: Who, how many corrections, when, and the base model's fingerprint.
        head: The calibration head (``kind="calibration"``).
        lora_state: The LoRA tensors (``kind="lora"``), keyed as in the fusion/heads container.
    """

    def __init__(self, settings: AdaptSettings, labels: Sequence[str], info: dict[str, Any] | None = None) -> None:
        self.settings, self.labels, self.info = settings, tuple(labels), dict(info or {})
        self.head = CalibrationHead(len(labels)) if settings.kind == "calibration" else None
        self.lora_state: dict[str, torch.Tensor] = {}
        self._attached: Any = None
        self._grad_flags: dict[str, bool] = {}

    # -- attaching: only LoRA touches the fuser's modules, and detaching puts the very same modules back
    def attach(self, fuser: Any) -> None:
        if tuple(fuser.labels) != self.labels:
            raise CheckpointError(f"adapter was trained for labels {self.labels}, the model has {tuple(fuser.labels)}")
        if self.settings.kind == "lora":
            from peft import LoraConfig, inject_adapter_in_model

            container = lora_container(fuser)
            self._grad_flags = {n: p.requires_grad for n, p in fuser.named_parameters()}
            config = LoraConfig(
                r=self.settings.rank, lora_alpha=self.settings.alpha, target_modules=lora_targets(container)
            )
            inject_adapter_in_model(config, container)
            if self.lora_state:
                own = {k for k in container.state_dict() if "lora_" in k}
                if own != set(self.lora_state):
                    self._detach_lora(fuser)
                    raise CheckpointError("adapter LoRA tensors do not match this model's fusion and heads")
                container.load_state_dict({k: v.to(fuser.device) for k, v in self.lora_state.items()}, strict=False)
            container.to(fuser.device)
        elif self.head is not None:
            self.head.to(fuser.device)
        self._attached = fuser

    def _detach_lora(self, fuser: Any) -> None:
        from peft.tuners.lora import LoraLayer

        container = lora_container(fuser)
        wrapped = [(n, m) for n, m in container.named_modules() if isinstance(m, LoraLayer)]
        for name, module in wrapped:
            parent_name, _, leaf = name.rpartition(".")
            parent = container.get_submodule(parent_name) if parent_name else container
            setattr(parent, leaf, module.get_base_layer())
        for n, p in fuser.named_parameters():
            p.requires_grad_(self._grad_flags.get(n, p.requires_grad))

    def detach(self, fuser: Any) -> None:
        if self.settings.kind == "lora" and self._attached is fuser:
            self.lora_state = {
                k: v.detach().cpu().clone() for k, v in lora_container(fuser).state_dict().items() if "lora_" in k
            }
            self._detach_lora(fuser)
        self._attached = None

    def parameters(self, fuser: Any) -> list[nn.Parameter]:
        if self.head is not None:
            return list(self.head.parameters())
        return [p for n, p in lora_container(fuser).named_parameters() if "lora_" in n]

    def apply(self, fuser: Any, out: FuserOutput) -> FuserOutput:
        """What ``fuse`` returns with the adapter on (the calibration head; LoRA already acted inside)."""
        if self.head is None or fuser.config.task != "classification":
            return out
        logits = self.head(out.logits.float())
        return dataclasses.replace(out, logits=logits, probs=(logits / fuser.temperatures[0]).softmax(-1))

    # -- files
    def save(self, directory: str | Path, fuser: Any | None = None) -> Path:
        """Write ``adapter.json`` and ``adapter.safetensors`` into ``directory`` (replaced atomically).

        ``directory`` is the adapter's own folder: the swap replaces it whole, so a folder that holds
        anything else is refused (:func:`check_adapter_directory`), never emptied.
        """
        directory = Path(directory).resolve()  # "." or "x/..": the swap needs the folder's real name
        check_adapter_directory(directory)
        if fuser is not None and self._attached is fuser and self.settings.kind == "lora":
            self.lora_state = {
                k: v.detach().cpu().clone() for k, v in lora_container(fuser).state_dict().items() if "lora_" in k
            }
        tensors = (
            {k: v.detach().cpu().contiguous() for k, v in self.head.state_dict().items()}
            if self.head is not None
            else {k: v.contiguous() for k, v in self.lora_state.items()}
        )
        meta = {
            "format": "mmempathy-adapter",
            "settings": dataclasses.asdict(self.settings),
            "labels": list(self.labels),
            "info": self.info,
        }
        try:
            directory.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        except OSError as err:
            raise CheckpointError(f"cannot write adapter {directory}: {err}") from err
        try:
            save_file(tensors, str(tmp / ADAPTER_WEIGHTS), metadata={"format": "pt"})
            (tmp / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=2))
            if directory.exists():  # swap: the old adapter stays whole until the new one is complete
                old = directory.with_name(f".{directory.name}-old")
                remove_adapter_files(old, folder=True)  # what an interrupted swap left
                directory.rename(old)
                tmp.rename(directory)
                remove_adapter_files(old, folder=True)
            else:
                tmp.rename(directory)
        except OSError as err:
            raise CheckpointError(f"cannot write adapter {directory}: {err}") from err
        finally:
            remove_adapter_files(tmp, folder=True)  # gone already unless something failed
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Adapter:
        """Read an adapter directory written by :meth:`save`."""
        directory = Path(directory)
        config, weights = directory / ADAPTER_CONFIG, directory / ADAPTER_WEIGHTS
        if not config.is_file() or not weights.is_file():
            raise CheckpointError(
                f"{directory} is not an adapter directory (needs {ADAPTER_CONFIG}, {ADAPTER_WEIGHTS})"
            )
        meta = read_adapter_meta(directory)
        try:
            tensors = load_file(str(weights))
        except Exception as err:  # a broken safetensors file: one clear message
            raise CheckpointError(f"cannot read adapter {directory}: {err}") from err
        try:
            settings = coerce(AdaptSettings, meta["settings"])
        except (MMEmpathyError, ValueError) as err:  # AdaptSettings' own checks raise InputError
            raise CheckpointError(f"{config}: {err}") from err
        adapter = cls(settings, meta["labels"], meta.get("info"))
        if adapter.head is not None:
            try:
                adapter.head.load_state_dict(tensors)
            except RuntimeError as err:
                raise CheckpointError(f"adapter {directory} tensors do not fit its labels: {err}") from err
        else:
            adapter.lora_state = tensors
        return adapter


def adapter_path(fuser: Any, name: str, directory: str | Path | None = None) -> Path:
    """Where adapter ``name`` lives: ``directory``, else ``<default directory>/<name>``."""
    if not isinstance(name, str) or not name or any(c in name for c in "/\\") or name.startswith("."):
        raise InputError(f"adapter name must be a plain folder name, not {name!r}")
    if not name.isprintable():  # a NUL cannot be in a path; other control characters hide in listings
        raise InputError(f"adapter name cannot hold control characters: {name!r}")
    if directory is not None and "\0" in str(directory):
        raise InputError(f"an adapter directory cannot hold a NUL character: {str(directory)!r}")
    return Path(directory) if directory is not None else default_directory(fuser) / name


def read_adapter_meta(directory: str | Path) -> dict[str, Any]:
    """An adapter's ``adapter.json``, checked: ``format``, ``settings`` (a mapping), ``labels`` (names)
    and ``info`` (a mapping). Raises :class:`CheckpointError` naming the file otherwise."""
    config = Path(directory) / ADAPTER_CONFIG
    try:
        meta = json.loads(config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # ValueError: bad JSON or bytes that are not UTF-8
        raise CheckpointError(f"cannot read adapter file {config}: {err}") from err
    if not isinstance(meta, dict) or meta.get("format") != "mmempathy-adapter":
        raise CheckpointError(f"{config} is not an mmempathy adapter")
    labels = meta.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        raise CheckpointError(f"{config} is damaged: 'labels' must be a list of label names")
    if not isinstance(meta.get("settings"), dict) or not isinstance(meta.setdefault("info", {}), dict):
        raise CheckpointError(f"{config} is damaged: 'settings' and 'info' must be mappings")
    return meta


def check_adapter_directory(directory: str | Path) -> None:
    """Refuse to save an adapter into a folder that holds anything but an adapter's files (saving replaces
    the folder whole), or into a path that is a file."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"cannot save an adapter to {directory}: it is a file, not a folder")
    if directory.is_dir():
        others = sorted(p.name for p in directory.iterdir() if p.name not in (ADAPTER_CONFIG, ADAPTER_WEIGHTS))
        if others:
            shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
            raise InputError(
                f"cannot save an adapter to {directory}: it holds other files ({shown}); an adapter is saved "
                "in a folder of its own, so give a new or empty --directory"
            )


def remove_adapter_files(directory: Path, *, folder: bool) -> list[Path]:
    """Unlink the files an adapter consists of (by name, nothing else), then, with ``folder``, the folder
    itself if that left it empty; returns what was removed."""
    removed = []
    for name in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        path = directory / name
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    if folder and directory.is_dir() and not any(directory.iterdir()):
        directory.rmdir()
        removed.append(directory)
    return removed


def delete_adapter(fuser: Any, name: str, directory: str | Path | None = None) -> list[Path]:
    """Remove adapter ``name``'s files (switching it off first if it is on); returns what was removed.

    Only what the project wrote goes: ``adapter.json`` and ``adapter.safetensors``, by name, after
    ``adapter.json`` was read and names the adapter ``name`` (or, without a name inside, the folder is
    called ``name``). Under the default directory the emptied ``adapters/<name>`` folder goes too; a
    ``directory`` given keeps the folder and anything else in it.

    Raises:
        CheckpointError: No adapter there, its ``adapter.json`` is unreadable, or it is another adapter;
            nothing was deleted.
    """
    path = adapter_path(fuser, name, directory)
    if not (path / ADAPTER_CONFIG).is_file():
        raise CheckpointError(f"no adapter {name!r} at {path}")
    try:
        meta = read_adapter_meta(path)
    except CheckpointError as err:
        raise CheckpointError(f"{err}; nothing was deleted") from err
    found = meta["info"].get("name") or Path(path).resolve().name
    if found != name:
        raise CheckpointError(f"{path} holds adapter {found!r}, not {name!r}; nothing was deleted")
    if getattr(fuser, "adapter", None) is not None and fuser.adapter.info.get("name") == name:
        fuser.use_adapter(None)
    try:
        return remove_adapter_files(Path(path), folder=directory is None)
    except OSError as err:
        raise CheckpointError(f"cannot delete adapter {name!r} at {path}: {err}") from err


# ---------------------------------------------------------------------------------------------- training


ReplayItem = tuple[Encoded, int]


def replay_items(fuser: Any, replay: Any) -> list[ReplayItem]:
    """Replay data as ``(encoded, label index)``: from a feature-cache dataset (or any sequence of such
    pairs) or from labelled :class:`Sample` s (encoded here)."""
    if replay is None:
        return []
    items = list(replay)
    if items and isinstance(items[0], Sample):
        labelled = [s for s in items if s.label is not None]
        return list(zip(encode_samples(fuser, labelled), [int(s.label) for s in labelled]))
    return [(enc, int(lab)) for enc, lab in items]


def collate(items: Sequence[ReplayItem], device: torch.device) -> tuple[Encoded, torch.Tensor]:
    from mmempathy.train.cache import collate_cached

    encoded, labels = collate_cached(items)
    return {m: (t.to(device), k.to(device)) for m, (t, k) in encoded.items()}, labels.to(device)


@torch.no_grad()
def base_logits(fuser: Any, items: Sequence[ReplayItem], batch_size: int = 64) -> torch.Tensor:
    """The model's fused logits (no adapter) for encoded items."""
    held = fuser.adapter
    fuser.use_adapter(None)
    try:
        parts = [
            fuser.fuse(collate(items[i : i + batch_size], fuser.device)[0]).logits.float()
            for i in range(0, len(items), batch_size)
        ]
    finally:
        fuser.use_adapter(held)
    return torch.cat(parts) if parts else torch.zeros(0, len(fuser.labels))


Outputs = dict[str, tuple[torch.Tensor, torch.Tensor]]


def anchored(fuser: Any, out: FuserOutput) -> Outputs:
    """What the anchor holds in place in one output: ``{"fused": (calibrated logits, all items)}`` and,
    for each modality head, ``(its log-probabilities, the items that have that modality)``. Late fusion
    mixes the heads without a gradient into them (:func:`lora_loss` trains each on its own), so a
    LoRA adapter's heads need their own anchor; the calibration head only changes the fused logits."""
    parts = {"fused": (out.logits.float() / fuser.temperatures[0].float(), torch.ones_like(out.present[:, 0]))}
    for m, probs in out.modality_probs.items():
        parts[m.value] = (probs.float().clamp_min(1e-12).log(), out.present[:, out.modalities.index(m)])
    return parts


@torch.no_grad()
def base_outputs(fuser: Any, items: Sequence[ReplayItem], batch_size: int = 64) -> Outputs:
    """:func:`anchored` outputs of the model without its adapter, for every item (absent rows: mask off)."""
    held = fuser.adapter
    fuser.use_adapter(None)
    parts: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {"fused": []}
    try:
        for i in range(0, len(items), batch_size):
            chunk = anchored(fuser, fuser.fuse(collate(items[i : i + batch_size], fuser.device)[0]))
            n = len(chunk["fused"][0])
            for m in ["fused", *(m.value for m in fuser.modalities)]:
                values, mask = chunk.get(m, (torch.zeros(n, len(fuser.labels)), torch.zeros(n, dtype=torch.bool)))
                parts.setdefault(m, []).append((values.to(fuser.device), mask.to(fuser.device)))
    finally:
        fuser.use_adapter(held)
    if not items:
        return {"fused": (torch.zeros(0, len(fuser.labels)), torch.zeros(0, dtype=torch.bool))}
    return {m: (torch.cat([v for v, _ in p]), torch.cat([k for _, k in p])) for m, p in parts.items()}


def lora_loss(fuser: Any, items: Sequence[ReplayItem]) -> tuple[torch.Tensor, FuserOutput]:
    """Cross-entropy of the fused output plus that of each modality's own calibrated head: late fusion
    mixes the heads' outputs without a gradient into them, so the heads learn from their own loss (as
    in training). Returns the loss and the output (what the anchor compares)."""
    encoded, labels = collate(items, fuser.device)
    out = fuser.fuse(encoded)
    loss = F.cross_entropy(out.logits.float() / fuser.temperatures[0], labels)
    for m, probs in out.modality_probs.items():
        keep = out.present[:, out.modalities.index(m)]
        if keep.any():
            loss = loss + F.nll_loss(probs[keep].clamp_min(1e-12).log(), labels[keep])
    return loss, out


def anchor_loss(logits: torch.Tensor, base: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T^2 KL(p_base || p_adapted)`` at softening ``T``, mean over items: how far the adapted model's
    predictions moved from the base model's. ``T^2`` keeps its gradients' scale independent of ``T``
    (Hinton et al. 2015, "Distilling the knowledge in a neural network"). ``logits`` and ``base`` are
    calibrated logits or log-probabilities."""
    if not len(logits):
        return logits.sum() * 0.0
    return F.kl_div(
        F.log_softmax(logits / temperature, -1),
        F.log_softmax(base / temperature, -1),
        log_target=True,
        reduction="batchmean",
    ) * (temperature**2)


def anchor_term(adapted: Outputs, base: Outputs, rows: torch.Tensor, temperature: float) -> torch.Tensor:
    """The sum of :func:`anchor_loss` over every output ``adapted`` has, on the replay ``rows`` that have it."""
    total = torch.zeros((), device=adapted["fused"][0].device)
    for key, (values, mask) in adapted.items():
        base_values, base_mask = base[key][0][rows], base[key][1][rows]
        keep = mask & base_mask
        total = total + anchor_loss(values[keep], base_values[keep], temperature)
    return total


def train_adapter(
    fuser: Any,
    corrections: Sequence[ReplayItem],
    replay: Sequence[ReplayItem] = (),
    settings: AdaptSettings | dict[str, Any] | None = None,
    *,
    info: dict[str, Any] | None = None,
) -> Adapter:
    """Train an adapter on ``corrections`` mixed with ``replay``; returns it attached to ``fuser``.

    Each step draws ``batch_size`` corrections and ``replay_ratio`` times as many replay items. The
    loss, for ``k`` corrections::

        CE(corrections) + replay_weight * CE(replay) + (anchor / k) * T^2 KL(base || adapted on replay)
            + weight_decay * |adapter|^2

    The third term is a prior that the adapted model agrees with the base model away from the user's
    corrections (:func:`anchor_term`: distillation from the base model's own predictions on the replay
    items, computed once; for LoRA also each modality head's). Its strength is ``anchor``
    corrections' worth: the corrections' cross-entropy is a mean, so ``k`` corrections weigh
    ``k : anchor`` against it, a handful moves the model little and it gives way as they accumulate.
    The base model stays in eval mode and frozen; only the adapter's numbers change.
    """
    settings = coerce(AdaptSettings, settings or {})
    if not corrections:
        raise InputError("no corrections to adapt on")
    adapter = Adapter(settings, fuser.labels, info)
    fuser.use_adapter(None)
    gen = torch.Generator().manual_seed(settings.seed)
    was_training = fuser.training
    fuser.eval()
    lr = settings.lr or (0.05 if settings.kind == "calibration" else 2e-3)
    temperature = fuser.temperatures[0].float()
    repl_base = base_outputs(fuser, replay)  # the anchor's targets
    if settings.kind == "calibration":  # the head reads only the fused logits: compute them once
        corr_z, repl_z = base_logits(fuser, corrections), base_logits(fuser, replay)
    fuser.use_adapter(adapter)
    params = adapter.parameters(fuser)
    optimiser = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    corr_y = torch.tensor([y for _, y in corrections], dtype=torch.long, device=fuser.device)
    repl_y = torch.tensor([y for _, y in replay], dtype=torch.long, device=fuser.device)
    n_corr = min(settings.batch_size, len(corrections))
    n_repl = min(len(replay), int(round(settings.replay_ratio * n_corr)))
    anchor = settings.anchor / len(corrections)
    with torch.enable_grad():
        for _ in range(settings.steps):
            ci = torch.randperm(len(corrections), generator=gen)[:n_corr]
            ri = torch.randperm(len(replay), generator=gen)[:n_repl] if n_repl else None
            if settings.kind == "calibration":
                loss = F.cross_entropy(adapter.head(corr_z[ci]) / temperature, corr_y[ci])
                if ri is not None:
                    repl_logits = adapter.head(repl_z[ri]) / temperature
                    loss = loss + settings.replay_weight * F.cross_entropy(repl_logits, repl_y[ri])
                    adapted = {"fused": (repl_logits, torch.ones_like(ri, dtype=torch.bool))}
            else:
                loss = lora_loss(fuser, [corrections[i] for i in ci])[0]
                if ri is not None:
                    repl_loss, out = lora_loss(fuser, [replay[i] for i in ri])
                    loss = loss + settings.replay_weight * repl_loss
                    adapted = anchored(fuser, out)
            if ri is not None and anchor > 0:
                loss = loss + anchor * anchor_term(adapted, repl_base, ri, settings.distill_temperature)
            loss = loss + settings.weight_decay * sum((p.float() ** 2).sum() for p in params)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
    fuser.train(was_training)
    return adapter


def adapt(
    fuser: Any,
    *,
    user: str | None = None,
    store: str | Path | FeedbackStore | None = None,
    replay: Any = None,
    settings: AdaptSettings | dict[str, Any] | None = None,
    name: str | None = None,
    directory: str | Path | None = None,
    save: bool = True,
) -> Adapter:
    """Train an adapter on ``user``'s stored corrections (see :meth:`EmotionFuser.adapt`)."""
    settings = coerce(AdaptSettings, settings or {})
    name = name or (user or "default")
    target = adapter_path(fuser, name, directory)
    if save:
        check_adapter_directory(target)  # before training: a folder it may not replace is refused first
    db = open_store(fuser, store)
    usable, skipped = usable_corrections(fuser, db.corrections(user))
    if db.damaged:
        skipped["damaged"] = len(db.damaged)
    why = counts_text(skipped)
    if not usable:
        raise InputError(f"no usable corrections for user {user!r} in {db.path}" + (f" ({why})" if why else ""))
    if skipped:
        log.warning("adapting on %d correction(s) of %r; left out: %s", len(usable), user, why)
    index = {lab: i for i, lab in enumerate(fuser.labels)}
    corrections = [({m: v for m, v in c.encoded.items() if m in fuser.modalities}, index[c.label]) for c in usable]
    info = {
        "name": name,
        "user": user,
        "corrections": len(corrections),
        "skipped": skipped,
        "created": now(),
        "store": str(db.path),
        "replay": 0,
    }
    items = replay_items(fuser, replay)
    info["replay"] = len(items)
    adapter = train_adapter(fuser, corrections, items, settings, info=info)
    if save:
        adapter.save(target, fuser)
    return adapter


def usable_corrections(fuser: Any, rows: Sequence[Correction]) -> tuple[list[Correction], dict[str, int]]:
    """The corrections this model can learn from, and how many were left out for each reason."""
    fingerprints = Fingerprints.of(fuser)
    widths = {m: getattr(fuser.encoders[m.value], "output_dim", None) for m in fuser.modalities}
    usable, skipped = [], {}
    for c in rows:
        if c.label not in fuser.labels:
            reason = "with a label this model lacks"
        elif not all(fingerprints.get(m) == fp for m, fp in c.fingerprints.items()):
            reason = "encoded by other encoders"
        elif not any(m in fuser.modalities for m in c.encoded):
            reason = "with none of this model's modalities"
        elif any(widths.get(m) not in (None, t.shape[-1]) for m, (t, _) in c.encoded.items()):
            reason = "whose features are not as wide as this model's encoders give"
        else:
            usable.append(c)
            continue
        skipped[reason] = skipped.get(reason, 0) + 1
    return usable, skipped
