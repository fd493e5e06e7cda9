"""harness.core.verdict: one verdict type whose JSON keeps each kind's old shape."""

from __future__ import annotations

import pytest

from harness.core import verdict as vd
from harness.core.verdict import Verdict


def test_timing_verdict_writes_the_record_shape() -> None:
    v = Verdict.timing("train", vd.PASS_GRACE, 600.1, 600.0, "loop 600.1", ["over by 0.1 s"], False,
                       [{"segment": "loop", "seconds": 600.1}])
    v.policy = "organizer-tda-v1"
    assert list(v.to_dict()) == ["name", "status", "value_s", "cap_s", "detail", "warnings", "lower_bound", "parts",
                                 "policy", "official"]
    assert v.to_dict()["value_s"] == 600.1 and v.value_s == 600.1 and v.cap_s == 600.0 and not v.lower_bound


def test_acceptance_verdict_writes_the_leaderboard_shape() -> None:
    v = Verdict(vd.ACCEPTANCE, vd.REJECTED, reasons=["worse than SOTA"])
    v.numbers.update(test="welch", t=1.5, df=4.0, p=0.09, seeds_used=3)
    d = v.to_dict()
    assert list(d) == ["status", "reasons", "sota_before", "sota_bpb", "margin_bpb", "test", "t", "df", "p",
                       "seeds_used"]
    assert d["sota_bpb"] is None and d["seeds_used"] == 3 and v.p == 0.09 and v.test == "welch"


def test_a_status_of_another_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="not a timing verdict status"):
        Verdict(vd.TIMING, vd.ACCEPTED)
    with pytest.raises(ValueError):
        Verdict(vd.REPRODUCTION, vd.COMPLIES)


def test_to_dict_copies() -> None:
    v = Verdict.timing("eval", vd.PASS, 1.0, 2.0, warnings=["w"])
    v.to_dict()["warnings"].append("changed")
    assert v.warnings == ["w"]
