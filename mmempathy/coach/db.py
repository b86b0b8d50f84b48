"""The coach's SQLite database: people, practice sessions, answers (with item, person and time).

Every request opens its own connection (SQLite serialises writers); an answer is unique per
session position, so a double submit is recorded once. A file that is not a coach database is
refused with a message, or moved aside and recreated when asked (``reset=True``).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from mmempathy.errors import MMEmpathyError
from mmempathy.sqlite_store import check_store, create_schema

SCHEMA_VERSION = "1"
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS people (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES people(id), started TEXT NOT NULL,
    items TEXT NOT NULL);  -- JSON list of item ids, in the order shown
CREATE TABLE IF NOT EXISTS answers (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    person_id INTEGER NOT NULL REFERENCES people(id),
    position INTEGER NOT NULL,
    item_id TEXT NOT NULL,
    item_kind TEXT NOT NULL,
    truth TEXT NOT NULL,
    answer TEXT NOT NULL,
    intensity INTEGER NOT NULL,
    correct INTEGER NOT NULL,
    model_label TEXT,          -- the model's fused top label, NULL when the item could not be read
    model_strategy TEXT,       -- mmempathy.respond's strategy for the item
    response_strategy TEXT,    -- the strategy the person picked (or that their wording suggests)
    response_text TEXT,
    strategy_match INTEGER,
    answered TEXT NOT NULL,    -- ISO time, UTC
    responded TEXT,
    UNIQUE (session_id, position));
CREATE INDEX IF NOT EXISTS answers_person ON answers(person_id, item_id);
"""
TABLES = {"meta", "people", "sessions", "answers"}
HINT = "pass another --db"


class DatabaseError(MMEmpathyError):
    """The database file is unusable (not SQLite, or not a coach database); the message says what to do."""


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Database:
    """The coach database at ``path`` (created when missing).

    Args:
        path: The SQLite file.
        reset: Move an unusable file aside (``<name>.corrupt-<time>``) and start a new database,
            instead of refusing it.
    """

    def __init__(self, path: str | Path, *, reset: bool = False) -> None:
        self.path = Path(path)
        self._check_path()
        try:
            self._check()
        except DatabaseError:
            if not reset:
                raise
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            self.path.rename(aside)
            self.moved_aside: Path | None = aside
        else:
            self.moved_aside = None
        try:
            create_schema(self.connect, SCHEMA, SCHEMA_VERSION)
        except sqlite3.Error as err:  # e.g. a read-only file system, a full disk
            raise DatabaseError(f"cannot write the coach database {self.path} ({err}); {HINT}") from err

    def _check_path(self) -> None:
        """Refuse a path SQLite cannot keep a database at: a directory, a device, a file or folder we cannot write."""
        where = self.path
        if where.is_dir():
            raise DatabaseError(f"{where} is a directory, not a database file; {HINT}")
        if where.exists() and not where.is_file():
            raise DatabaseError(f"{where} is not a regular file (a device or a pipe cannot hold a database); {HINT}")
        if where.exists() and not os.access(where, os.R_OK | os.W_OK):
            raise DatabaseError(f"{where} is read-only or unreadable (the coach records every answer there); {HINT}")
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise DatabaseError(f"cannot create the folder of {where} ({err.strerror}); {HINT}") from err
        if not os.access(where.parent, os.W_OK | os.X_OK):  # SQLite writes its journal beside the file
            raise DatabaseError(f"the folder {where.parent} is read-only; {HINT}")

    def _check(self) -> None:
        check_store(
            self.path,
            self.connect,
            tables=TABLES,
            version=SCHEMA_VERSION,
            what="coach database",
            hint=f"move it away, {HINT}, or start with --reset-db to set it aside and begin anew",
            error=DatabaseError,
        )

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work, committed on success."""
        conn = sqlite3.connect(self.path, timeout=15)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        try:
            with conn:
                yield conn
        finally:
            conn.close()
