"""The feedback store: corrections (each item's encoder outputs, its label, who and when) in one
SQLite file, each row's tensors one safetensors blob."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load, save

from mmempathy.errors import MMEmpathyError
from mmempathy.feedback.files import default_directory
from mmempathy.modality import Modality
from mmempathy.sqlite_store import check_store, create_schema

log = logging.getLogger(__name__)
Encoded = dict[Modality, tuple[torch.Tensor, torch.Tensor]]
STORE_NAME = "feedback.sqlite"
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


def open_store(fuser: Any, store: str | Path | FeedbackStore | None) -> FeedbackStore:
    if isinstance(store, FeedbackStore):
        return store
    return FeedbackStore(Path(store) if store is not None else default_directory(fuser) / STORE_NAME)


def counts_text(counts: dict[str, int]) -> str:
    """``{"already imported": 2, ...}`` as ``"2 already imported, ..."``."""
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())
