"""Train/validation overlap audit on the embedded dataset, clean and with planted overlap."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from harness.core import shards
from harness.data.audit import audit_overlap, iter_documents
from harness.data.embedded_build import build_embedded
from conftest import run_cli



@pytest.fixture(scope="module")
def clean_ds(tmp_path_factory) -> Path:
    # small train shards so that documents straddle shard boundaries
    res = build_embedded(tmp_path_factory.mktemp("audit"), shard_tokens=20_000)
    assert len(shards.list_shards(res.dataset_dir, "train")) > 3
    return res.dataset_dir


def _docs(stream: np.ndarray, bos: int = 1) -> list[np.ndarray]:
    """BOS-inclusive documents of a stream."""
    pos = list(np.flatnonzero(stream == bos)) + [stream.size]
    return [stream[pos[i]:pos[i + 1]] for i in range(len(pos) - 1)]


def _plant(clean: Path, dest: Path, val_picks: list[int], shard_tokens: int) -> tuple[Path, list[int]]:
    """A copy of ``clean`` whose training stream has the picked validation documents inserted
    between training documents; returns the directory and each planted doc's stream offset."""
    dest.mkdir(parents=True)
    for p in [*shards.list_shards(clean, "val"), *shards.list_shards(clean, "val_bytes")]:
        shutil.copy(p, dest / p.name)
    train = np.concatenate([shards.read_tokens(p) for p in shards.list_shards(clean, "train")])
    val_docs = _docs(np.concatenate([shards.read_tokens(p) for p in shards.list_shards(clean, "val")]))
    train_docs = _docs(train)
    out, offsets, pos = [], [], 0
    slots = {7 + 9 * k: v for k, v in enumerate(val_picks)}
    for i, d in enumerate(train_docs):
        if i in slots:
            offsets.append(pos)
            out.append(val_docs[slots[i]])
            pos += val_docs[slots[i]].size
        out.append(d)
        pos += d.size
    stream = np.concatenate(out)
    for i in range(0, stream.size, shard_tokens):
        shards.write_shard(dest / shards.shard_filename("train", i // shard_tokens), stream[i:i + shard_tokens])
    return dest, offsets


def test_clean_embedded_dataset(clean_ds) -> None:
    rep = audit_overlap(clean_ds)
    assert rep.clean and rep.overlap_docs == 0 and rep.fraction == 0.0
    assert rep.val_docs == 16 and rep.val_unique == 16
    assert rep.train_docs == int(sum(int((shards.read_tokens(p) == 1).sum())
                                     for p in shards.list_shards(clean_ds, "train")))
    assert rep.train_docs_hashed < rep.train_docs  # the length filter spares most hashing
    assert not rep.notes


def test_planted_overlap_found_with_locations(clean_ds, tmp_path) -> None:
    picks = [2, 5, 9]
    shard_tokens = 15_000
    d, offsets = _plant(clean_ds, tmp_path / "leaky", picks, shard_tokens)
    rep = audit_overlap(d)
    assert not rep.clean
    assert rep.overlap_docs == 3 and rep.overlap_unique == 3
    assert rep.fraction == pytest.approx(3 / 16)
    assert [e.val_index for e in rep.examples] == picks
    val = np.concatenate([shards.read_tokens(p) for p in shards.list_shards(d, "val")])
    vdocs = _docs(val)
    for e, off in zip(rep.examples, offsets):
        assert e.train.shard == shards.shard_filename("train", off // shard_tokens)
        assert e.train.offset == off % shard_tokens
        assert e.train.length == e.val.length == vdocs[e.val_index].size - 1
        assert shards.read_tokens(d / e.train.shard)[e.train.offset] == 1
    # at least one planted document straddles two train shards, and is still found
    assert any(off // shard_tokens != (off + vdocs[p].size - 1) // shard_tokens for off, p in zip(offsets, picks))


def test_chunk_size_does_not_matter(clean_ds, tmp_path) -> None:
    d, _ = _plant(clean_ds, tmp_path / "leaky", [0, 15], 12_345)
    a = audit_overlap(d)
    b = audit_overlap(d, chunk_tokens=97)  # many docs cross chunk edges
    assert a.overlap_docs == b.overlap_docs == 2
    assert [(e.val_index, e.train) for e in a.examples] == [(e.val_index, e.train) for e in b.examples]
    assert a.train_docs == b.train_docs


def test_iter_documents_joins_across_shards(tmp_path) -> None:
    shards.write_shard(tmp_path / "fineweb_train_000000.bin", [5, 5, 1, 10, 11, 1, 12])
    shards.write_shard(tmp_path / "fineweb_train_000001.bin", [13, 14, 1, 1, 15])
    headless: list[int] = []
    docs = list(iter_documents(shards.list_shards(tmp_path, "train"), 1, chunk_tokens=2, headless=headless))
    assert [(r.shard, r.offset, r.length) for r, _ in docs] == [
        ("fineweb_train_000000.bin", 2, 2), ("fineweb_train_000000.bin", 5, 3),
        ("fineweb_train_000001.bin", 2, 0), ("fineweb_train_000001.bin", 3, 1)]
    assert sum(headless) == 2
    # the straddling document [12, 13, 14] hashes like the same tokens read in one piece
    shards.write_shard(tmp_path / "one" / "fineweb_train_000000.bin", [1, 12, 13, 14])
    ((_, dig),) = list(iter_documents([tmp_path / "one" / "fineweb_train_000000.bin"], 1))
    assert docs[1][1] == dig


def test_train_dir_and_min_tokens(clean_ds, tmp_path) -> None:
    d, _ = _plant(clean_ds, tmp_path / "leaky", [3], 50_000)
    only_val = tmp_path / "val_only"
    only_val.mkdir()
    for p in shards.list_shards(clean_ds, "val"):  # two: shard_tokens applies to validation too
        shutil.copy(p, only_val)
    rep = audit_overlap(only_val, train_dir=d)
    assert rep.overlap_docs == 1
    longest = max(r.length for r, _ in iter_documents(shards.list_shards(only_val, "val"), 1))
    rep2 = audit_overlap(only_val, train_dir=d, min_tokens=longest + 1)
    assert rep2.val_docs == 0 and rep2.val_docs_short == 16 and rep2.clean


def _cli(*args: str) -> subprocess.CompletedProcess:
    return run_cli("data", "audit", *args)


def test_cli_exit_codes(clean_ds, tmp_path) -> None:
    ok = _cli(str(clean_ds))
    assert ok.returncode == 0, ok.stderr
    assert "clean" in ok.stdout
    d, _ = _plant(clean_ds, tmp_path / "leaky", [1, 4], 30_000)
    bad = _cli(str(d))
    assert bad.returncode == 1
    assert "2 of 16 validation documents" in bad.stderr and "val doc #1" in bad.stdout
    js = _cli(str(d), "--json")
    assert js.returncode == 1 and '"overlap_docs": 2' in js.stdout
    missing = _cli(str(tmp_path / "nope"))
    assert missing.returncode == 3
