"""What the project's SQLite files share: refuse a file that is not ours, then create the schema.

The coach database (:mod:`mmempathy.coach.db`) and the feedback store (:mod:`mmempathy.feedback`)
both keep a ``meta`` table with a ``schema`` version. Before anything is written, an existing file
must be a readable SQLite database, hold the expected tables, carry the expected schema version and
pass SQLite's integrity check; otherwise it is left untouched and a specific error names it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from pathlib import Path


def check_store(
    path: Path,
    connect: Callable[[], AbstractContextManager[sqlite3.Connection]],
    *,
    tables: Iterable[str],
    version: str,
    what: str,
    hint: str,
    error: type[Exception],
) -> None:
    """Raise ``error`` if the existing file at ``path`` is not a usable ``what`` (a missing or empty
    file is fine: it will be created)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        with connect() as db:
            found = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not found:
                return
            if not set(tables) <= found:
                raise error(f"{path} is an SQLite file but not a {what}; {hint}")
            row = db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None or row[0] != version:
                raise error(f"{path} has {what} schema {row and row[0]}, need {version}; {hint}")
            status = db.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                raise error(f"{path} is damaged ({status}); {hint}")
    except sqlite3.DatabaseError as err:
        raise error(f"{path} is not a readable {what}: not a readable SQLite database ({err}); {hint}") from err


def create_schema(connect: Callable[[], AbstractContextManager[sqlite3.Connection]], schema: str, version: str) -> None:
    """Create the tables that do not exist yet and record the schema version."""
    with connect() as db:
        db.executescript(schema)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (version,))
