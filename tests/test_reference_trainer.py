"""The reference submission, run for real: torchrun + gloo on the embedded data.

The log it prints must be readable by the one core parser (headline metric,
sizes), its artifact must exist, the size line must agree with the files on
disk, and the BPB it prints must use the bytes of the exact scored range.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core import shards

# The one log parser reads the trainer's output.
from harness.core.events import parse_lines
from harness.core.metrics import pick_headline, summarize
from harness.measure import scored_bytes_from_data
from harness.data.prepare import prepare_data

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "submissions" / "reference" / "train_gpt.py"
TINY = {"TRAIN_SEQ_LEN": "128", "TRAIN_BATCH_TOKENS": "4096", "MODEL_DIM": "64", "NUM_LAYERS": "2",
        "ITERATIONS": "12", "MAX_WALLCLOCK_SECONDS": "20", "TRAIN_LOG_EVERY": "4", "VAL_LOSS_EVERY": "6"}


@pytest.fixture(scope="session")
def embedded():
    return prepare_data("embedded", None)


def run_trainer(workdir: Path, data_dir: Path, tokenizer: Path | None, vocab: int, nproc: int, seed: int,
                extra: dict | None = None) -> str:
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(TRAINER, workdir / "train_gpt.py")
    env = {**os.environ, **TINY, "DATA_PATH": str(data_dir), "VOCAB_SIZE": str(vocab), "SEED": str(seed),
           "RUN_ID": f"t{seed}", "PYTHONUNBUFFERED": "1", **(extra or {})}
    if tokenizer:
        env["TOKENIZER_PATH"] = str(tokenizer)
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                           str(nproc), "train_gpt.py"], cwd=workdir, env=env, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def _check_log_and_artifact(lines: list[str], workdir: Path, data, nproc: int, seed: int) -> None:
    """What the reference prints is what the harness reads: headline, world, seed, sizes, scored range, bytes."""
    events = parse_lines(lines)
    summary = summarize(events)
    head = pick_headline(events)
    assert head is not None, "\n".join(lines[-40:])
    assert head.name == "final_int8_zlib_roundtrip_exact"
    assert 0 < head.val_bpb < 10 and 0 < head.val_loss < 10
    assert summary.world_size == nproc
    assert summary.seed == seed
    # The artifact is on disk and the logged total is code + that file, byte for byte.
    art = workdir / "final_model.int8.ptz"
    assert art.is_file()
    code = (workdir / "train_gpt.py").stat().st_size
    assert summary.artifact_bytes == art.stat().st_size + code
    assert summary.code_bytes == code
    # The printed BPB uses the bytes of exactly the scored targets (sidecar in the embedded data).
    scored = summary.val_tokens
    # Full coverage: every target of the stream (N - 1), including the short tail sequence.
    assert scored == sum(shards.read_header(p).num_tokens for p in shards.list_shards(data.data_dir, "val")) - 1
    expected, how = scored_bytes_from_data(data.data_dir, data.tokenizer_path, scored)
    implied = head.val_loss / math.log(2) * scored / head.val_bpb
    assert implied == pytest.approx(expected, rel=1e-6), how


def test_reference_on_one_rank_logs_what_the_harness_reads(claimed_reference_run, embedded) -> None:
    """One rank: the shared smoke reproduction's seed 1 (conftest.py) instead of a run of its own."""
    res, _ = claimed_reference_run
    seed_dir = res.run_dir / "seed-1"
    lines = [ln.split(" ", 1)[1] if " " in ln else "" for ln in (seed_dir / "harness.log").read_text().splitlines()]
    _check_log_and_artifact(lines, seed_dir / "work", embedded, nproc=1, seed=1)


def test_reference_on_two_ranks_logs_what_the_harness_reads(tmp_path: Path, embedded) -> None:
    out = run_trainer(tmp_path, embedded.data_dir, embedded.tokenizer_path, embedded.vocab_size, 2, seed=7)
    _check_log_and_artifact(out.splitlines(), tmp_path, embedded, nproc=2, seed=7)
    assert summarize(parse_lines(out.splitlines())).steps == 12


def test_lut_path_without_sidecar_and_wallclock_stop(tmp_path: Path, embedded) -> None:
    """Without a byte sidecar the trainer counts bytes from SentencePiece tables; a tiny cap stops it early."""
    data = tmp_path / "data"
    data.mkdir()
    for kind in ("train", "val"):
        for p in shards.list_shards(embedded.data_dir, kind):
            os.symlink(p, data / p.name)
    out = run_trainer(tmp_path / "run", data, embedded.tokenizer_path, embedded.vocab_size, 1, seed=3,
                      extra={"ITERATIONS": "100000", "MAX_WALLCLOCK_SECONDS": "1.5", "VAL_LOSS_EVERY": "0"})
    assert "val_bpb:enabled tokenizer_kind=sentencepiece" in out
    assert "stopping_early: wallclock_cap" in out
    events = parse_lines(out.splitlines())
    head = pick_headline(events)
    scored = summarize(events).val_tokens
    expected, how = scored_bytes_from_data(data, embedded.tokenizer_path, scored)
    assert how == "sentencepiece byte tables"
    implied = head.val_loss / math.log(2) * scored / head.val_bpb
    assert implied == pytest.approx(expected, rel=1e-6)
