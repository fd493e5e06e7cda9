"""One log, read end to end: summary, headline, timeline and the verdicts of several policies.

The plain-data view `harness log` prints and the golden tests pin; every
figure comes from :mod:`events` -> :mod:`metrics` -> :mod:`timeline` ->
:mod:`policy`, nothing is computed here.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from harness.core import events as ev
from harness.core import metrics, policy, timeline

DEFAULT_POLICIES = ("organizer-tda-v1", "strict")


def analyze_events(events: list[ev.Event], policies: Iterable[str | policy.Policy] = DEFAULT_POLICIES,
                   claimed_bpb: float | None = None) -> dict[str, Any]:
    summ = metrics.summarize(events)
    head = metrics.pick_headline(events, claimed_bpb=claimed_bpb)
    out: dict[str, Any] = {
        "kinds": dict(sorted(Counter(e.kind for e in events).items())),
        "summary": {k: v for k, v in summ.to_dict().items() if k not in ("headline", "hyperparams")},
        "hyperparam_count": len(summ.hyperparams),
        "headline": head.to_dict() if head else None,
        "policies": {},
    }
    for p in policies:
        pol = p if isinstance(p, policy.Policy) else policy.load_policy(p)
        tl = timeline.build_timeline(events, pol)
        out["policies"][pol.id] = {
            "clock": tl.clock,
            "segments": [s.to_dict() for s in tl.segments],
            "findings": tl.findings,
            "verdicts": [v.to_dict() for v in pol.evaluate(tl)],
        }
    return out


def analyze_log(path: str | Path, policies: Iterable[str | policy.Policy] = DEFAULT_POLICIES,
                claimed_bpb: float | None = None) -> dict[str, Any]:
    """Everything the core reads from one log file."""
    return {"log": str(path), **analyze_events(ev.parse_file(path), policies, claimed_bpb)}


def golden_view(analysis: dict[str, Any]) -> dict[str, Any]:
    """The stable subset pinned by tests: kinds, run facts, headline, verdicts (rounded)."""
    def r(x: Any) -> Any:
        return round(x, 3) if isinstance(x, float) else x

    s = analysis["summary"]
    head = analysis["headline"]
    return {
        "kinds": analysis["kinds"],
        "facts": {k: r(s.get(k)) for k in ("seed", "world_size", "train_shards", "val_tokens", "target_tokens",
                                             "steps", "train_time_s", "artifact_bytes", "code_bytes",
                                             "total_eval_time_s", "torch_version")},
        "gpu": [s["hardware"]["gpu_name"], s["hardware"]["gpu_count"]],
        "headline": None if head is None else [head["name"], head["val_bpb"], head["line_no"]],
        "verdicts": {pid: [[v["name"], v["status"], r(v["value_s"])] for v in p["verdicts"]]
                     for pid, p in analysis["policies"].items()},
    }
