"""A corpus's input files: a folder walk or a CSV list, what lies beside each file, and what its
results depend on (:meth:`CorpusItem.stamp`)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mmempathy.errors import InputError

# File suffixes a folder walk takes as media.
MEDIA_SUFFIXES = frozenset({".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4a", ".mp3", ".wav", ".flac", ".ogg"})


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
        """A name for the file's outputs: a hash of its absolute path, its folders' symbolic links resolved
        (a resume through a linked or relative name of the folder finds the parts; a linked file stays itself)."""
        return hashlib.sha1(canonical(self.path).encode("utf-8", "surrogateescape")).hexdigest()[:16]

    def stamp(self) -> str:
        """A hash of what the results depend on besides the settings: size and mtime of the file and its subtitles,
        and the transcript (a missing file has a stamp too: it fails, and is tried again once it appears)."""
        parts = [_stat(self.path), _stat(self.subtitles) if self.subtitles else "", self.transcript or ""]
        return hashlib.sha1("\0".join(parts).encode("utf-8", "surrogateescape")).hexdigest()[:8]


def find_inputs(source: str | Path) -> list[CorpusItem]:
    """The media files of a folder (searched recursively) or of a CSV list.

    A folder's files are those with a suffix in :data:`MEDIA_SUFFIXES`, sorted, each named by its
    absolute path under the folder's real location (bytes that are not UTF-8 as ``\\xff`` escapes,
    :func:`printable`); ``<name>.srt`` or ``<name>.vtt`` beside a file are its subtitles
    (:func:`subtitles_beside`). A CSV needs a ``path`` column and may have ``subtitles`` and
    ``transcript`` columns; relative paths are relative to the CSV's folder.

    Raises:
        InputError: ``source`` is missing, is neither a folder nor a ``.csv``, the CSV lacks a
            ``path`` column, or no media file was found.
    """
    source = Path(source)
    if source.is_dir():
        root = Path(os.path.realpath(source))  # one name per file however the folder is named (relative, linked)
        paths = sorted(p for p in root.rglob("*") if p.suffix.lower() in MEDIA_SUFFIXES and p.is_file())
        items = [CorpusItem(p, printable(str(p)), subtitles_beside(p)) for p in paths]
        if not items:
            raise InputError(f"no media files in {source} (searched for {', '.join(sorted(MEDIA_SUFFIXES))})")
        return items
    if not source.exists():
        raise InputError(f"input not found: {source}")
    if source.suffix.lower() != ".csv":
        raise InputError(f"input must be a folder or a .csv list of files with a 'path' column, not {source}")
    return read_list(source)


def subtitles_beside(path: Path) -> Path | None:
    """``<name>.srt`` or else ``<name>.vtt`` next to a media file, if there is one."""
    return next((p for p in (path.with_suffix(".srt"), path.with_suffix(".vtt")) if p.is_file()), None)


def read_list(source: Path) -> list[CorpusItem]:
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


def as_items(inputs: Iterable[str | Path | CorpusItem]) -> list[CorpusItem]:
    items = [
        i if isinstance(i, CorpusItem) else CorpusItem(Path(i), printable(str(i)), subtitles_beside(Path(i)))
        for i in inputs
    ]
    if not items:
        raise InputError("no input files given")
    return items


def dedupe(items: list[CorpusItem]) -> list[CorpusItem]:
    """The first of each file listed twice."""
    first: dict[str, CorpusItem] = {}
    for item in items:
        first.setdefault(item.key, item)
    return list(first.values())


def _stat(path: Path) -> str:
    size, mtime = size_mtime(path)
    return f"{size}:{mtime!r}"


def size_mtime(path: Path) -> tuple[int | None, float | None]:
    try:
        stat = path.stat()
    except (OSError, ValueError):  # ValueError: a NUL byte in the name (from a CSV): no such file
        return None, None
    return stat.st_size, stat.st_mtime


def canonical(path: Path) -> str:
    """``path`` made absolute, the symbolic links of its folders resolved (not the file's own)."""
    absolute = os.path.abspath(path)
    try:
        return os.path.join(os.path.realpath(os.path.dirname(absolute)), os.path.basename(absolute))
    except ValueError:  # a NUL byte: nothing to resolve, the file cannot exist
        return absolute


def printable(name: str) -> str:
    """A file name as text that any UTF-8 writer takes: bytes of the name that are not UTF-8 (which Python
    keeps as lone surrogates) become ``\\xff`` escapes; a valid name is unchanged."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
