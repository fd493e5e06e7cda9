"""`harness log timeline|policies` in-process: policy ids of another kind are usage errors, not tracebacks."""

from __future__ import annotations

import json

import pytest


@pytest.fixture(scope="module")
def baseline_log(records_dir):
    return records_dir / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "train.log"


@pytest.mark.parametrize("policy, kind", [("acceptance-readme", "an acceptance"), ("reference-2026-04", "an env")])
def test_timeline_refuses_a_policy_of_another_kind(harness_cli, baseline_log, policy, kind):
    res = harness_cli("log", "timeline", baseline_log, "--policy", policy)
    assert res.exit_code == 2, res.output
    assert f"'{policy}' is {kind} policy, not a timing policy" in res.stderr
    assert "organizer-tda-v1" in res.stderr  # the timing policies are listed


def test_timeline_with_the_default_policies(harness_cli, baseline_log):
    res = harness_cli("log", "timeline", baseline_log, "--json")
    assert res.exit_code == 0, res.output
    assert set(json.loads(res.stdout)["policies"]) == {"organizer-tda-v1", "strict"}


def test_policies_lists_every_kind(harness_cli):
    res = harness_cli("log", "policies", "--json")
    assert res.exit_code == 0
    assert {r["kind"] for r in json.loads(res.stdout)} == {"timing", "acceptance", "env"}
