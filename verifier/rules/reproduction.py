"""Reproduction rules: the claim against a re-run of it (``harness.core.compare``).

Runs only when a reproduction is given (``verify_path(..., reproduced=RUN)``,
``harness verify --reproduced RUN``): RUN is a ``runs/<id>/`` folder of ours or
any folder of logs. Tolerances are compare's (stated in its docstring).
"""

from __future__ import annotations

from typing import Any

from harness.core.compare import SeedFigures, claim_from_record, compare
from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import attr, headline
from verifier.rules.registration import rule, unavailable
from verifier.subject import Subject


def _figures(lg: Any) -> Any:
    summ = lg.summary
    head = headline(summ)
    seed = attr(summ, "seed")
    return SeedFigures(seed=str(seed) if seed is not None else lg.display, val_bpb=attr(head, "val_bpb"),
                       val_loss=attr(head, "val_loss"), artifact_bytes=attr(summ, "artifact_bytes"),
                       steps=attr(summ, "steps"), source=lg.display)


@rule("reproduction.claimed_vs_reproduced", "a re-run reproduces the claim (per seed, mean, bytes, steps)",
      since="2026-03-18", severity="error", group="reproduction", needs=("claims",),
      source="issue 11 item 1 (claimed vs reproduced); challenge README 'Any non-reproducible results can be "
      "disqualified' (README.md:213)")
def check_reproduction(s: Subject, r: Rule) -> list[Finding]:
    runs = s.reproduction or []
    if not runs:
        return unavailable(r, "no reproduction given (harness verify --reproduced RUN)")
    if s.legacy_record is None:
        return unavailable(r, "no claims (submission.json) to compare the reproduction with")
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
