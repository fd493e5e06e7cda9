"""Judging two loaded sides: :func:`harness.core.compare.compare` plus node, mode and track rules.

The library entry point of ``harness compare RUN CLAIM`` is :func:`compare_paths`.
"""

from __future__ import annotations

from pathlib import Path

from harness.compare.claims import load_side
from harness.compare.report import CompareReport
from harness.compare.sides import DEFAULT_POLICY, Side, load_timing_policy, metric_line
from harness.core.compare import Check, compare
from harness.errors import UsageError


def _node_checks(run: Side, claim: Side) -> list[Check]:
    out = []
    cn = claim.node
    if cn is not None and claim.track in (None, "10min_16mb") and cn.count and not cn.is_official():
        out.append(Check("claim_node", "warning",
                         f"the claim ran on {cn.label} ({cn.source}), not the official 8x H100 SXM: steps in 600 s "
                         f"are not comparable with an official run", {"claimed": cn.label}))
    if run.mode == "smoke":
        out.append(Check("run_mode", "warning", "the reproduction is a smoke run (scaled budgets, unofficial)",
                         {"mode": "smoke"}))
    if any("cannot be reproduced from the shipped code" in n for n in claim.notes):
        out.append(Check("claim_reproducible", "warning",
                         next(n for n in claim.notes if "cannot be reproduced from the shipped code" in n)))
    return out


def align_metrics(run: Side, claim: Side) -> None:
    """Compare like with like: score each reproduced seed on the metric line the claim's log shows it claimed.

    A record may claim its sliding-window metric although it also ran a test-time-training eval
    (or the reverse); the precedence pick of a re-run would then compare two different evals. When
    the claim's log says which line the claimed value is, the re-run's line of that name is used
    and a note says so. A v1 record's metric was picked at measurement time and is only reported.
    """
    for s in run.seeds:
        want = claim.metrics.get(s.seed)
        have = run.metrics.get(s.seed)
        if not want or not have or want == have:
            continue
        evs = run.events.get(s.seed)
        line = metric_line(evs, want) if evs else None
        if line is None:
            run.notes.append(f"seed {s.seed}: scored on {have}; the claim is its {want}, which "
                             f"{'this log does not print' if evs else 'the record did not pick'}")
            continue
        s.val_bpb, s.val_loss = line.fields.get("val_bpb"), line.fields.get("val_loss")
        run.metrics[s.seed] = line.fields["name"]
        run.notes.append(f"seed {s.seed}: compared on {line.fields['name']} (line {line.line_no}), the metric the "
                         f"claim reports, not the precedence pick {have}")


def compare_sides(run: Side, claim: Side, policy_id: str = DEFAULT_POLICY) -> CompareReport:
    """Judge two loaded sides with :func:`harness.core.compare.compare`, plus node and mode checks."""
    if not run.seeds:
        raise UsageError(f"{run.target} gave no seed to compare.")
    if not claim.seeds:
        raise UsageError(f"{claim.target} claims no seed (no per-seed results and no headline val_bpb).")
    align_metrics(run, claim)
    cmp = compare(run.seeds, claim.seeds, claim_node=claim.node.key if claim.node else None,
                  run_node=run.node.key if run.node else None)
    cmp.mean.extend(_node_checks(run, claim))
    if claim.track == "non_record_16mb":
        # "unlimited compute allowed if noted" (challenge README, non-record track): over 600 s is a fact, not a fault
        for cs in cmp.seeds.values():
            for c in cs:
                if c.name == "timing" and c.status == "error":
                    c.status = "warning"
                    c.detail += " (non-record track: the 600 s budgets do not bind)"
    if run.mode == "smoke" and claim.mode != "smoke":
        # A smoke run trains for scaled seconds on other data: its scores and step counts say nothing about
        # an official claim: the verdict is "not comparable", unless an artifact is over the cap (that fails
        # at any budget).
        for c in [*(c for cs in cmp.seeds.values() for c in cs), *cmp.mean]:
            if c.status == "error" and c.name in ("bytes", "all_seeds_under_cap"):
                continue
            if c.status != "n/a":
                c.status = "n/a"
                c.detail += " (smoke run against an official claim: not comparable)"
    if run.node and claim.node and run.node.key != claim.node.key:
        for c in cmp.mean:  # name both nodes in full where compare() only had their keys
            if c.name == "node":
                c.detail = f"the claim ran on {claim.node.label}, the reproduction on {run.node.label}"
    return CompareReport(run=run, claim=claim, comparison=cmp, policy=policy_id)


def compare_paths(run: str | Path, claim: str | Path, *, policy: str | None = None,
                  source_repo: str | None = None) -> CompareReport:
    """Library entry point of ``harness compare RUN CLAIM``."""
    pol = load_timing_policy(policy)
    run_side = load_side(run, "run", policy=pol, source_repo=source_repo)
    claim_side = load_side(claim, "claim", policy=pol, source_repo=source_repo)
    return compare_sides(run_side, claim_side, pol.id)

