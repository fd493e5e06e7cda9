"""`harness record merge`: per-seed records of the real reference submission become the record of one
two-seed run (same statistics, seeds, verdicts, findings); mismatched records are refused."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from fleet_helpers import content, harness, load, reproduce_reference
from harness.fleet import merge as fleet_merge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """Seed 1 alone, seed 2 alone and seeds 1,2 in one run (about a minute on 2 cores, once per session)."""
    out = tmp_path_factory.mktemp("fleet-runs")
    return {name: reproduce_reference(out, name, seeds)
            for name, seeds in (("seed1", "1"), ("seed2", "2"), ("both", "1,2"))}


def test_merged_record_equals_a_two_seed_run(runs, tmp_path):
    out = tmp_path / "merged"
    proc = harness("record", "merge", str(runs["seed1"]), str(runs["seed2"]), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    merged, single = load(out), load(runs["both"])
    assert content(merged) == content(single)
    assert merged["verification"]["stats"]["n"] == 2
    # Provenance: each seed's log is beside the merged record under the path the record names.
    for seed, block in merged["verification"]["per_seed"].items():
        assert (out / block["log_path"]).is_file()
        assert block["node"] == load(runs[f"seed{seed}"])["verification"]["environment"]["node"]
    merge_note = [f for f in merged["verification"]["findings"] if f["rule"] == fleet_merge.MERGE_RULE]
    assert set(merge_note[0]["evidence"]["records"]) == {"1", "2"}
    assert not [f for f in merged["verification"]["findings"] if f["rule"] == fleet_merge.NODE_TYPES_RULE]
    assert harness("record", "validate", str(out / "submission.json")).returncode == 0


def _altered(run: Path, dest: Path, change) -> Path:
    """A copy of a real run whose record differs in one field (what another node or version would write)."""
    rec = copy.deepcopy(load(run))
    change(rec)
    dest.mkdir(parents=True)
    (dest / "submission.json").write_text(json.dumps(rec))
    return dest


OTHER_SHA = "0" * 63 + "1"


@pytest.mark.parametrize("what,change", [
    ("submission version", lambda r: r["verification"]["code"]["files"][0].update(sha256=OTHER_SHA)),
    ("data", lambda r: r["verification"]["data"].update(content_sha256=OTHER_SHA)),
    ("data", lambda r: r["verification"]["data"].update(tokenizer_sha256=OTHER_SHA)),
    ("policy", lambda r: r["verification"]["policy"].update(id="strict", sha256=OTHER_SHA)),
])
def test_records_of_another_experiment_are_refused(runs, tmp_path, what, change):
    other = _altered(runs["seed2"], tmp_path / "other", change)
    proc = harness("record", "merge", str(runs["seed1"]), str(other), "--out", str(tmp_path / "merged"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and f"different {what}" in lines[0], proc.stderr
    assert not (tmp_path / "merged" / "submission.json").exists()


def test_a_seed_twice_is_refused(runs, tmp_path):
    proc = harness("record", "merge", str(runs["seed1"]), str(runs["both"]), "--out", str(tmp_path / "m"))
    assert proc.returncode == 2 and "seed 1 is in two records" in proc.stderr


def test_seeds_on_different_node_types_are_flagged_and_keep_their_node(runs, tmp_path):
    h100 = {"gpus": [{"name": "NVIDIA H100 80GB HBM3"}] * 8, "gpu_count": 8,
            "gpu_names": ["NVIDIA H100 80GB HBM3"] * 8, "driver": "570.1", "benchmarks": "measured"}

    def on_h100(rec):
        rec["verification"]["environment"]["node"] = h100
    gpu_run = _altered(runs["seed2"], tmp_path / "gpu", on_h100)
    merged = fleet_merge.merge_records(fleet_merge.load_records([runs["seed1"], gpu_run]), None, None, "m")
    flag = [f for f in merged["verification"]["findings"] if f["rule"] == fleet_merge.NODE_TYPES_RULE]
    assert len(flag) == 1 and flag[0]["severity"] == "warning"
    assert flag[0]["evidence"]["node_types"] == {"1": "no GPU", "2": "8x NVIDIA H100 80GB HBM3"}
    assert merged["verification"]["per_seed"]["2"]["node"] == h100
    assert merged["verification"]["per_seed"]["1"]["node"]["gpu_count"] == 0
    # Still the statistics of both seeds.
    assert merged["verification"]["stats"] == load(runs["both"])["verification"]["stats"]


def test_the_same_data_fetched_on_another_node_merges(runs, tmp_path):
    """Another node's copy of the dataset has its own manifest file (another creation time, so another
    manifest_sha256) but the same content: its seeds merge, and the merge note keeps each file's sha256."""
    other = _altered(runs["seed2"], tmp_path / "other", lambda r: r["verification"]["data"].update(
        manifest_sha256=OTHER_SHA))
    merged = fleet_merge.merge_records(fleet_merge.load_records([runs["seed1"], other]), None, None, "m")
    assert merged["verification"]["stats"] == load(runs["both"])["verification"]["stats"]
    note = next(f for f in merged["verification"]["findings"] if f["rule"] == fleet_merge.MERGE_RULE)
    assert note["evidence"]["records"]["2"]["data_manifest_sha256"] == OTHER_SHA


def test_data_content_digest_ignores_only_the_creation_time(runs):
    from harness.data.manifest import content_sha256, read_manifest
    from harness.data.prepare import prepare_data

    manifest = read_manifest(prepare_data("embedded", None).data_dir)
    digest = content_sha256(manifest)
    assert load(runs["seed1"])["verification"]["data"]["content_sha256"] == digest
    manifest.created_at = "2000-01-01T00:00:00Z"
    assert content_sha256(manifest) == digest
    first = next(iter(manifest.files.values()))
    first.sha256 = OTHER_SHA
    assert content_sha256(manifest) != digest
