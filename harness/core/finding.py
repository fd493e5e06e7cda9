"""The one shape of a finding: what a check saw, how bad it is, and what backs it.

Both the verifier's rules and `harness env check` speak in findings. A finding
names its rule (``rule_id``: "code.network", "hardware.count", "env.torch"), a
severity, a status that keeps "not checked" apart from "checked", a message for
people, evidence (file and line, where there is one), the numbers behind the
message for JSON readers (``data``: a rule's figures, or an env check's
expected / found / logged values) and, where a reader can act on it, a hint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

# What a finding says about its rule's outcome on this subject.
#   violation            the rule is broken (evidence attached)
#   needs_runtime_probe  a static heuristic fired or cannot decide; only a run can tell
#   not_available        the input the rule needs is absent (no code, no log, no claims)
#   observation          a fact worth showing (sizes, decoded payloads, strict-policy verdicts)
Status = Literal["violation", "needs_runtime_probe", "not_available", "observation"]


# Plain records (their to_dict shape recurs in other dataclasses by nature, not as repeated logic).
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
    hint: str = ""  # what to do about it, when there is something to do

    def to_dict(self) -> dict[str, Any]:
        out = {
            "rule_id": self.rule_id,
            "severity": self.severity,
            "status": self.status,
            "message": self.message,
            "evidence": [e.to_dict() for e in self.evidence],
            "data": self.data,
        }
        # only findings that carry a hint show the key: the verifier's report schema and goldens predate it
        if self.hint:
            out["hint"] = self.hint
        return out


def excerpt(text: str, limit: int = 160) -> str:
    """One line of evidence, trimmed (minified files have very long lines)."""
    text = text.strip().replace("\t", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"
