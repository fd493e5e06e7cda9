"""Acceptance policies: what a record must show to move the frontier (margin, significance, seeds).

Read from ``harness/policies/acceptance-*.toml`` through the one policy loader
(:func:`harness.core.policy.load_policy`); the leaderboard judges records with
them and the record writer takes the README rule's margin and p threshold from
``acceptance-readme`` instead of writing the numbers again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.core.constants import DEFAULT_MARGIN_NATS
from harness.core.policy import PolicyError, load_policy

README_POLICY = "acceptance-readme"  # the challenge README's record bar


@dataclass(frozen=True)
class AcceptancePolicy:
    """What a record must show to move the frontier.

    Keys read from the policy file's ``[acceptance]`` section (aliases in brackets):

    - ``margin_nats`` [margin]: improvement required over the SOTA, in nats per
      token, converted to BPB with the candidate's bytes/token (default 0.005);
    - ``alpha`` [p_max, p_threshold, significance_alpha]: the one-sided p-value
      must be below it; absent or false = no significance test (default 0.01);
    - ``allow_single_run`` (default false): a record with fewer than two
      per-seed values may still be accepted on its mean alone (early practice);
    - ``use_support_packages`` (default false): seeds of a ``record_support``
      package count for the PR it supports (how PR #1851 was accepted);
    - ``description``: one line for the outputs.
    """

    id: str
    version: str
    effective_from: str | None
    sha256: str
    source: str
    margin_nats: float = DEFAULT_MARGIN_NATS
    alpha: float | None = 0.01
    allow_single_run: bool = False
    use_support_packages: bool = False
    description: str = ""

    def terms(self) -> str:
        """What the policy asks, without its name: "margin 0.005 nats, p < 0.01"."""
        sig = f"p < {self.alpha:g}" if self.alpha is not None else "no significance test"
        return f"margin {self.margin_nats:g} nats, {sig}"

    def label(self) -> str:
        return f"{self.id} v{self.version}: {self.terms()}"


def load_acceptance_policy(id_or_path: str) -> AcceptancePolicy:
    """Load an acceptance policy by id (``harness/policies/<id>.toml``) or path (PolicyError if unusable)."""
    pol = load_policy(id_or_path, kind="acceptance")
    data = pol.sections
    sec = data.get("acceptance", {})
    if not isinstance(sec, dict):
        sec = {}
    known = {"margin_nats", "margin", "alpha", "p_max", "p_threshold", "significance_alpha",
             "allow_single_run", "use_support_packages", "description"}
    if not known & set(sec):
        # Silently falling back to defaults would make two different policies look the same.
        raise PolicyError(
            f"acceptance policy {pol.path} has no [acceptance] keys the leaderboard reads "
            f"(expected some of: {', '.join(sorted(known))}; found: {', '.join(sorted(sec)) or 'none'})"
        )

    def pick(*keys: str, default: Any = None) -> Any:
        for k in keys:
            if k in sec:
                return sec[k]
        return default

    alpha = pick("alpha", "p_max", "p_threshold", "significance_alpha", default=0.01)
    if alpha is False or alpha is None or (isinstance(alpha, str) and alpha.lower() in ("none", "off")):
        alpha = None
    return AcceptancePolicy(
        id=pol.id,
        version=pol.version,
        effective_from=pol.effective_from,
        sha256=pol.sha256,
        source=pol.path,
        margin_nats=float(pick("margin_nats", "margin", default=DEFAULT_MARGIN_NATS)),
        alpha=float(alpha) if alpha is not None else None,
        allow_single_run=bool(pick("allow_single_run", default=False)),
        use_support_packages=bool(pick("use_support_packages", default=False)),
        description=str(pick("description", default=data.get("description", ""))),
    )
