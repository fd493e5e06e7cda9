"""The verifier's rules: data plus one small check each (findings are ``harness.core.finding``'s).

A rule is data (id, title, default severity, source, group) plus one small
check function. A check returns findings; an empty list means the rule saw
nothing wrong *in what it could see*. Statuses keep "not checked" apart from
"checked": static heuristics never claim a submission is clean, they say
``needs_runtime_probe``; rules whose input is missing say ``not_available``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal

from harness.core.finding import Evidence, Finding, Severity, Status

if TYPE_CHECKING:  # pragma: no cover
    from verifier.subject import Subject

Group = Literal["code", "log", "record", "reproduction"]

CheckFn = Callable[["Subject"], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity  # default severity of a violation
    group: Group
    source: str  # README line, organizer ruling (with date) or DESIGN.md section
    check: CheckFn
    needs: tuple[str, ...] = ()  # inputs: "code", "logs", "claims"
    since: str = ""  # ISO day the rule took effect (README commit or ruling); a PR opened before it is not judged by it

    def finding(self, message: str, *, status: Status = "violation", severity: Severity | None = None,
                evidence: list[Evidence] | None = None, hint: str = "", **data: Any) -> Finding:
        """Build a finding of this rule (severity defaults to the rule's)."""
        return Finding(self.id, severity or self.severity, status, message, evidence or [], data, hint)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity, "group": self.group,
                "source": self.source, "needs": list(self.needs), "since": self.since}

    def in_force(self, opened_on: str | None) -> bool:
        """Whether this rule applied to a PR opened on ``opened_on`` (ISO day; None: judged by every rule)."""
        return opened_on is None or not self.since or self.since <= opened_on

