"""The canonical shard format: the one module that reads and writes it.

A shard is a 1,024-byte header of 256 little-endian int32 values
(``[0]`` magic 20240520, ``[1]`` version 1, ``[2]`` token count, the rest
zero) followed by ``count`` little-endian uint16 values. Token shards
(``fineweb_{train,val}_NNNNNN.bin``) and CaseOps validation byte sidecars
(``fineweb_val_bytes_NNNNNN.bin``) share it.

Name matching lives here too, because a plain ``fineweb_val_*.bin`` glob also
matches the byte sidecars (a pitfall several trainers fell into).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np

MAGIC = 20240520
VERSION = 1
HEADER_INTS = 256
HEADER_BYTES = HEADER_INTS * 4
TOKEN_DTYPE = np.dtype("<u2")
MAX_TOKENS = 2**31 - 1

# Exact names: six digits, nothing else, so sidecars never match token globs.
_NAME = re.compile(r"^fineweb_(?P<kind>train|val|val_bytes)_(?P<index>\d{6})\.bin$")


class ShardError(ValueError):
    """A shard file violates the format; the message names the file and the fault."""


@dataclass(frozen=True)
class ShardHeader:
    magic: int
    version: int
    num_tokens: int


@dataclass(frozen=True)
class ShardName:
    kind: str  # "train", "val" or "val_bytes"
    index: int


def parse_name(path: str | os.PathLike) -> ShardName | None:
    """Classify a file name as a train shard, a val shard or a val byte sidecar."""
    m = _NAME.match(Path(path).name)
    if not m:
        return None
    return ShardName(m.group("kind"), int(m.group("index")))


def shard_filename(kind: str, index: int) -> str:
    if kind not in ("train", "val", "val_bytes"):
        raise ValueError(f"unknown shard kind {kind!r}")
    return f"fineweb_{kind}_{index:06d}.bin"


def list_shards(directory: str | os.PathLike, kind: str) -> list[Path]:
    """Shards of one kind in ``directory``, sorted by index (the loaders' order)."""
    d = Path(directory)
    found = []
    for p in d.iterdir() if d.is_dir() else ():
        name = parse_name(p)
        if name is not None and name.kind == kind:
            found.append((name.index, p))
    return [p for _, p in sorted(found)]


def sidecar_for(val_shard: str | os.PathLike) -> Path:
    """The byte sidecar that belongs to a validation token shard."""
    p = Path(val_shard)
    name = parse_name(p)
    if name is None or name.kind != "val":
        raise ValueError(f"{p.name} is not a validation token shard")
    return p.with_name(shard_filename("val_bytes", name.index))


def read_header(path: str | os.PathLike) -> ShardHeader:
    """Read and check a shard's header and its size; raise ShardError on any fault."""
    p = Path(path)
    size = p.stat().st_size
    if size < HEADER_BYTES:
        raise ShardError(f"{p}: truncated header ({size} bytes, need {HEADER_BYTES})")
    header = np.fromfile(p, dtype="<i4", count=HEADER_INTS)
    magic, version, count = int(header[0]), int(header[1]), int(header[2])
    if magic != MAGIC:
        raise ShardError(f"{p}: bad magic {magic} (expected {MAGIC})")
    if version != VERSION:
        raise ShardError(f"{p}: unsupported version {version} (expected {VERSION})")
    if count < 0:
        raise ShardError(f"{p}: negative token count {count} in header")
    expected = HEADER_BYTES + 2 * count
    if size != expected:
        raise ShardError(
            f"{p}: header says {count} tokens ({expected} bytes) but the file has {size} bytes"
        )
    return ShardHeader(magic, version, count)


def read_tokens(path: str | os.PathLike, *, mmap: bool = True) -> np.ndarray:
    """The shard's payload as uint16, memory-mapped by default (no copy)."""
    header = read_header(path)
    if mmap:
        return np.memmap(path, dtype=TOKEN_DTYPE, mode="r", offset=HEADER_BYTES, shape=(header.num_tokens,))
    with open(path, "rb") as f:
        f.seek(HEADER_BYTES)
        return np.frombuffer(f.read(2 * header.num_tokens), dtype=TOKEN_DTYPE)


def write_shard(path: str | os.PathLike, values: Iterable[int] | np.ndarray) -> int:
    """Write ``values`` as a canonical shard atomically; return the token count."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ValueError("shard payload must be one-dimensional")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= 2**16):
        raise ValueError("shard values must lie in [0, 65535]")
    if arr.size > MAX_TOKENS:
        raise ValueError(f"a shard holds at most {MAX_TOKENS} tokens")
    header = np.zeros(HEADER_INTS, dtype="<i4")
    header[0], header[1], header[2] = MAGIC, VERSION, arr.size
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".partial")
    with open(tmp, "wb") as f:
        f.write(header.tobytes())
        f.write(arr.astype(TOKEN_DTYPE, copy=False).tobytes())
    os.replace(tmp, p)
    return int(arr.size)
