"""Files in and out: checked before any work starts, outputs written whole or not at all.

:func:`atomic_write` writes to a temporary file in the destination's directory and renames it into
place (``os.replace`` is atomic on POSIX and Windows), so a failure, a full disk or Ctrl-C never
leaves a truncated file and never destroys an older good one. :func:`check_output_path` and
:func:`check_output_paths` refuse, before a long run, what would only fail at its end: an unknown
format, a parent that is a file, an unwritable directory, two outputs on the same path;
:func:`check_media_path` does the same for an input (missing, a directory, empty) without decoding it.

Example:
    >>> from pathlib import Path
    >>> import tempfile
    >>> out = Path(tempfile.mkdtemp()) / "result.json"
    >>> check_output_path(out, {".json"}) == out
    True
    >>> atomic_write(out, lambda tmp: tmp.write_text("{}")).read_text()
    '{}'
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from mmempathy.errors import InputError


def check_media_path(path: str | Path) -> Path:
    """The checks that need no decoding, with the messages the API and the CLI share.

    Raises:
        InputError: The path does not exist (or holds a NUL byte, which no file name can), is a
            directory (or other non-file), or is empty.
    """
    path = Path(path)
    if "\0" in str(path):
        raise InputError(f"media path holds a NUL byte, which no file name can: {str(path)!r}")
    if not path.exists():
        raise InputError(f"media file not found: {path}")
    if not path.is_file():
        raise InputError(
            f"media path is {'a directory' if path.is_dir() else 'not a regular file'}, not a file: {path}"
        )
    if path.stat().st_size == 0:
        raise InputError(f"media file is empty (0 bytes): {path}")
    return path


def check_output_path(path: str | Path, formats: Collection[str] | None = None) -> Path:
    """Check that ``path`` can be written, without writing anything.

    Args:
        path: The output file.
        formats: Accepted suffixes (``{".png", ".svg", ".pdf"}``), compared case-insensitively;
            ``None`` accepts any.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        InputError: The suffix is not one of ``formats``, the path is a directory, a parent is a
            file, or the directory that would hold it is not writable.
    """
    path = Path(path)
    if formats is not None:
        accepted = {f.lower() if f.startswith(".") else f".{f.lower()}" for f in formats}
        if path.suffix.lower() not in accepted:
            names = ", ".join(sorted(accepted))
            raise InputError(f"cannot write {path}: unsupported format {path.suffix or '(none)'!r}; use one of {names}")
    if path.is_dir():
        raise InputError(f"cannot write {path}: it is a directory")
    ancestor = path.parent
    while not ancestor.exists():  # the first existing ancestor decides whether the parents can be made
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(f"cannot write {path}: {ancestor} is a file, not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {path}: permission denied in {ancestor}")
    if path.exists() and not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
        raise InputError(f"cannot write {path}: permission denied")
    return path


def check_output_paths(paths: Mapping[str, str | Path | None], formats: Mapping[str, Collection[str]] | None = None):
    """Check several outputs at once (``{"--json": p, "--csv": q, ...}``; ``None`` entries are skipped).

    Besides :func:`check_output_path` for each, two outputs may not be the same file (one would
    overwrite the other).

    Returns:
        ``{name: Path}`` of the outputs given.

    Raises:
        InputError: Naming the option(s) at fault.
    """
    checked: dict[str, Path] = {}
    seen: dict[Path, str] = {}
    for name, path in paths.items():
        if path is None:
            continue
        try:
            checked[name] = check_output_path(path, (formats or {}).get(name))
        except InputError as err:
            raise InputError(f"{name}: {err}") from None
        key = Path(os.path.abspath(checked[name]))
        if key in seen:
            raise InputError(f"{seen[key]} and {name} name the same file ({path}); give each output its own path")
        seen[key] = name
    return checked


def atomic_write(path: str | Path, writer: Callable[[Path], object], *, durable: bool = True) -> Path:
    """Write ``path`` whole or not at all.

    ``writer`` gets a temporary path in the same directory, with the same suffix (so that writers
    which pick a format from the name, like matplotlib, still do), and writes the file there; it is
    then renamed over ``path``. On any failure, KeyboardInterrupt included, the temporary file is
    removed and ``path`` is left as it was. Missing parent directories are created.

    Args:
        path: The destination.
        writer: Writes the content to the path it is given (its return value is ignored).
        durable: ``fsync`` the file before the rename, so that a crash right after cannot leave an
            empty file under the final name.

    Returns:
        ``path`` as a :class:`Path`.

    Raises:
        InputError: The location cannot be written: a parent is a file, permission denied, a
            read-only file system, or the device is full (the message says which).
    """
    path = Path(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        # A device or pipe (/dev/null, /dev/stdout, /dev/full): there is nothing to keep whole,
        # and renaming over it would replace the device with a file.
        try:
            writer(path)
        except OSError as err:
            raise InputError(f"cannot write {path}: {_why(err, path)}") from err
        return path
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
        os.close(fd)
        tmp = Path(name)
        writer(tmp)
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        if path.exists():  # keep the old file's permission bits, as an in-place rewrite would
            os.chmod(tmp, path.stat().st_mode & 0o7777)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a plain open() would not
        os.replace(tmp, path)
        tmp = None
    except OSError as err:
        raise InputError(f"cannot write {path}: {_why(err, path)}") from err
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return path


def atomic_write_files(directory: str | Path, writer: Callable[[Path], object]) -> Path:
    """Let ``writer`` fill a temporary directory, then move each of its files into ``directory``.

    For writers that produce several files (a tokenizer's ``save_pretrained``): each file lands
    whole (``os.replace``); files of an older save that the writer does not produce are kept.

    Raises:
        InputError: As :func:`atomic_write`.
    """
    directory = Path(directory)
    staging: Path | None = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}."))
        writer(staging)
        for file in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = directory / file.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(file, target)
    except OSError as err:
        raise InputError(f"cannot write {directory}: {_why(err, directory)}") from err
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
    return directory


def _why(err: OSError, path: Path) -> str:
    """A user's reading of an OSError met while writing ``path``."""
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    if err.errno == errno.EDQUOT:
        return "disk quota exceeded"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EROFS:
        return "read-only file system"
    if err.errno in (errno.ENOTDIR, errno.EEXIST) or isinstance(err, (NotADirectoryError, FileExistsError)):
        parent = next((p for p in path.parents if p.exists()), None)
        if parent is not None and not parent.is_dir():
            return f"{parent} is a file, not a directory"
    if err.errno == errno.EISDIR:
        return "it is a directory"
    return err.strerror or str(err)
