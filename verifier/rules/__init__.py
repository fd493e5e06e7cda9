"""The rule catalogue: every rule with its id, title, severity, group and source.

Rules are data (``verifier.model.Rule``) plus one small check function each;
they live in one module per rule family and register themselves on import.
"""

from __future__ import annotations

import hashlib

# Each rule module registers its rules on import; the catalogue is their union.
from verifier.model import Rule
from verifier.rules import (budget, bytes, cache, counted, coverage, data, dependencies, log,  # noqa: F401
                            network, parse, record, reproduction, scoring, timing, ttt, validation)
from verifier.rules.registration import HEURISTIC, RULES

GROUP_ORDER = ("code", "log", "record", "reproduction")


def catalogue() -> list[Rule]:
    """All rules, grouped in report order."""
    return sorted(RULES.values(), key=lambda r: (GROUP_ORDER.index(r.group), r.id))


def get_rule(rule_id: str) -> Rule:
    try:
        return RULES[rule_id]
    except KeyError:
        raise KeyError(f"unknown rule {rule_id!r}; known: {', '.join(sorted(RULES))}") from None


def is_heuristic(rule_id: str) -> bool:
    return rule_id in HEURISTIC


def ruleset_version() -> str:
    """Names the rules a report was judged by: the newest rule's day plus a digest of every rule's id,
    day and severity (adding, re-dating or re-grading a rule changes it)."""
    rules = catalogue()
    digest = hashlib.sha256("\n".join(f"{r.id} {r.since} {r.severity}" for r in rules).encode()).hexdigest()[:8]
    return f"{max(r.since for r in rules)}+{digest}"


__all__ = ["catalogue", "get_rule", "is_heuristic", "ruleset_version", "RULES"]
