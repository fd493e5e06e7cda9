"""Claimed vs reproduced, with real claims from fixture records and synthetic reproductions."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.compare import (
    STD_FLOOR_BPB,
    SeedFigures,
    claim_from_record,
    claimed_spread,
    compare,
    mean_tolerance,
)
from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.records import LegacyRecord

LQER = "track_10min_16mb/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"


@pytest.fixture()
def lqer_claim(records_dir):
    return claim_from_record(LegacyRecord.from_path(records_dir / LQER / "submission.json"))


def _status(checks, name):
    return next(c for c in checks if c.name == name).status


def test_claim_adapter_reads_per_seed_values(lqer_claim):
    by_seed = {s.seed: s for s in lqer_claim}
    assert set(by_seed) == {"42", "0", "1234"}
    assert by_seed["42"].val_bpb == pytest.approx(1.05989454)
    assert by_seed["1234"].artifact_bytes == 15907550
    assert by_seed["0"].steps == 4932


def test_identical_reproduction_reproduces(lqer_claim):
    result = compare([dataclasses.replace(s) for s in lqer_claim], lqer_claim)
    assert result.verdict == "reproduces"


def test_tolerance_formula_matches_hand_computation(lqer_claim):
    values = [s.val_bpb for s in lqer_claim]
    m = sum(values) / 3
    s_hand = (sum((v - m) ** 2 for v in values) / 2) ** 0.5
    assert claimed_spread(lqer_claim) == pytest.approx(max(s_hand, STD_FLOOR_BPB))
    # t(0.995, df=2) = 9.9248..., sqrt(1/3 + 1/3)
    assert mean_tolerance(s_hand, 3, 3) == pytest.approx(9.924843 * s_hand * (2 / 3) ** 0.5, rel=1e-5)


def test_shifted_seed_is_flagged(lqer_claim):
    run = [dataclasses.replace(s) for s in lqer_claim]
    run[0].val_bpb += 0.01  # far outside 3 s (s is about 0.0011)
    result = compare(run, lqer_claim)
    assert _status(result.seeds[run[0].seed], "val_bpb") == "error"
    assert result.verdict == "does not reproduce"


def test_seed_over_the_cap_is_an_error(lqer_claim):
    run = [dataclasses.replace(s) for s in lqer_claim]
    run[1].artifact_bytes = ARTIFACT_CAP_BYTES + 4_000  # bf16 nondeterminism moved it a few kB
    result = compare(run, lqer_claim)
    assert _status(result.seeds[run[1].seed], "bytes") == "error"
    assert _status(result.mean, "all_seeds_under_cap") == "error"


def test_fewer_steps_warns_and_names_nodes(lqer_claim):
    run = [dataclasses.replace(s, steps=4070) for s in lqer_claim]
    result = compare(run, lqer_claim, claim_node="8x NVIDIA H100 80GB HBM3", run_node="8x NVIDIA H200")
    assert all(_status(c, "steps") == "warning" for c in result.seeds.values())
    assert _status(result.mean, "node") == "warning"
    assert result.verdict == "reproduces with warnings"


def test_missing_headline_is_an_error(lqer_claim):
    run = [SeedFigures(seed="42", val_bpb=None, artifact_bytes=15_000_000)]
    assert compare(run, lqer_claim).verdict == "does not reproduce"
