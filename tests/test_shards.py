"""harness.core.shards: the canonical shard format, read and written for real."""

from __future__ import annotations

import glob

import numpy as np
import pytest

from harness.core import shards
from harness.core.shards import ShardError


def test_roundtrip_header_and_memmap(tmp_path):
    p = tmp_path / "fineweb_val_000000.bin"
    values = np.array([1, 0, 65535, 42, 7], dtype=np.int64)
    assert shards.write_shard(p, values) == 5
    raw = p.read_bytes()
    assert len(raw) == shards.HEADER_BYTES + 10
    head = np.frombuffer(raw[: shards.HEADER_BYTES], dtype="<i4")
    assert head[0] == 20240520 and head[1] == 1 and head[2] == 5 and not head[3:].any()
    assert raw[shards.HEADER_BYTES:] == values.astype("<u2").tobytes()  # little-endian uint16
    assert shards.read_header(p) == shards.ShardHeader(20240520, 1, 5)
    mm = shards.read_tokens(p)
    assert isinstance(mm, np.memmap) and mm.dtype == np.dtype("<u2") and mm.tolist() == values.tolist()
    assert shards.read_tokens(p, mmap=False).tolist() == values.tolist()
    assert not list(tmp_path.glob("*.partial"))  # atomic write leaves nothing behind


def test_empty_shard(tmp_path):
    p = tmp_path / "fineweb_train_000000.bin"
    assert shards.write_shard(p, []) == 0
    assert shards.read_header(p).num_tokens == 0 and shards.read_tokens(p).size == 0


def test_write_rejects_bad_values(tmp_path):
    for bad in ([-1], [65536], [[1, 2]]):
        with pytest.raises(ValueError):
            shards.write_shard(tmp_path / "x.bin", bad)
    assert not (tmp_path / "x.bin").exists()


def test_names_never_confuse_sidecars_with_val_shards(tmp_path):
    for kind, i in (("val", 1), ("val", 0), ("val_bytes", 0), ("val_bytes", 1), ("train", 10), ("train", 2)):
        shards.write_shard(tmp_path / shards.shard_filename(kind, i), [1])
    (tmp_path / "fineweb_val_0.bin").write_bytes(b"")  # not six digits: matches nothing
    # The pitfall: the naive glob also picks up the byte sidecars.
    assert len(glob.glob(str(tmp_path / "fineweb_val_*.bin"))) == 5
    assert [p.name for p in shards.list_shards(tmp_path, "val")] == ["fineweb_val_000000.bin", "fineweb_val_000001.bin"]
    assert [p.name for p in shards.list_shards(tmp_path, "val_bytes")] == ["fineweb_val_bytes_000000.bin", "fineweb_val_bytes_000001.bin"]
    assert [p.name for p in shards.list_shards(tmp_path, "train")] == ["fineweb_train_000002.bin", "fineweb_train_000010.bin"]
    assert shards.parse_name("fineweb_val_bytes_000003.bin") == shards.ShardName("val_bytes", 3)
    assert shards.parse_name("fineweb_val_0.bin") is None and shards.parse_name("x/fineweb_train_000001.bin.partial") is None
    assert shards.sidecar_for(tmp_path / "fineweb_val_000001.bin").name == "fineweb_val_bytes_000001.bin"
    with pytest.raises(ValueError):
        shards.sidecar_for(tmp_path / "fineweb_train_000002.bin")
    assert shards.list_shards(tmp_path / "absent", "val") == []


def _corrupt(path, index, value):
    with open(path, "r+b") as f:
        f.seek(4 * index)
        f.write(np.int32(value).tobytes())


@pytest.mark.parametrize("fault, message", [
    ("truncate_header", "truncated header"),
    ("magic", "bad magic"),
    ("version", "unsupported version 3"),
    ("negative", "negative token count"),
    ("count", "header says 11 tokens"),
    ("payload", "but the file has"),
])
def test_read_header_names_the_file_and_the_fault(tmp_path, fault, message):
    p = tmp_path / "fineweb_train_000000.bin"
    shards.write_shard(p, np.arange(10))
    if fault == "truncate_header":
        p.write_bytes(p.read_bytes()[:500])
    elif fault == "magic":
        _corrupt(p, 0, 20240521)
    elif fault == "version":
        _corrupt(p, 1, 3)
    elif fault == "negative":
        _corrupt(p, 2, -4)
    elif fault == "count":
        _corrupt(p, 2, 11)
    elif fault == "payload":
        with open(p, "ab") as f:
            f.write(b"\0")
    with pytest.raises(ShardError, match=message) as err:
        shards.read_header(p)
    assert str(p) in str(err.value)
    with pytest.raises(ShardError):
        shards.read_tokens(p)
