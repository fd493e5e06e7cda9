"""Shared by the fleet tests: run the harness CLI of this checkout, and compare records in content."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Three training steps, not the wall clock, end each smoke seed: its val_bpb is then the same
# whichever run (one seed or two, here or in a Slurm job) computes it, so records can be compared.
DETERMINISTIC = ["--train-seconds", "120", "--env", "ITERATIONS=3"]


def harness(*args: str, timeout: float = 600, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "harness", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env)


def reproduce_reference(out: Path, run_id: str, seeds: str) -> Path:
    proc = harness("reproduce", "submissions/reference", "--mode", "smoke", "--seeds", seeds, *DETERMINISTIC,
                   "--out", str(out), "--run-id", run_id, "--no-progress")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out / run_id


def load(run: Path) -> dict:
    return json.loads((run / "submission.json").read_text())


# Rules whose findings depend on what else ran on the machine at the time, not on the submission.
_CIRCUMSTANTIAL = {"host.shared", "record.merge", "fleet.node_types"}
_TIMINGS = {"train_time_s", "eval_time_s"}


def content(record: dict) -> dict:
    """What a reproduction found, without when and how long it took: seeds, per-seed scores, bytes and
    steps, verdict statuses, statistics, findings (rule, severity, seed)."""
    v = record["verification"]
    return {
        "name": record["name"], "seeds": record["seeds"],
        "top": {k: record[k] for k in ("val_loss", "val_bpb", "val_loss_std", "val_bpb_std", "bytes_total",
                                       "bytes_code", "hardware", "pytorch_version")},
        "seed_results": {s: {k: x for k, x in r.items() if k not in _TIMINGS} for s, r in record["seed_results"].items()},
        "verdicts": {s: [(x["name"], x["status"]) for x in p["verdicts"]] for s, p in v["per_seed"].items()},
        "artifacts": {s: p.get("artifact_sha256") for s, p in v["per_seed"].items()},
        "stats": v["stats"], "mode": v["mode"], "policy": v["policy"], "data": v["data"], "code": v["code"],
        "unofficial": v["unofficial_reasons"],
        "findings": [(f["rule"], f["severity"], f["seed"]) for f in v["findings"] if f["rule"] not in _CIRCUMSTANTIAL],
        "comparison": (v.get("comparison") or {}).get("verdict"),
    }
