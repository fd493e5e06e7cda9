"""Rule registration: each rule module declares its rules with :func:`rule`."""

from __future__ import annotations

from typing import Callable

from verifier.model import CheckFn, Group, Rule, Severity

RULES: dict[str, Rule] = {}
# Heuristic rules never report "pass": with no finding their status is "needs runtime probe".
HEURISTIC: set[str] = set()


def rule(id: str, title: str, *, severity: Severity, group: Group, source: str, since: str,
         needs: tuple[str, ...] = (), heuristic: bool = False) -> Callable[[CheckFn], CheckFn]:
    """Register a rule; ``since`` is the ISO day it took effect (the README commit or the ruling that made it)."""
    def register(fn: CheckFn) -> CheckFn:
        if id in RULES:
            raise ValueError(f"duplicate rule id {id}")
        RULES[id] = Rule(id=id, title=title, severity=severity, group=group, source=source, check=fn, needs=needs,
                         since=since)
        if heuristic:
            HEURISTIC.add(id)
        return fn
    return register
