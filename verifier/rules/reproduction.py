"""Reproduction rules: the claim against a re-run of it (``harness.core.compare``).

Runs only when a reproduction is given (``verify_path(..., reproduced=RUN)``,
``harness verify --reproduced RUN``): RUN is a ``runs/<id>/`` folder of ours or
any folder of logs. Tolerances are compare's (stated in its docstring).
"""

from __future__ import annotations

from typing import Any

from verifier.model import Finding
from verifier.rules._registry import RULES, rule
from verifier.rules.log import _g, _headline
from verifier.subject import Subject


def _figures(lg: Any) -> Any:
    from harness.core.compare import SeedFigures

    summ = lg.summary
    head = _headline(summ)
    seed = _g(summ, "seed")
    return SeedFigures(seed=str(seed) if seed is not None else lg.display, val_bpb=_g(head, "val_bpb"),
                       val_loss=_g(head, "val_loss"), artifact_bytes=_g(summ, "artifact_bytes"),
                       steps=_g(summ, "steps"), source=lg.display)


@rule("reproduction.claimed_vs_reproduced", "a re-run reproduces the claim (per seed, mean, bytes, steps)",
      since="2026-03-18", severity="error", group="reproduction", needs=("claims",),
      source="issue 11 item 1 (claimed vs reproduced); challenge README 'Any non-reproducible results can be "
      "disqualified' (README.md:213)")
def check_reproduction(s: Subject) -> list[Finding]:
    r = RULES["reproduction.claimed_vs_reproduced"]
    runs = s.reproduction or []
    if not runs:
        return [r.finding("no reproduction given (harness verify --reproduced RUN)", status="not_available",
                          severity="info")]
    if s.legacy_record is None:
        return [r.finding("no claims (submission.json) to compare the reproduction with", status="not_available",
                          severity="info")]
    if any(lg.summary is None for lg in runs):
        return [r.finding("harness.core log parser is not importable; reproduction not compared",
                          status="not_available", severity="info")]
    from harness.core.compare import claim_from_record, compare

    cmp = compare([_figures(lg) for lg in runs], claim_from_record(s.legacy_record))
    out: list[Finding] = []
    groups = [(f"seed {k}", v) for k, v in cmp.seeds.items()] + [("mean", cmp.mean)]
    for label, checks in groups:
        for c in checks:
            if c.status == "n/a":
                continue
            sev = {"error": "error", "warning": "warning"}.get(c.status, "info")
            out.append(r.finding(f"{label}: {c.name}: {c.detail}", severity=sev,
                                 status="violation" if c.status in ("error", "warning") else "observation",
                                 check=c.name, subject=label, numbers=c.numbers, verdict=cmp.verdict))
    out.append(r.finding(f"verdict: {cmp.verdict} (tolerances: {cmp.tolerance})", status="observation",
                         severity="info", verdict=cmp.verdict))
    return out
