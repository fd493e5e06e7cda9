"""sha256 of a file, read in 4 MiB chunks into one reused buffer (shards are hundreds of MB)."""

from __future__ import annotations

import hashlib
import os
from typing import Callable

CHUNK = 4 << 20


def sha256_file(path: str | os.PathLike, progress: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of the file at ``path``; ``progress`` is called with each chunk's size."""
    h = hashlib.sha256()
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            if progress is not None:
                progress(n)
    return h.hexdigest()
