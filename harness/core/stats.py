"""Score statistics in BPB space (torch-free).

Why BPB space: ``val_loss`` is nats per token of each submission's *own*
tokenizer, so the same validation text is ~62 M sp1024 tokens or ~47.9 M
CaseOps tokens and nats of two records are not comparable.  ``val_bpb``
(bits per byte of the fixed validation text) is.  The challenge states its bar
as "beat the state of the art by 0.005 nats"; we translate that margin into
BPB with the candidate's bytes-per-token ratio:

    margin_bpb = margin_nats / (ln 2 * bytes_per_token)

(~0.00229 BPB for CaseOps sp8192, ~0.00296 for sp1024), then run a one-sided
Welch t-test with the baseline shifted down by that margin.

Two std conventions appear upstream (sample ddof=1 and population ddof=0),
so every summary carries both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Iterable, Sequence

from harness.core.constants import DEFAULT_MARGIN_NATS

LN2 = math.log(2.0)


def bytes_per_token_from_pair(val_loss: float, val_bpb: float) -> float:
    """Bytes per scored token implied by one (val_loss nats/token, val_bpb) pair.

    val_bpb = val_loss / (ln2 * bytes_per_token)  =>  bytes_per_token = val_loss / (ln2 * val_bpb).
    """
    if val_bpb <= 0 or val_loss <= 0:
        raise ValueError(f"val_loss and val_bpb must be positive (got {val_loss}, {val_bpb})")
    return val_loss / (LN2 * val_bpb)


def bytes_per_token_from_pairs(pairs: Iterable[tuple[float, float]]) -> float:
    """Mean bytes/token over several (val_loss, val_bpb) pairs (e.g. one per seed).

    Per-seed ratios differ only by printing precision (and, for truncated
    evals, by a few ppm), so the mean is the natural point estimate.
    """
    values = [bytes_per_token_from_pair(loss, bpb) for loss, bpb in pairs]
    if not values:
        raise ValueError("no (val_loss, val_bpb) pairs given")
    return fmean(values)


def margin_bpb(bytes_per_token: float, margin_nats: float = DEFAULT_MARGIN_NATS) -> float:
    """The nats-per-token margin expressed in bits per byte for this tokenizer."""
    if bytes_per_token <= 0:
        raise ValueError(f"bytes_per_token must be positive (got {bytes_per_token})")
    return margin_nats / (LN2 * bytes_per_token)


@dataclass(frozen=True)
class SeedStats:
    mean: float
    std_sample: float | None  # ddof=1; None when n < 2
    std_population: float  # ddof=0
    n: int

    def to_dict(self) -> dict:
        return asdict(self)


def seed_summary(values: Sequence[float]) -> SeedStats:
    """Mean and both std conventions of per-seed values."""
    xs = [float(v) for v in values]
    n = len(xs)
    if n == 0:
        raise ValueError("seed_summary needs at least one value")
    mean = fmean(xs)
    ss = sum((x - mean) ** 2 for x in xs)
    return SeedStats(
        mean=mean,
        std_sample=math.sqrt(ss / (n - 1)) if n > 1 else None,
        std_population=math.sqrt(ss / n),
        n=n,
    )


@dataclass(frozen=True)
class WelchResult:
    """One-sided Welch test of H1: mean(candidate) < mean(baseline) - margin."""

    t: float
    df: float
    p: float
    mean_candidate: float
    mean_baseline: float
    mean_diff: float  # mean(candidate) - mean(baseline); negative = better
    margin_bpb: float
    candidate: SeedStats
    baseline: SeedStats

    def significant(self, alpha: float) -> bool:  # alpha: the acceptance policy's p threshold
        return self.p < alpha

    def to_dict(self) -> dict:
        d = asdict(self)
        return d


def welch_one_sided(
    candidate_bpb: Sequence[float],
    baseline_bpb: Sequence[float],
    margin_bpb: float,
) -> WelchResult:
    """One-sided Welch t-test in BPB space with the baseline shifted by the margin.

    H0: mean(candidate) >= mean(baseline) - margin;  H1: mean(candidate) < mean(baseline) - margin.
    Needs at least two values on each side (Welch needs a variance per group).
    """
    cand = [float(v) for v in candidate_bpb]
    base = [float(v) for v in baseline_bpb]
    if len(cand) < 2 or len(base) < 2:
        raise ValueError(
            f"Welch test needs >= 2 seeds on each side (candidate {len(cand)}, baseline {len(base)})"
        )
    shifted = [b - margin_bpb for b in base]
    from scipy import stats as sps  # here, not at the top: importing scipy.stats costs every `harness` command ~1 s

    res = sps.ttest_ind(cand, shifted, equal_var=False, alternative="less")
    df = getattr(res, "df", None)
    if df is None:  # scipy < 1.11 has no .df; Welch-Satterthwaite by hand
        df = _welch_df(cand, shifted)
    cs, bs = seed_summary(cand), seed_summary(base)
    return WelchResult(
        t=float(res.statistic),
        df=float(df),
        p=float(res.pvalue),
        mean_candidate=cs.mean,
        mean_baseline=bs.mean,
        mean_diff=cs.mean - bs.mean,
        margin_bpb=margin_bpb,
        candidate=cs,
        baseline=bs,
    )


def _welch_df(a: Sequence[float], b: Sequence[float]) -> float:
    sa, sb = seed_summary(a), seed_summary(b)
    va = (sa.std_sample or 0.0) ** 2 / sa.n
    vb = (sb.std_sample or 0.0) ** 2 / sb.n
    return (va + vb) ** 2 / (va**2 / (sa.n - 1) + vb**2 / (sb.n - 1))


@dataclass(frozen=True)
class OneSampleResult:
    """Legacy one-sample test used by the early records: H1 mean < threshold."""

    t: float
    df: int
    p: float
    mean: float
    threshold: float
    summary: SeedStats

    def to_dict(self) -> dict:
        return asdict(self)


def one_sample_vs_threshold(values: Sequence[float], threshold: float) -> OneSampleResult:
    """One-sided one-sample t-test of the seeds against a fixed number.

    The first records compared their seeds against "SOTA - 0.005" (as a BPB
    number) this way; we keep it for display beside the Welch test, never
    for acceptance.
    """
    xs = [float(v) for v in values]
    if len(xs) < 2:
        raise ValueError("one-sample t-test needs >= 2 seeds")
    from scipy import stats as sps  # imported on use (see welch_one_sided)

    res = sps.ttest_1samp(xs, threshold, alternative="less")
    return OneSampleResult(
        t=float(res.statistic),
        df=len(xs) - 1,
        p=float(res.pvalue),
        mean=fmean(xs),
        threshold=threshold,
        summary=seed_summary(xs),
    )
