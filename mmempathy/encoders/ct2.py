"""A reader for CTranslate2 ``model.bin`` files: named tensors, no CTranslate2 needed.

The file is little-endian: ``uint32`` binary version, the spec name (a string), ``uint32``
spec revision, ``uint32`` variable count, then per variable its name, ``uint8`` rank, ``uint32``
dims, ``uint8`` dtype id, ``uint32`` byte count and the raw bytes; then ``uint32`` alias count
and (alias, target) name pairs. A string is a ``uint16`` length (terminating NUL included)
followed by its bytes. Some wheels split one ``model.bin`` into parts; those are read as one stream.

Example:
    >>> tensors = read_ct2(["model.bin"], prefix="encoder/")  # doctest: +SKIP
    >>> tensors["encoder/conv1/weight"].shape  # doctest: +SKIP
    torch.Size([512, 80, 3])
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from mmempathy.errors import CheckpointError

# dtype ids in the order CTranslate2 numbers them; bfloat16 has no numpy type and is widened below
DTYPES = ("float32", "int8", "int16", "int32", "float16", "bfloat16")
ITEM_SIZES = (4, 1, 2, 4, 2, 2)
# version 5 added aliases' current form and 6 is the current writer; older files predate Whisper support
BINARY_VERSIONS = (5, 6)
MAX_RANK = 8


class ChainedFiles(io.RawIOBase):
    """Several files read back to back as one read-only, seekable stream (a ``model.bin`` split into parts)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        super().__init__()
        self.handles: list[BinaryIO] = [open(p, "rb") for p in paths]  # noqa: SIM115 - closed in close()
        self.starts = np.cumsum([0] + [p.stat().st_size for p in paths]).tolist()  # each part's first offset
        self.index = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while self.index < len(self.handles):
            n = self.handles[self.index].readinto(buffer)
            if n:
                return n
            self.index += 1
            if self.index < len(self.handles):
                self.handles[self.index].seek(0)
        return 0

    def tell(self) -> int:
        if self.index >= len(self.handles):
            return self.starts[-1]
        return self.starts[self.index] + self.handles[self.index].tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET:
            offset += self.tell() if whence == io.SEEK_CUR else self.starts[-1]
        offset = min(max(offset, 0), self.starts[-1])
        self.index = next((i for i in range(len(self.handles)) if offset < self.starts[i + 1]), len(self.handles))
        if self.index < len(self.handles):
            self.handles[self.index].seek(offset - self.starts[self.index])
        return offset

    def close(self) -> None:
        for handle in self.handles:
            handle.close()
        super().close()


class _Stream:
    """Typed reads with errors that name the file; a short read means the file was cut off."""

    def __init__(self, raw: ChainedFiles, where: str) -> None:
        self.raw, self.where = raw, where

    def bytes(self, n: int) -> bytes:
        data = self.raw.read(n) if n else b""
        data = data or b""
        while len(data) < n:  # RawIOBase.read may return less than asked at a part boundary
            more = self.raw.read(n - len(data))
            if not more:
                raise CheckpointError(f"{self.where} is truncated (ends {n - len(data)} bytes early)")
            data += more
        return data

    def unpack(self, fmt: str) -> int:
        return struct.unpack("<" + fmt, self.bytes(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("H")
        raw = self.bytes(n)
        if n == 0 or raw[-1] != 0:
            raise CheckpointError(f"{self.where} is corrupt (a name is not NUL-terminated)")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise CheckpointError(f"{self.where} is corrupt (a name is not UTF-8)") from err

    def skip(self, n: int) -> int:
        """Move past ``n`` bytes unread; returns where they start."""
        here = self.raw.tell()
        if self.raw.seek(here + n) < here + n:
            raise CheckpointError(f"{self.where} is truncated (a tensor runs past the end)")
        return here


def _to_tensor(data: bytes, dtype_id: int, shape: tuple[int, ...]) -> torch.Tensor:
    if DTYPES[dtype_id] == "bfloat16":  # the top half of a float32's bits
        bits = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16
        return torch.from_numpy(bits.view(np.float32).reshape(shape).copy())
    dtype = np.dtype(DTYPES[dtype_id]).newbyteorder("<")
    return torch.from_numpy(np.frombuffer(bytearray(data), dtype=dtype).reshape(shape))  # bytearray: writable


def read_ct2(
    paths: Sequence[str | Path], *, prefix: str = "", expect_spec: str | None = None
) -> dict[str, torch.Tensor]:
    """The variables of a CTranslate2 model file (aliases resolved) whose names start with ``prefix``.

    Args:
        paths: The ``model.bin`` file, or its parts in order.
        prefix: Keep only variables under this scope (others are skipped, not read).
        expect_spec: Refuse a file of another model spec (e.g. ``"WhisperSpec"``).

    Raises:
        CheckpointError: A part is missing, or the file is truncated or corrupt (the message says which).
    """
    paths = [Path(p) for p in paths]
    where = str(paths[0]) if len(paths) == 1 else " + ".join(map(str, paths))
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise CheckpointError(f"CTranslate2 model file(s) not found: {', '.join(missing)}")
    raw = ChainedFiles(paths)
    try:
        return _read(_Stream(raw, where), prefix, expect_spec)
    finally:
        raw.close()


def _read(stream: _Stream, prefix: str, expect_spec: str | None) -> dict[str, torch.Tensor]:
    where = stream.where
    version = stream.unpack("I")
    if version not in BINARY_VERSIONS:
        raise CheckpointError(
            f"{where} is not a CTranslate2 model this reader knows (binary version {version}; "
            f"supported: {', '.join(map(str, BINARY_VERSIONS))})"
        )
    spec = stream.string()
    if expect_spec is not None and spec != expect_spec:
        raise CheckpointError(f"{where} holds a {spec!r} model, not a {expect_spec!r}")
    stream.unpack("I")  # spec revision: the layout of the variables we read has not changed across revisions
    # a first pass notes where each tensor lies; only the wanted ones (and the targets of wanted aliases,
    # since the writer stores identical tensors once) are then read
    where_is: dict[str, tuple[int, int, tuple[int, ...], int]] = {}
    for _ in range(stream.unpack("I")):
        name = stream.string()
        rank = stream.unpack("B")
        if rank > MAX_RANK:
            raise CheckpointError(f"{where} is corrupt (variable {name!r} has rank {rank})")
        shape = tuple(stream.unpack("I") for _ in range(rank))
        dtype_id = stream.unpack("B")
        if dtype_id >= len(DTYPES):
            raise CheckpointError(f"{where} is corrupt (variable {name!r} has unknown dtype id {dtype_id})")
        n_bytes = stream.unpack("I")
        if n_bytes != int(np.prod(shape, dtype=np.int64)) * ITEM_SIZES[dtype_id]:
            raise CheckpointError(f"{where} is corrupt (variable {name!r}: {n_bytes} bytes for shape {shape})")
        where_is[name] = (stream.skip(n_bytes), dtype_id, shape, n_bytes)
    aliases = {}
    for _ in range(stream.unpack("I")):
        alias, target = stream.string(), stream.string()
        if target not in where_is:
            raise CheckpointError(f"{where} is corrupt (alias {alias!r} names no variable)")
        aliases[alias] = target
    wanted = {n: n for n in where_is if n.startswith(prefix)}
    wanted |= {alias: target for alias, target in aliases.items() if alias.startswith(prefix)}
    loaded: dict[str, torch.Tensor] = {}
    for source in sorted(set(wanted.values()), key=lambda n: where_is[n][0]):
        offset, dtype_id, shape, n_bytes = where_is[source]
        stream.raw.seek(offset)
        loaded[source] = _to_tensor(stream.bytes(n_bytes), dtype_id, shape)
    return {name: loaded[source] for name, source in wanted.items()}
