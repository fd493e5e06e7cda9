"""Claimed vs reproduced: the verdict a reviewer actually needs.

A claim is what a PR says (its submission.json and its own logs); a
reproduction is what the harness measured re-running it. Both reduce to
per-seed :class:`SeedFigures`; this module compares them and says, with the
numbers, whether the claim reproduces.

Tolerances (stated once, used everywhere):

* ``s`` is the sample standard deviation (ddof=1) of the claimed per-seed
  val_bpb, floored at ``STD_FLOOR_BPB`` (bf16 nondeterminism alone moves a
  seed by a few 1e-4). A claim of one or two seeds says almost nothing about
  its spread (t with one degree of freedom is 63.7: any smoke run would
  "reproduce"), so its variance is pooled with the seed variance of the
  records (``POOLED_SEED_STD_BPB`` over ``POOLED_SEED_DOF`` degrees of
  freedom): s^2 = ((n_c - 1) s_c^2 + dof_p s_p^2) / (n_c - 1 + dof_p).
* per seed (same seed re-run):   |bpb_rep - bpb_claim| <= Z_SEED * s
* mean:  |mean_rep - mean_claim| <= t_{0.995, df} * s * sqrt(1/n_c + 1/n_r)
  (a two-sided 99 % interval for a difference of means; df = n_c - 1, or
  n_c - 1 + dof_p when the spread was pooled).
* bytes: every reproduced seed must be <= 16,000,000 (error); the margin to
  the cap and the delta to the claim are reported.
* steps and tok/s: a reproduction below ``SLOW_RATIO`` of the claim is a
  warning that names both nodes: steps in 600 s depend on the hardware.

Two verdicts, because they answer two questions: *reproduction* (do the
reproduced numbers match the claim: val_bpb, mean, steps, tok/s, node) and
*compliance* (did the reproduced run keep the rules: the artifact cap and the
timing policy). A record's own logs reproduce its claim even when they show
it over a timing budget; saying "does not reproduce" there would be wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from statistics import mean, stdev
from typing import Any

from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.verdict import COMPLIANCE, FAIL, PASS, REPRODUCTION, STATUSES, Verdict

STD_FLOOR_BPB = 0.0005
# Pooled sample std of the per-seed val_bpb of the 22 record-track fixture records with >= 2 seeds
# (48 degrees of freedom; tests/test_compare.py recomputes it from ../shared/fixtures/records).
POOLED_SEED_STD_BPB = 0.00072
POOLED_SEED_DOF = 48
MIN_OWN_DOF = 2  # a claim with fewer seeds than MIN_OWN_DOF + 1 borrows the pooled spread
Z_SEED = 3.0
SLOW_RATIO = 0.97


# Plain records of figures (fields alike in shape to other dataclasses by nature, not repeated logic).
@dataclass
class SeedFigures:
    seed: str
    val_bpb: float | None = None
    val_loss: float | None = None
    artifact_bytes: int | None = None
    steps: int | None = None
    tok_per_s: float | None = None
    timing: str | None = None  # the policy's train/eval verdict summary, e.g. "PASS" or "FAIL"
    source: str = ""  # where the figures came from (log path, submission.json)


@dataclass
class Check:
    name: str
    status: str  # "ok" | "warning" | "error" | "n/a"
    detail: str
    numbers: dict[str, Any] = field(default_factory=dict)


# Checks about the rules rather than about matching the claim (see the module docstring).
COMPLIANCE_CHECKS = ("timing", "bytes", "all_seeds_under_cap")


def _verdict(kind: str, checks: list[Check]) -> Verdict:
    """The verdict of ``kind`` over ``checks``, worst first: any error, any warning, nothing judged, all ok."""
    worst, warned, unjudged, ok = STATUSES[kind]
    statuses = [c.status for c in checks]
    if "error" in statuses:
        status = worst
    elif "warning" in statuses:
        status = warned
    elif all(s == "n/a" for s in statuses):
        status = unjudged
    else:
        status = ok
    return Verdict(kind, status, reasons=[f"{c.name}: {c.detail}" for c in checks if c.status in ("error", "warning")])


@dataclass
class Comparison:
    seeds: dict[str, list[Check]]
    mean: list[Check]
    tolerance: dict[str, Any]
    claim_node: str | None = None
    run_node: str | None = None

    def _checks(self) -> list[Check]:
        return [c for cs in self.seeds.values() for c in cs] + list(self.mean)

    def reproduction_verdict(self) -> Verdict:
        """Reproduction: do the numbers match the claim (compliance checks left out)."""
        return _verdict(REPRODUCTION, [c for c in self._checks() if c.name not in COMPLIANCE_CHECKS])

    def compliance_verdict(self) -> Verdict:
        """Compliance of the reproduced run: artifact cap and timing policy."""
        return _verdict(COMPLIANCE, [c for c in self._checks() if c.name in COMPLIANCE_CHECKS])

    @property
    def verdict(self) -> str:
        return self.reproduction_verdict().status

    @property
    def compliance(self) -> str:
        return self.compliance_verdict().status

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "compliance": self.compliance,
            "tolerance": self.tolerance,
            "claim_node": self.claim_node,
            "run_node": self.run_node,
            "seeds": {k: [asdict(c) for c in v] for k, v in self.seeds.items()},
            "mean": [asdict(c) for c in self.mean],
        }


def _pooled(n_claim: int) -> bool:
    return n_claim - 1 < MIN_OWN_DOF


def spread_dof(n_claim: int) -> int:
    """Degrees of freedom behind the spread of a claim of ``n_claim`` seeds (see the module docstring)."""
    own = max(n_claim - 1, 0)
    return own + POOLED_SEED_DOF if _pooled(n_claim) else own


def claimed_spread(claim: list[SeedFigures]) -> float:
    values = [s.val_bpb for s in claim if s.val_bpb is not None]
    own_dof = max(len(values) - 1, 0)
    s = stdev(values) if own_dof else 0.0
    if _pooled(len(values)):
        s = math.sqrt((own_dof * s * s + POOLED_SEED_DOF * POOLED_SEED_STD_BPB ** 2) / (own_dof + POOLED_SEED_DOF))
    return max(s, STD_FLOOR_BPB)


def mean_tolerance(s: float, n_claim: int, n_run: int) -> float:
    from scipy import stats  # imported on use: scipy.stats costs every `harness` command ~1 s at start

    q = stats.t.ppf(0.995, spread_dof(n_claim))
    return float(q * s * math.sqrt(1 / max(n_claim, 1) + 1 / max(n_run, 1)))


def _bytes_check(run: SeedFigures, claim: SeedFigures | None) -> Check:
    if run.artifact_bytes is None:
        return Check("bytes", "n/a", "the reproduction measured no artifact")
    margin = ARTIFACT_CAP_BYTES - run.artifact_bytes
    nums = {"reproduced": run.artifact_bytes, "margin_to_cap": margin}
    if claim and claim.artifact_bytes is not None:
        nums["claimed"] = claim.artifact_bytes
        nums["delta"] = run.artifact_bytes - claim.artifact_bytes
    if margin < 0:
        return Check("bytes", "error", f"{run.artifact_bytes:,} bytes is {-margin:,} over the 16,000,000 cap", nums)
    return Check("bytes", "ok", f"{run.artifact_bytes:,} bytes, {margin:,} under the cap", nums)


def _ratio_check(name: str, run_v: float | None, claim_v: float | None, unit: str) -> Check:
    if run_v is None or claim_v is None or claim_v == 0:
        return Check(name, "n/a", f"{name} not available on both sides")
    ratio = run_v / claim_v
    nums = {"reproduced": run_v, "claimed": claim_v, "ratio": round(ratio, 4)}
    status = "warning" if ratio < SLOW_RATIO else "ok"
    word = "below" if ratio < 1 else "at or above"
    return Check(name, status, f"{run_v:,.0f} vs {claim_v:,.0f} {unit} ({ratio:.1%}, {word} the claim)", nums)


def compare(
    run: list[SeedFigures],
    claim: list[SeedFigures],
    *,
    claim_node: str | None = None,
    run_node: str | None = None,
) -> Comparison:
    """Compare reproduced seeds with claimed seeds (matched by seed id)."""
    s = claimed_spread(claim)
    claim_by_seed = {c.seed: c for c in claim}
    per_seed: dict[str, list[Check]] = {}
    for r in run:
        c = claim_by_seed.get(r.seed)
        checks: list[Check] = []
        if r.val_bpb is None:
            checks.append(Check("val_bpb", "error", "the reproduction produced no headline metric"))
        elif c is None or c.val_bpb is None:
            checks.append(Check("val_bpb", "n/a", f"seed {r.seed} has no claimed value", {"reproduced": r.val_bpb}))
        else:
            delta = r.val_bpb - c.val_bpb
            tol = Z_SEED * s
            status = "ok" if abs(delta) <= tol else "error"
            checks.append(
                Check(
                    "val_bpb",
                    status,
                    f"{r.val_bpb:.8f} vs claimed {c.val_bpb:.8f} (delta {delta:+.5f}, tolerance ±{tol:.5f})",
                    {"reproduced": r.val_bpb, "claimed": c.val_bpb, "delta": delta, "tolerance": tol},
                )
            )
        checks.append(_bytes_check(r, c))
        checks.append(_ratio_check("steps", r.steps, c.steps if c else None, "steps"))
        checks.append(_ratio_check("tok_per_s", r.tok_per_s, c.tok_per_s if c else None, "tok/s"))
        if r.timing is not None or (c and c.timing is not None):
            rt, ct = r.timing or "unknown", (c.timing if c else None) or "unknown"
            status = "error" if rt == FAIL else ("warning" if rt != PASS else "ok")
            checks.append(Check("timing", status, f"reproduced {rt}, claimed run {ct}", {"reproduced": rt, "claimed": ct}))
        per_seed[r.seed] = checks

    mean_checks: list[Check] = []
    rv = [r.val_bpb for r in run if r.val_bpb is not None]
    cv = [c.val_bpb for c in claim if c.val_bpb is not None]
    if rv and cv:
        tol = mean_tolerance(s, len(cv), len(rv))
        delta = mean(rv) - mean(cv)
        mean_checks.append(
            Check(
                "mean_val_bpb",
                "ok" if abs(delta) <= tol else "error",
                f"mean {mean(rv):.8f} over {len(rv)} seed(s) vs claimed {mean(cv):.8f} over {len(cv)} "
                f"(delta {delta:+.5f}, tolerance ±{tol:.5f})",
                {"reproduced": mean(rv), "claimed": mean(cv), "delta": delta, "tolerance": tol},
            )
        )
    else:
        mean_checks.append(Check("mean_val_bpb", "n/a", "no val_bpb on one side"))
    over = [r.seed for r in run if r.artifact_bytes is not None and r.artifact_bytes > ARTIFACT_CAP_BYTES]
    mean_checks.append(
        Check(
            "all_seeds_under_cap",
            "error" if over else "ok",
            f"seeds over the cap: {', '.join(over)}" if over else "every reproduced seed is under the cap",
        )
    )
    if claim_node and run_node and claim_node != run_node:
        mean_checks.append(
            Check("node", "warning", f"the claim ran on {claim_node}, the reproduction on {run_node}",
                  {"claimed": claim_node, "reproduced": run_node})
        )
    tolerance = {
        "claimed_std_bpb": s,
        "std_floor_bpb": STD_FLOOR_BPB,
        "per_seed": f"|delta| <= {Z_SEED} * s",
        "mean": "|delta| <= t(0.995, df) * s * sqrt(1/n_claim + 1/n_run)",
        "df": spread_dof(len([c for c in claim if c.val_bpb is not None])),
        "pooled_with_records": _pooled(len([c for c in claim if c.val_bpb is not None])),
    }
    return Comparison(per_seed, mean_checks, tolerance, claim_node, run_node)


def claim_from_record(record: Any) -> list[SeedFigures]:
    """Per-seed claims of a :class:`harness.core.legacy_record.LegacyRecord`.

    A record without per-seed results still claims its headline: it becomes
    one pseudo-seed named ``mean`` so the mean check can run.
    """
    out: list[SeedFigures] = []
    for label, r in record.seed_results.items():
        tok_s = None
        if r.extra.get("tok_s"):
            tok_s = float(r.extra["tok_s"])
        out.append(
            SeedFigures(
                seed=str(label),
                val_bpb=r.val_bpb,
                val_loss=r.val_loss,
                artifact_bytes=r.artifact_bytes,
                steps=r.steps,
                tok_per_s=tok_s,
                source=f"{record.path}: seed_results[{label}]",
            )
        )
    if not out and record.val_bpb is not None:
        out.append(
            SeedFigures(seed="mean", val_bpb=record.val_bpb, val_loss=record.val_loss,
                        artifact_bytes=record.bytes_total, source=f"{record.path}: headline")
        )
    return out
