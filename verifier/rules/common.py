"""What several rule families share: the units of code that run, evidence at a line, lenient field access
on log summaries, and a few questions about the subject."""

from __future__ import annotations

import re
from typing import Any

from harness.core.finding import Evidence, Finding, excerpt
from verifier.model import Rule
from verifier.rules.registration import unavailable
from verifier.static.facts import CodeUnit
from verifier.subject import LogInput, Subject


def code_units(s: Subject) -> list[CodeUnit]:
    """Units that run: the entry and its decoded payloads first, then other shipped .py files."""
    units = s.entry_units()
    seen = {id(u) for u in units}
    for u in s.all_units():
        if id(u) not in seen:
            units.append(u)
    return units


def code_evidence(u: CodeUnit, line: int | None) -> Evidence:
    return Evidence(u.path, line, excerpt(u.line_text(line)) if line else None)


def log_evidence(lg: LogInput, line: int | None) -> Evidence:
    return Evidence(lg.display, line, excerpt(lg.line(line)) if line else None)


def attr(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key access: summaries are dataclasses, but be lenient with dicts."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def headline(summ: Any) -> Any:
    return attr(summ, "headline")


def hyperparams(lg: LogInput) -> dict[str, Any]:
    """The hyperparameters a log printed ({} when none)."""
    return (attr(lg.summary, "hyperparams") or {}) if lg.summary is not None else {}


def find_line(lg: LogInput, pattern: str) -> int | None:
    rx = re.compile(pattern)
    for i, line in enumerate(lg.lines, start=1):
        if rx.search(line):
            return i
    return None


def is_non_record(s: Subject) -> bool:
    t = (s.track or "").replace("-", "_")
    return "non_record" in t


def log_summaries(s: Subject) -> list[tuple[LogInput, Any]]:
    """Every log of the subject with its parsed summary."""
    return [(lg, lg.summary) for lg in s.logs]


def nothing_to_read(s: Subject, r: Rule) -> list[Finding]:
    """Without code, a rule that found nothing (in the logs either) says so instead of passing."""
    if s.code_paths:
        return []
    return unavailable(r, "no code in the submission to analyse")
