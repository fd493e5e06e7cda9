"""The verifier's vocabulary: rules, findings and their evidence.

A rule is data (id, title, default severity, source, group) plus one small
check function. A check returns findings; an empty list means the rule saw
nothing wrong *in what it could see*. Statuses keep "not checked" apart from
"checked": static heuristics never claim a submission is clean, they say
``needs_runtime_probe``; rules whose input is missing say ``not_available``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Literal

if TYPE_CHECKING:  # pragma: no cover
    from verifier.subject import Subject

Severity = Literal["error", "warning", "info"]
Group = Literal["code", "log", "record", "reproduction"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

# What a finding says about its rule's outcome on this subject.
#   violation            the rule is broken (evidence attached)
#   needs_runtime_probe  a static heuristic fired or cannot decide; only a run can tell
#   not_available        the input the rule needs is absent (no code, no log, no claims)
#   observation          a fact worth showing (sizes, decoded payloads, strict-policy verdicts)
Status = Literal["violation", "needs_runtime_probe", "not_available", "observation"]


@dataclass
class Evidence:
    file: str | None = None
    line: int | None = None
    excerpt: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Finding:
    rule_id: str
    severity: Severity
    status: Status
    message: str
    evidence: list[Evidence] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # numbers behind the message, for JSON readers

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "evidence": [e.to_dict() for e in self.evidence],
            "data": self.data,
        }


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
                evidence: list[Evidence] | None = None, **data: Any) -> Finding:
        """Build a finding of this rule (severity defaults to the rule's)."""
        return Finding(self.id, severity or self.severity, status, message, evidence or [], data)

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "severity": self.severity, "group": self.group,
                "source": self.source, "needs": list(self.needs), "since": self.since}

    def in_force(self, opened_on: str | None) -> bool:
        """Whether this rule applied to a PR opened on ``opened_on`` (ISO day; None: judged by every rule)."""
        return opened_on is None or not self.since or self.since <= opened_on


def excerpt(text: str, limit: int = 160) -> str:
    """One line of evidence, trimmed (minified files have very long lines)."""
    text = text.strip().replace("\t", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
