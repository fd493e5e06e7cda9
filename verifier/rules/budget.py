"""code.budget_knobs: the shipped defaults of time-budget knobs do not extend the 600 s training budget.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import re

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units, is_non_record
from verifier.rules.registration import README_SOURCE, rule
from verifier.subject import Subject


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@rule("code.budget_knobs", "time-budget knobs do not extend the 600 s budget",
      since="2026-03-18", severity="error", group="code",
      requires="code",
      source=README_SOURCE + "'must run in under 10 minutes on 8xH100s' (README.md:165); DESIGN.md 'Verifier' "
      "(MAX_WALLCLOCK_SECONDS > 600, FORCE_STOP_STEP); #1956 on FORCE_STOP_STEP=4945 (601,153 ms)")
def check_budget_knobs(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
    out = []
    for u in units:
        for e in u.env:
            n = e.name.upper()
            if n == "MAX_WALLCLOCK_SECONDS" or n == "MAX_WALLCLOCK_MS":
                v = _num(e.default)
                cap = 600.0 if n.endswith("SECONDS") else 600000.0
                if v is not None and v > cap:
                    lenient = is_non_record(s)
                    out.append(r.finding(f"{e.name} defaults to {e.default} (> {cap:g}): the shipped defaults "
                                         "train past the 10-minute budget"
                                         + ("; the non-record track allows it" if lenient else ""),
                                         severity="info" if lenient else None, evidence=[code_evidence(u, e.line)],
                                         knob=e.name, default=e.default))
                elif v is not None and v <= 0:
                    out.append(r.finding(f"{e.name} defaults to {e.default}: no wall-clock cap by default",
                                         severity="warning", evidence=[code_evidence(u, e.line)], knob=e.name,
                                         default=e.default))
            elif re.search(r"FORCE_STOP|STOP_AT_STEP|STOP_STEP|MAX_STEPS_OVERRIDE", n):
                off = _num(e.default) in (None, 0.0) or e.default in ("", None)
                out.append(r.finding(f"{e.name} (default {e.default!r}) caps training by step count: a step cap "
                                     "ignores the clock (a forced step overran 600 s in #1908)"
                                     + ("; off by default, check the logs' environment" if off else ""),
                                     severity="info" if off else "warning",
                                     status="needs_runtime_probe" if off else "violation",
                                     evidence=[code_evidence(u, e.line)], knob=e.name, default=e.default))
            elif re.search(r"GPTQ_RESERVE", n):
                out.append(r.finding(f"{e.name} default {e.default!r}: the reserve must cover post-loop Hessian "
                                     "collection on training data (compare with the logged Hessian time)",
                                     status="observation", severity="info", evidence=[code_evidence(u, e.line)],
                                     knob=e.name, default=e.default))
    return out
