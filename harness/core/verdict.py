"""The one verdict type: what was judged, the outcome, why, and with which numbers.

Four kinds of judgement use it:

* ``timing``: a policy's verdict on one budget of one log (``train``, ``eval``,
  ``artifact_production``), see :mod:`harness.core.policy`;
* ``acceptance``: an acceptance policy's verdict on one leaderboard entry, see
  :mod:`harness.leaderboard.board`;
* ``reproduction`` and ``compliance``: the two verdicts of ``harness compare``
  (do the reproduced numbers match the claim; did the reproduced run keep the
  rules), see :mod:`harness.core.compare`.

Each kind has its statuses (constants below) and its own JSON shape in the
records and reports: :meth:`Verdict.to_dict` writes the fields of that shape
in the order records have always had, so a record written before this type
existed reads the same.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

TIMING = "timing"
ACCEPTANCE = "acceptance"
REPRODUCTION = "reproduction"
COMPLIANCE = "compliance"

# timing: <= cap, <= cap + grace (warned), over, not measurable, shown without judging
PASS = "PASS"
PASS_GRACE = "PASS_GRACE"
FAIL = "FAIL"
UNDETERMINED = "UNDETERMINED"
REPORTED = "REPORTED"

# acceptance
BASELINE = "baseline"
ACCEPTED = "accepted"
REJECTED = "rejected"
NOT_RANKED = "not_ranked"
FRONTIER = (BASELINE, ACCEPTED)  # the statuses that make an entry the new state of the art

# reproduction and compliance, worst first: any error, any warning, nothing judged, all ok
DOES_NOT_REPRODUCE = "does not reproduce"
REPRODUCES_WITH_WARNINGS = "reproduces with warnings"
NOT_COMPARABLE = "not comparable"
REPRODUCES = "reproduces"
REPRODUCTION_STATUSES = (DOES_NOT_REPRODUCE, REPRODUCES_WITH_WARNINGS, NOT_COMPARABLE, REPRODUCES)

DOES_NOT_COMPLY = "does not comply"
COMPLIES_WITH_WARNINGS = "complies with warnings"
COMPLIANCE_UNKNOWN = "compliance unknown"
COMPLIES = "complies"
COMPLIANCE_STATUSES = (DOES_NOT_COMPLY, COMPLIES_WITH_WARNINGS, COMPLIANCE_UNKNOWN, COMPLIES)

STATUSES: dict[str, tuple[str, ...]] = {
    TIMING: (PASS, PASS_GRACE, FAIL, UNDETERMINED, REPORTED),
    ACCEPTANCE: (BASELINE, ACCEPTED, REJECTED, NOT_RANKED),
    REPRODUCTION: REPRODUCTION_STATUSES,
    COMPLIANCE: COMPLIANCE_STATUSES,
}

# The JSON shape of each kind, in the order records and reports have always written it. A name
# that is not a field of Verdict is one of its numbers (default: the value given here).
_SHAPES: dict[str, dict[str, Any]] = {
    TIMING: {"name": "", "status": "", "value_s": None, "cap_s": None, "detail": "", "warnings": [],
             "lower_bound": False, "parts": [], "policy": "", "official": True},
    ACCEPTANCE: {"status": "", "reasons": [], "sota_before": None, "sota_bpb": None, "margin_bpb": None,
                 "test": None, "t": None, "df": None, "p": None, "seeds_used": 0},
}
_GENERIC_SHAPE = {"kind": "", "status": "", "name": "", "detail": "", "reasons": [], "numbers": {}}


def _figure(key: str, default: Any = None) -> Any:
    """A read-only attribute for ``numbers[key]``."""
    return property(lambda self: self.numbers.get(key, default), doc=f"numbers[{key!r}]")


@dataclass
class Verdict:
    kind: str                  # TIMING | ACCEPTANCE | REPRODUCTION | COMPLIANCE
    status: str                # one of STATUSES[kind]
    name: str = ""             # what was judged: train | eval | artifact_production (timing)
    detail: str = ""           # one line that says how the status was reached
    reasons: list[str] = field(default_factory=list)   # why, most important first
    warnings: list[str] = field(default_factory=list)  # facts that do not change the status
    numbers: dict[str, Any] = field(default_factory=dict)  # the figures behind the status
    parts: list[dict[str, Any]] = field(default_factory=list)  # timing: the segments that made value_s
    policy: str = ""           # id of the policy that judged
    official: bool = True      # False for the smoke policy's scaled budgets

    def __post_init__(self) -> None:
        if self.status not in STATUSES.get(self.kind, (self.status,)):
            raise ValueError(f"{self.status!r} is not a {self.kind} verdict status ({', '.join(STATUSES[self.kind])})")

    @classmethod
    def timing(cls, name: str, status: str, value_s: float | None, cap_s: float | None, detail: str = "",
               warnings: list[str] | None = None, lower_bound: bool = False,
               parts: list[dict[str, Any]] | None = None) -> "Verdict":
        return cls(TIMING, status, name=name, detail=detail, warnings=list(warnings or []), parts=list(parts or []),
                   numbers={"value_s": value_s, "cap_s": cap_s, "lower_bound": lower_bound})

    # The figures each kind reads by name (kept in ``numbers``, so one type serves every kind).
    value_s = _figure("value_s")            # timing: seconds measured
    cap_s = _figure("cap_s")                # timing: the budget
    lower_bound = _figure("lower_bound", False)  # timing: value_s is only a lower bound
    p = _figure("p")                        # acceptance: p-value of the significance test
    test = _figure("test")                  # acceptance: welch | one_sample | None
    margin_bpb = _figure("margin_bpb")      # acceptance: the improvement required, in BPB
    seeds_used = _figure("seeds_used", 0)   # acceptance: seeds the test used

    def to_dict(self) -> dict[str, Any]:
        shape = _SHAPES.get(self.kind, _GENERIC_SHAPE)
        own = self.__dict__
        return {k: copy.deepcopy(own[k] if k in own else self.numbers.get(k, default))
                for k, default in shape.items()}
