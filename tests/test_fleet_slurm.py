"""A plan of two submissions x two seeds end to end through Slurm on this machine (sbatch job arrays;
.ci/setup-slurm.sh starts a single-node cluster): plan, launch, status, collect. Each merged record equals
in content a local two-seed run of the same code."""

from __future__ import annotations

import shutil
import sys

import pytest

from fleet_helpers import DETERMINISTIC, REPO, content, harness, load, reproduce_reference
from harness.fleet import slurm

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster() -> None:
    why = slurm.available()
    if why:
        pytest.skip(f"no Slurm cluster here ({why}); sh .ci/setup-slurm.sh starts one")


def test_two_submissions_by_two_seeds_through_slurm(cluster, tmp_path):
    # A second submission: the reference's code under another name, in a folder outside the registry
    # (the plan mounts it; on Slurm the mount is the folder itself).
    twin = tmp_path / "twin"
    shutil.copytree(REPO / "submissions" / "reference", twin)
    manifest = twin / "harness.toml"
    manifest.write_text(manifest.read_text().replace('name = "reference"', 'name = "twin"'))
    store, plan_dir = tmp_path / "store", tmp_path / "plan"

    proc = harness("fleet", "plan", "submissions/reference", str(twin), "--mode", "smoke", "--seeds", "1,2",
                   "--accelerators", "none", "--image", "host", "--store", str(store), "--out", str(plan_dir),
                   "--harness-cmd", f"{sys.executable} -m harness", "--train-seconds", DETERMINISTIC[1],
                   "--env", DETERMINISTIC[3])
    assert proc.returncode == 0, proc.stderr
    before = harness("fleet", "status", str(plan_dir))
    assert before.returncode == 0 and before.stdout.count("not launched") == 4

    launched = harness("fleet", "launch", str(plan_dir), "--engine", "slurm", "--wait", "900", timeout=1000)
    assert launched.returncode == 0, launched.stdout + launched.stderr
    status = harness("fleet", "status", str(plan_dir))
    assert status.returncode == 0
    for task in ("reference-seed-1", "reference-seed-2", "twin-seed-1", "twin-seed-2"):
        row = next(line for line in status.stdout.splitlines() if task in line)
        assert " done " in row and "train:PASS" in row, status.stdout

    collected = harness("fleet", "collect", str(plan_dir))
    assert collected.returncode == 0, collected.stdout + collected.stderr
    merged = {p.parent.parent.name: load(p.parent) for p in (plan_dir / "records").glob("*/*/submission.json")}
    assert sorted(merged) == ["reference", "twin"]

    local = load(reproduce_reference(tmp_path / "local", "both", "1,2"))
    assert content(merged["reference"]) == content(local)
    # The twin runs the same code under another name: the same figures, seed for seed.
    twin_content, local_content = content(merged["twin"]), content(local)
    assert twin_content.pop("name") == "twin" and local_content.pop("name") == "reference"
    assert twin_content == local_content
