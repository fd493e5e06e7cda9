"""harness data verify / lock on real shard files, each corruption a real one."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.core import digest, shards
from harness.data import manifest as mf
from harness.data.verify import lock_dataset, verify_dataset
from harness.errors import EnvironmentProblem, UsageError
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
N_VAL = 20_001


def _build(d: Path, sidecar: bool = True, train: int = 3) -> Path:
    rng = np.random.default_rng(7)
    val = rng.integers(0, 1024, N_VAL)
    val[0] = 1
    shards.write_shard(d / "fineweb_val_000000.bin", val)
    if sidecar:
        shards.write_shard(d / "fineweb_val_bytes_000000.bin", rng.integers(0, 7, N_VAL))
    for i in range(train):
        shards.write_shard(d / f"fineweb_train_{i:06d}.bin", rng.integers(0, 1024, 50_000 + i))
    return d


@pytest.fixture()
def ds(tmp_path) -> Path:
    d = _build(tmp_path / "ds")
    lock_dataset(d)
    return d


def _verify(d, **kw):
    return verify_dataset(d, **kw)


def _one_problem(rep, name: str, what: str) -> None:
    assert not rep.ok
    hits = [p for p in rep.problems if p.startswith(name + ":")]
    assert hits, rep.problems
    assert what in hits[0], hits[0]


def test_intact_dataset_verifies_and_reports_counts(ds):
    rep = _verify(ds, jobs=2)
    assert rep.ok, rep.problems
    assert rep.val_tokens == N_VAL and rep.val_targets == N_VAL - 1 and rep.train_shards == 3
    assert rep.files_hashed == 5 and rep.manifest_found
    m = mf.read_manifest(ds)
    assert m.files["fineweb_val_000000.bin"].sha256 == hashlib.sha256((ds / "fineweb_val_000000.bin").read_bytes()).hexdigest()
    assert m.observed["val_bytes_sum"] == rep.val_bytes_sum == int(shards.read_tokens(ds / "fineweb_val_bytes_000000.bin").sum(dtype="u8"))


def test_one_flipped_payload_byte_fails_naming_that_file(ds):
    p = ds / "fineweb_train_000001.bin"
    with open(p, "r+b") as f:
        f.seek(shards.HEADER_BYTES + 777)
        b = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([b[0] ^ 0x40]))
    rep = _verify(ds)
    assert len(rep.problems) == 1
    _one_problem(rep, "fineweb_train_000001.bin", "sha256")


def test_truncated_shard(ds):
    p = ds / "fineweb_train_000002.bin"
    os.truncate(p, p.stat().st_size - 10)
    rep = _verify(ds)
    _one_problem(rep, "fineweb_train_000002.bin", "header says 50002 tokens")


def test_truncated_header(ds):
    os.truncate(ds / "fineweb_train_000000.bin", 100)
    _one_problem(_verify(ds), "fineweb_train_000000.bin", "truncated header")


def test_bad_magic_and_bad_version(ds):
    for name, index, value, what in (("fineweb_train_000000.bin", 0, 123, "bad magic 123"),
                                     ("fineweb_train_000001.bin", 1, 2, "unsupported version 2")):
        with open(ds / name, "r+b") as f:
            f.seek(4 * index)
            f.write(np.int32(value).tobytes())
        _one_problem(_verify(ds), name, what)


def test_wrong_count_in_header(ds):
    with open(ds / "fineweb_val_000000.bin", "r+b") as f:
        f.seek(8)
        f.write(np.int32(N_VAL + 5).tobytes())
    _one_problem(_verify(ds), "fineweb_val_000000.bin", f"header says {N_VAL + 5} tokens")


def test_sidecar_shorter_than_its_token_shard(tmp_path):
    d = _build(tmp_path / "d")
    shards.write_shard(d / "fineweb_val_bytes_000000.bin", np.ones(N_VAL - 3, dtype=np.uint16))
    rep = _verify(d)
    _one_problem(rep, "fineweb_val_bytes_000000.bin", f"{N_VAL - 3:,} byte entries but fineweb_val_000000.bin has {N_VAL:,} tokens")


def test_missing_sidecar_for_a_sidecar_variant_and_orphan_sidecar(tmp_path):
    d = _build(tmp_path / "d", sidecar=False)
    _one_problem(_verify(d, variant="caseops-sp8192"), "fineweb_val_bytes_000000.bin", "missing byte sidecar")
    assert _verify(d).ok  # a variant without sidecars does not need one
    shards.write_shard(d / "fineweb_val_bytes_000001.bin", [1, 2])
    _one_problem(_verify(d), "fineweb_val_bytes_000001.bin", "without a validation shard")


def test_manifest_bookkeeping_missing_and_unlisted_files(ds):
    (ds / "fineweb_train_000002.bin").unlink()
    shards.write_shard(ds / "fineweb_train_000007.bin", [5, 6, 7])
    rep = _verify(ds)
    _one_problem(rep, "fineweb_train_000002.bin", "listed in harness-manifest.json but missing")
    _one_problem(rep, "fineweb_train_000007.bin", "not in harness-manifest.json")
    lock_dataset(ds)  # re-lock: the new state is trusted from now on
    assert _verify(ds).ok


def test_size_change_is_reported_without_hashing(ds):
    p = ds / "fineweb_train_000000.bin"
    shards.write_shard(p, np.arange(10))
    rep = _verify(ds)
    _one_problem(rep, "fineweb_train_000000.bin", "the manifest recorded")


def test_non_canonical_shard_name_is_flagged(ds):
    (ds / "fineweb_val_0.bin").write_bytes(b"x")
    _one_problem(_verify(ds), "fineweb_val_0.bin", "not a canonical shard name")


def test_val_total_against_the_registry(ds):
    rep = _verify(ds, variant="caseops-sp8192")
    _one_problem(rep, "ds", f"{N_VAL:,} != 47,853,344")
    rep = _verify(ds, variant="sp8192")  # an interval figure
    _one_problem(rep, "ds", "outside [40,540,161, 40,542,208]")


def test_builder_figures_in_the_manifest_are_checked_for_the_embedded_variant(tmp_path):
    d = _build(tmp_path / "emb")
    lock_dataset(d, variant="embedded", figures={"val_tokens": N_VAL})
    assert _verify(d).ok and _verify(d).variant == "embedded"
    lock_dataset(d, variant="embedded", figures={"val_tokens": N_VAL + 1})
    _one_problem(_verify(d), "emb", f"{N_VAL:,} != {N_VAL + 1:,}")


def test_no_manifest_is_a_note_not_a_failure(tmp_path):
    d = _build(tmp_path / "d")
    rep = _verify(d)
    assert rep.ok and not rep.manifest_found and any("sha256 not checked" in n for n in rep.notes)


def test_lock_refuses_a_broken_shard_and_a_missing_dir(tmp_path):
    d = _build(tmp_path / "d")
    os.truncate(d / "fineweb_train_000000.bin", 2000)
    with pytest.raises(UsageError, match="fineweb_train_000000.bin"):
        lock_dataset(d)
    with pytest.raises(EnvironmentProblem):
        lock_dataset(tmp_path / "absent")
    with pytest.raises(EnvironmentProblem, match="does not exist"):
        verify_dataset(tmp_path / "absent")


def test_lock_hashes_the_tokenizer_in_the_organiser_layout(tmp_path, tokenizers_dir):
    d = _build(tmp_path / "data" / "datasets" / "fineweb10B_sp8192")
    (tmp_path / "data" / "tokenizers").mkdir()
    tok = tmp_path / "data" / "tokenizers" / "fineweb_8192_bpe.model"
    tok.write_bytes((tokenizers_dir / "fineweb_8192_bpe.model").read_bytes())
    m = lock_dataset(d, variant="sp8192")
    assert m.files["../../tokenizers/fineweb_8192_bpe.model"].sha256 == hashlib.sha256(tok.read_bytes()).hexdigest()
    with open(tok, "r+b") as f:
        f.write(b"\0")
    rep = _verify(d)
    assert any(p.startswith("../../tokenizers/fineweb_8192_bpe.model: sha256") for p in rep.problems), rep.problems


def test_parallel_hashing_matches_hashlib(tmp_path):
    rng = np.random.default_rng(3)
    paths = []
    for i in range(9):
        p = tmp_path / f"f{i}"
        p.write_bytes(rng.bytes(int(rng.integers(0, 3 * digest.CHUNK))))
        paths.append(p)
    want = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    seen = []
    assert mf.sha256_files(paths, jobs=1) == want
    assert mf.sha256_files(paths, jobs=4, progress=seen.append) == want
    assert sum(seen) == sum(p.stat().st_size for p in paths)


def _cli(*args):
    return run_cli("data", *args)


def test_cli_exit_codes_and_messages(tmp_path):
    d = _build(tmp_path / "ds")
    r = _cli("lock", d)
    assert r.returncode == 0 and "locked 5 files" in r.stdout
    r = _cli("verify", d)
    assert r.returncode == 0 and f"validation tokens: {N_VAL:,}" in r.stdout
    with open(d / "fineweb_train_000000.bin", "r+b") as f:
        f.seek(shards.HEADER_BYTES + 10)
        f.write(b"\x99")
    r = _cli("verify", d)
    assert r.returncode == 1 and "FAIL fineweb_train_000000.bin: sha256" in r.stdout and "Traceback" not in r.stderr
    r = _cli("verify", tmp_path / "nope")
    assert r.returncode == 3 and "does not exist" in r.stderr and "Traceback" not in r.stderr
    r = _cli("verify", d, "--variant", "no-such")
    assert r.returncode == 2 and "known:" in r.stderr


def test_data_group_discovers_data_star_modules(tmp_path):
    """A module harness/commands/data_<x>.py exposing ``command`` becomes `harness data <x>`."""
    extra = tmp_path / "more"
    extra.mkdir()
    (extra / "data_probe.py").write_text(
        "import click\n@click.command('probe')\ndef command():\n    click.echo('probe ran')\n")
    (extra / "data_other.py").write_text(
        "import click\n@click.command('other')\ndef data_command():\n    click.echo('other ran')\n")
    code = (
        "import sys, harness.commands as pkg\n"
        f"pkg.__path__.append({str(extra)!r})\n"
        "from harness.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for sub, out in (("probe", "probe ran"), ("other", "other ran")):
        r = subprocess.run([sys.executable, "-c", code, "data", sub], capture_output=True, text=True, env=env, timeout=60)
        assert r.returncode == 0 and out in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-c", code, "data", "--help"], capture_output=True, text=True, env=env, timeout=60)
    for name in ("fetch", "verify", "lock", "probe", "other"):
        assert f"  {name}" in r.stdout
