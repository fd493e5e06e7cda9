"""`harness fleet plan`: SkyPilot task files per (submission, seed), checked field by field, by SkyPilot's own
parser where SkyPilot is installed, and as the Slurm engine renders them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from fleet_helpers import REPO, harness
from harness.errors import UsageError
from harness.fleet import skypilot, slurm
from harness.fleet.plan import load_plan, make_plan
from harness.image import build_args
from harness.resolve import DEFAULT_MIRROR


@pytest.fixture
def canonical_copy(tmp_path) -> Path:
    """The reference's folder outside the registry, declared to read the canonical sp1024 data."""
    folder = tmp_path / "ref-sp1024"
    shutil.copytree(REPO / "submissions" / "reference", folder)
    manifest = folder / "harness.toml"
    text = manifest.read_text().replace('name = "reference"', 'name = "ref-sp1024"').replace(
        'data = "embedded"', 'data = "sp1024"')
    manifest.write_text(text)
    return folder


def test_official_plan_has_one_task_per_submission_and_seed(tmp_path, canonical_copy):
    proc = harness("fleet", "plan", str(canonical_copy), "--seeds", "42,314", "--store", "s3://pgolf-records",
                   "--infra", "runpod", "--out", str(tmp_path / "p1"))
    assert proc.returncode == 0, proc.stderr
    plan = load_plan(tmp_path / "p1")
    assert [(t.submission, t.seed) for t in plan.tasks] == [("ref-sp1024", 42), ("ref-sp1024", 314)]
    base = build_args()["BASE"]
    assert "@sha256:" in base
    for task in plan.tasks:
        cfg = yaml.safe_load((plan.folder / task.task_file).read_text())
        res = cfg["resources"]
        assert res["accelerators"] == "H100:8" and res["infra"] == "runpod"
        assert res["image_id"] == f"docker:{base}"
        assert cfg["file_mounts"]["/pgolf-store"] == {"source": "s3://pgolf-records", "mode": "MOUNT"}
        assert cfg["envs"]["PGOLF_SEED"] == str(task.seed)
        assert cfg["envs"]["PGOLF_OUT"] == f"/pgolf-store/p1/{task.submission}/seed-{task.seed}"
        assert 'harness reproduce "$PGOLF_REF" --mode official --seeds "$PGOLF_SEED" --out "$PGOLF_OUT"' in cfg["run"]
        # The image is the profile's base with the profile's own pins installed on it.
        assert f"torch=={build_args()['TORCH_SPEC'].split('==')[1]}" in cfg["setup"]
    ref_cfg = yaml.safe_load((plan.folder / "tasks/ref-sp1024-seed-42.yaml").read_text())
    # A folder outside the registry travels as a file mount; its data is fetched in setup.
    assert ref_cfg["envs"]["PGOLF_REF"] == "/pgolf-submissions/ref-sp1024"
    assert ref_cfg["file_mounts"]["/pgolf-submissions/ref-sp1024"] == str(canonical_copy.resolve())
    assert "harness data fetch sp1024 --dest data" in ref_cfg["setup"]


def test_a_registry_pr_travels_by_name_with_its_manifest(tmp_path):
    if not DEFAULT_MIRROR.exists():
        pytest.skip(f"no openai/parameter-golf mirror at {DEFAULT_MIRROR}: the PR's folder cannot be resolved")
    plan = make_plan(["pr2014", "submissions/pr1212"], [42, 314], mode="official", store="s3://b", out=tmp_path / "p")
    assert [(t.submission, t.seed) for t in plan.tasks] == [("pr2014", 42), ("pr2014", 314),
                                                            ("pr1212", 42), ("pr1212", 314)]
    cfg = yaml.safe_load((plan.folder / "tasks/pr2014-seed-314.yaml").read_text())
    assert cfg["envs"]["PGOLF_REF"] == "pr2014"  # the registry entry (its env, smoke settings, claims)
    assert "harness data fetch caseops-sp8192 --dest data" in cfg["setup"]


def test_official_plan_of_toy_data_and_unpinned_image_are_refused(tmp_path):
    proc = harness("fleet", "plan", "submissions/reference", "--store", "/s", "--out", str(tmp_path / "p"))
    assert proc.returncode == 2 and "official runs need a canonical dataset" in proc.stderr
    with pytest.raises(UsageError, match="not pinned by digest"):
        make_plan(["reference"], [1], mode="smoke", store="/s", out=tmp_path / "q", image="ghcr.io/x/pgolf:latest")


def test_smoke_plan_on_cpu_with_a_pinned_image_and_mounted_data(tmp_path):
    image = "ghcr.io/example/pgolf-harness@sha256:" + "a" * 64
    plan = make_plan(["reference"], [1, 2], mode="smoke", store="/shared/records", out=tmp_path / "p",
                     accelerators="none", image=image, data_source="gs://bucket/data", train_seconds=30,
                     compile_cache=True)
    cfg = yaml.safe_load((plan.folder / plan.tasks[1].task_file).read_text())
    assert cfg["resources"] == {"cpus": "2+", "image_id": f"docker:{image}",
                                "job_recovery": {"strategy": "FAILOVER", "max_restarts_on_errors": 0}}
    assert "setup" not in cfg and "file_mounts" not in cfg  # embedded data; the store is a folder
    assert cfg["envs"]["PGOLF_OUT"] == "/shared/records/p/reference/seed-2"
    assert "--train-seconds 30" in cfg["run"]
    assert "--compile-cache /shared/records/compile-cache" in cfg["run"]
    assert json.loads((plan.folder / "plan.json").read_text())["store"] == "/shared/records"


def test_skypilot_parses_every_task(tmp_path, canonical_copy):
    python = skypilot.sky_python()
    if python is None:
        pytest.skip("SkyPilot is not installed (no `sky` on PATH, PGOLF_SKY_PYTHON unset); .ci/run installs it "
                    "in its own venv")
    plan = make_plan([str(canonical_copy), "reference"], [7], mode="smoke", store="s3://b", out=tmp_path / "p",
                     infra="k8s", accelerators="H100:1")
    files = [plan.folder / t.task_file for t in plan.tasks]
    results = skypilot.validate_tasks(files, python)
    assert all(r["ok"] for r in results.values()), results
    assert all("H100" in r["resources"][0] for r in results.values())
    # The parser is SkyPilot's own: a misspelt resources key is refused.
    bad = files[0].read_text().replace("  accelerators:", "  accelerator:")
    files[0].write_text(bad)
    verdict = skypilot.validate_tasks([files[0]], python)[str(files[0])]
    assert not verdict["ok"] and "accelerator" in verdict["error"]


def test_slurm_renders_the_same_task_with_local_folders(tmp_path, canonical_copy):
    plan = make_plan([str(canonical_copy)], [3], mode="smoke", store=str(tmp_path / "store"), out=tmp_path / "p",
                     accelerators="H100:2", image="host", harness_cmd="python3 -m harness")
    cfg = skypilot.read_task(plan.folder / plan.tasks[0].task_file)
    script = slurm.task_script(cfg, REPO)
    assert f"export PGOLF_REF={canonical_copy.resolve()}" in script  # the mount is the folder itself
    assert f"export PGOLF_OUT={tmp_path / 'store' / 'p' / 'ref-sp1024' / 'seed-3'}" in script
    assert 'python3 -m harness reproduce "$PGOLF_REF" --mode smoke' in script
    array = slurm.array_script(plan, [tmp_path / "a.sh"], cfg["resources"])
    assert "#SBATCH --gres=gpu:2" in array and "#SBATCH --array=0-0" in array
    bucket_plan = make_plan(["reference"], [1], mode="smoke", store="s3://b", out=tmp_path / "b", image="host")
    with pytest.raises(UsageError, match="bucket"):
        slurm.launch(bucket_plan, REPO)
