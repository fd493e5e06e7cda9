"""Rule registration: each rule module declares its rules with :func:`rule`.

A check is called with the subject and its own :class:`~verifier.model.Rule` (to build findings). A rule that
can judge nothing without one input names it in ``requires``; when that input is absent the check is not
called and the rule reports one ``not_available`` finding in the words every rule of that input uses.
"""

from __future__ import annotations

from typing import Callable

from harness.core.finding import Finding, Severity
from verifier.model import Group, Rule
from verifier.subject import Subject

RULES: dict[str, Rule] = {}
# Heuristic rules never report "pass": with no finding their status is "needs runtime probe".
HEURISTIC: set[str] = set()

README_SOURCE = "challenge README (main): "  # how a rule's source quoting the challenge README begins

NO_CODE = "no code in the submission to analyse (logs and claims only)"
NO_LOGS = "no training log in the submission"
NO_CLAIMS = "no submission.json (claims) to check"

# input -> (whether the subject has it, what a rule that requires it says when it does not)
REQUIREMENTS: dict[str, tuple[Callable[[Subject], bool], str]] = {
    "code": (lambda s: bool(s.code_paths), NO_CODE),
    "entry": (lambda s: s.entry_unit is not None, NO_CODE),
    "logs": (lambda s: bool(s.logs), NO_LOGS),
    "record": (lambda s: s.legacy_record is not None, NO_CLAIMS),
}

# what a rule that requires an input lists as its needs (the catalogue's column) unless it names more
NEEDS_OF = {"code": ("code",), "entry": ("code",), "logs": ("logs",), "record": ("claims",)}

RuleCheck = Callable[[Subject, Rule], list[Finding]]


def unavailable(r: Rule, why: str) -> list[Finding]:
    """The one finding of a rule whose input is absent."""
    return [r.finding(why, status="not_available", severity="info")]


def rule(id: str, title: str, *, severity: Severity, group: Group, source: str, since: str,
         needs: tuple[str, ...] = (), requires: str | None = None,
         heuristic: bool = False) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule; ``since`` is the ISO day it took effect (the README commit or the ruling that made it);
    ``requires`` is a key of :data:`REQUIREMENTS` (and gives ``needs`` unless the rule names more)."""
    present, why = REQUIREMENTS[requires] if requires else (None, "")
    needs = needs or NEEDS_OF.get(requires or "", ())

    def register(fn: RuleCheck) -> RuleCheck:
        if id in RULES:
            raise ValueError(f"duplicate rule id {id}")

        def check(s: Subject) -> list[Finding]:
            r = RULES[id]
            if present is not None and not present(s):
                return unavailable(r, why)
            return fn(s, r)

        RULES[id] = Rule(id=id, title=title, severity=severity, group=group, source=source, check=check, needs=needs,
                         since=since)
        if heuristic:
            HEURISTIC.add(id)
        return fn
    return register
