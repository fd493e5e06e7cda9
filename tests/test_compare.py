"""Claimed vs reproduced, with real claims from fixture records and synthetic reproductions."""

from __future__ import annotations

import dataclasses

import pytest

from harness.core.compare import (
    POOLED_SEED_DOF,
    POOLED_SEED_STD_BPB,
    STD_FLOOR_BPB,
    SeedFigures,
    claim_from_record,
    claimed_spread,
    compare,
    mean_tolerance,
    spread_dof,
)
from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.legacy_record import LegacyRecord

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


def test_pooled_seed_std_is_the_fixture_records_pooled_spread(records_dir):
    """POOLED_SEED_STD_BPB / POOLED_SEED_DOF are what the record-track fixtures pool to (not a guess)."""
    num = dof = 0.0
    for sub in sorted((records_dir / "track_10min_16mb").glob("*/submission.json")):
        values = LegacyRecord.from_path(sub).per_seed_bpb()
        if len(values) >= 2:
            m = sum(values) / len(values)
            num += sum((v - m) ** 2 for v in values)
            dof += len(values) - 1
    assert dof == POOLED_SEED_DOF
    assert (num / dof) ** 0.5 == pytest.approx(POOLED_SEED_STD_BPB, abs=5e-6)


def test_a_two_seed_claim_borrows_the_records_spread():
    """t with one degree of freedom (63.7) made a 2-seed claim match almost anything; the pooled spread does not."""
    claim = [SeedFigures("1", val_bpb=1.0800), SeedFigures("2", val_bpb=1.0810)]
    s = claimed_spread(claim)
    assert spread_dof(2) == 1 + POOLED_SEED_DOF
    assert 0.0007 < s < 0.00073  # between the claim's own 0.000707 and the pooled 0.00072
    assert mean_tolerance(s, 2, 1) < 0.003
    # another seed than the claimed ones: only the mean check can judge it
    off_by_a_hundredth = compare([SeedFigures("3", val_bpb=1.0905)], claim)
    assert off_by_a_hundredth.verdict == "does not reproduce"
    assert _status(off_by_a_hundredth.mean, "mean_val_bpb") == "error"
    assert _status(compare([SeedFigures("3", val_bpb=1.0807)], claim).mean, "mean_val_bpb") == "ok"


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
