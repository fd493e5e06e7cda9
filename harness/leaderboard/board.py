"""Leaderboard from submission.json files: PR order, acceptance policies, verdicts with reasons.

Why computed and not copied: the upstream leaderboard was a hand-edited README
table.  Here every record is read through one schema layer (:mod:`.entries`),
ordered by the PR that added it, and judged against the state of the art *at that
point* by each acceptance policy, with the statistics recomputed from the
per-seed values.  Every verdict carries its reasons, so a reader sees why a
record did not make the frontier (one seed only, not significant, worse than
SOTA, over the cap).  The outputs are written by :mod:`.render`.

Acceptance policies are TOML files (``harness/policies/acceptance-*.toml``); the keys
read from their ``[acceptance]`` section are documented on
:class:`AcceptancePolicy`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from statistics import fmean
from typing import Iterable

from harness.core import stats
from harness.core.acceptance import AcceptancePolicy, load_acceptance_policy
from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.records import TRACK_RECORD
from harness.core.verdict import ACCEPTANCE, ACCEPTED, BASELINE, FRONTIER, NOT_RANKED, REJECTED, Verdict
from harness.leaderboard.entries import Entry, bpt_for_variant, load_entries, order_entries

DEFAULT_POLICIES = ("acceptance-readme", "acceptance-organizer-2026-05")


def fmt_p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.1e}"


def judge(entries: list[Entry], policy: AcceptancePolicy) -> list[Entry]:
    """Walk the ordered entries; record each one's verdict under ``policy`` in ``entry.verdicts[policy.id]``."""
    support: dict[int, list[Entry]] = {}
    for e in entries:
        if e.submission_type == "record_support" and e.supports_pr is not None:
            support.setdefault(e.supports_pr, []).append(e)

    sota: Entry | None = None
    sota_seeds: dict[str, float] = {}
    for e in entries:
        v = Verdict(ACCEPTANCE, REJECTED)
        e.verdicts[policy.id] = v
        if e.submission_type == "record_support":
            v.status = NOT_RANKED
            v.reasons.append(f"support package for PR #{e.supports_pr}, not a record of its own")
            continue
        if e.track != TRACK_RECORD:
            v.status = NOT_RANKED
            v.reasons.append("non-record track: not ranked")
            continue
        seeds = dict(e.per_seed_bpb)
        if policy.use_support_packages and e.pr is not None:
            for s in support.get(e.pr, []):
                extra = {k: x for k, x in s.per_seed_bpb.items() if k not in seeds}
                if extra:
                    seeds.update(extra)
                    v.reasons.append(f"with {len(extra)} seed(s) from support package {s.key}")
        v.numbers["seeds_used"] = len(seeds)
        mean = fmean(seeds.values()) if seeds else e.val_bpb
        if mean is None:
            v.reasons.insert(0, "no val_bpb")
            continue
        if sota is None:
            v.status = BASELINE
            v.reasons.insert(0, "first record in PR order: the starting state of the art")
            sota, sota_seeds = e, seeds
            continue
        sota_mean = fmean(sota_seeds.values()) if sota_seeds else sota.val_bpb
        v.numbers.update(sota_before=sota.key, sota_bpb=sota_mean)
        bpt = e.bytes_per_token
        if bpt is None:
            bpt = sota.bytes_per_token or bpt_for_variant("sp1024")
            v.reasons.append("no val_loss/val_bpb pair: the margin uses the SOTA record's bytes/token")
        margin = stats.margin_bpb(bpt, policy.margin_nats) if policy.margin_nats else 0.0
        v.numbers["margin_bpb"] = margin
        fails: list[str] = []
        if e.bytes_max is not None and e.bytes_max > ARTIFACT_CAP_BYTES:
            fails.append(f"over the {ARTIFACT_CAP_BYTES:,}-byte cap ({e.bytes_max:,} bytes)")
        if mean >= sota_mean:
            fails.append(f"worse than SOTA: {mean:.5f} vs {sota_mean:.5f} ({sota.label})")
        elif mean >= sota_mean - margin:
            fails.append(
                f"improvement {sota_mean - mean:.5f} BPB is below the margin {margin:.5f} BPB "
                f"({policy.margin_nats:g} nats)"
            )
        if policy.alpha is not None and not fails:
            if len(seeds) < 2:
                if not policy.allow_single_run:
                    fails.append("one seed only: significance cannot be computed" if seeds
                                 else "no per-seed values: significance cannot be computed")
                else:
                    v.reasons.append("single run: accepted on its mean (no significance test)")
            elif len(sota_seeds) >= 2:
                r = stats.welch_one_sided(list(seeds.values()), list(sota_seeds.values()), margin)
                v.numbers.update(test="welch", t=r.t, df=r.df, p=r.p)
                if r.p >= policy.alpha:
                    fails.append(f"not significant: p={fmt_p(r.p)} >= {policy.alpha:g} (Welch vs {sota.label})")
            else:
                r1 = stats.one_sample_vs_threshold(list(seeds.values()), sota_mean - margin)
                v.numbers.update(test="one_sample", t=r1.t, df=float(r1.df), p=r1.p)
                v.reasons.append("SOTA has no per-seed values: one-sample test vs SOTA - margin")
                if r1.p >= policy.alpha:
                    fails.append(f"not significant: p={fmt_p(r1.p)} >= {policy.alpha:g} (one-sample vs SOTA - margin)")
        if fails:
            v.reasons[:0] = fails
            continue
        v.status = ACCEPTED
        head = f"beats {sota.label} by {sota_mean - mean:.5f} BPB"
        if v.p is not None:
            head += f", p={fmt_p(v.p)} ({v.test}, n={len(seeds)} vs {len(sota_seeds)})"
        v.reasons.insert(0, head)
        sota, sota_seeds = e, seeds
    return entries


@dataclass
class Leaderboard:
    entries: list[Entry]
    policies: list[AcceptancePolicy]

    def frontier(self, policy_id: str) -> list[Entry]:
        return [e for e in self.entries if e.verdicts[policy_id].status in FRONTIER]


def verify_entries(entries: list[Entry]) -> None:
    """Run the verifier's log and record rules on each record's folder; keep the error findings."""
    from verifier.api import verify_path

    for e in entries:
        folder = Path(e.path).parent
        rep = verify_path(folder, groups=["log", "record"])
        e.verifier_errors = [f"{f.rule_id}: {f.message}" for f in rep.findings if f.severity == "error"]
        if e.verifier_errors:
            rules = sorted({x.split(":", 1)[0] for x in e.verifier_errors})
            e.notes.append(f"harness verify: {len(e.verifier_errors)} error finding(s) ({', '.join(rules)})")


def build_leaderboard(
    paths: Iterable[str | Path],
    policies: Iterable[str | AcceptancePolicy] = DEFAULT_POLICIES,
    seeds_from_logs: bool = False,
    verify: bool = False,
) -> Leaderboard:
    """Entries in PR order, judged by each acceptance policy; ``verify`` adds the verifier's errors per record."""
    pols = [p if isinstance(p, AcceptancePolicy) else load_acceptance_policy(p) for p in policies]
    entries = order_entries(load_entries(paths, logs=seeds_from_logs))
    if verify:
        verify_entries(entries)
    for pol in pols:
        judge(entries, pol)
    return Leaderboard(entries, pols)

