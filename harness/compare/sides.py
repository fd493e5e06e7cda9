"""Loading one side of `harness compare`: a harness run's record, or any training logs.

Each side becomes per-seed :class:`harness.core.compare.SeedFigures` plus its node, its
timing verdicts and notes on where each figure came from. Timing verdicts of logs use a
policy (default ``organizer-tda-v1``); a v1 record's verdicts are the ones the harness
measured and recorded, under the policy named in the record. Claims (submission.json,
manifests, PRs) are loaded by :mod:`harness.compare.claims`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.compare.node import Node
from harness.core import events, metrics, timeline
from harness.core import policy as policy_mod
from harness.core.compare import SeedFigures
from harness.core.logfiles import is_training_log
from harness.core.schema import loads_json
from harness.core.verdict import FAIL, PASS, PASS_GRACE, REPORTED, UNDETERMINED
from harness.errors import UsageError

DEFAULT_POLICY = "organizer-tda-v1"


@dataclass
class Side:
    """One side of the comparison as loaded: per-seed figures, node, timing, where it all came from."""

    role: str                    # run | claim
    target: str                  # what the user gave
    kind: str                    # harness-run | logs | submission.json | manifest | pr
    seeds: list[SeedFigures] = field(default_factory=list)
    node: Node | None = None
    timing_policy: str | None = None
    timing: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # seed -> verdict dicts
    logs: dict[str, str] = field(default_factory=dict)                      # seed -> log path
    metrics: dict[str, str] = field(default_factory=dict)                   # seed -> headline metric name
    mode: str | None = None      # official | smoke (v1 records)
    track: str | None = None
    notes: list[str] = field(default_factory=list)
    events: dict[str, list[Any]] = field(default_factory=dict, repr=False)   # seed -> parsed log (logs sides)

    def to_dict(self) -> dict[str, Any]:
        return {"role": self.role, "target": self.target, "kind": self.kind, "mode": self.mode, "track": self.track,
                "node": self.node.to_dict() if self.node else None, "timing_policy": self.timing_policy,
                "seeds": [asdict(s) for s in self.seeds], "timing": self.timing, "logs": self.logs,
                "metrics": self.metrics, "notes": self.notes}


def load_timing_policy(policy_id: str | None) -> policy_mod.Policy:
    try:
        return policy_mod.load_policy(policy_id or DEFAULT_POLICY, kind="timing")
    except policy_mod.PolicyError as exc:
        raise UsageError(f"{exc}.", hint="See `harness log policies` (e.g. organizer-tda-v1).") from None


def timing_summary(verdicts: list[dict[str, Any]]) -> str | None:
    """One word for a seed's train + eval verdicts (REPORTED figures are not judged)."""
    judged = [v.get("status") for v in verdicts if v.get("name") in ("train", "eval") and v.get("status") != REPORTED]
    if not judged:
        return None
    for word in (FAIL, UNDETERMINED, PASS_GRACE):
        if word in judged:
            return word
    return PASS


@dataclass
class LogFacts:
    """What one log gives the comparison."""

    path: Path
    figures: SeedFigures
    node: Node | None
    verdicts: list[dict[str, Any]]
    headline_agrees: bool | None = None
    metric: str | None = None                      # the headline's metric line name
    events: list[Any] = field(default_factory=list, repr=False)


def read_log(path: Path, policy: Any, *, claimed_bpb: float | None = None, label: str | None = None) -> LogFacts:
    """Parse one training log into figures, node and timing verdicts (one parser, one policy)."""
    evs = events.parse_file(path)
    summ = metrics.summarize(evs)
    head = metrics.pick_headline(evs, claimed_bpb) if claimed_bpb is not None else summ.headline
    verdicts = [v.to_dict() for v in policy.evaluate(timeline.build_timeline(evs, policy))] if policy else []
    seed = label if label is not None else (str(summ.seed) if summ.seed is not None else path.stem)
    fig = SeedFigures(seed=seed, val_bpb=head.val_bpb if head else None, val_loss=head.val_loss if head else None,
                      artifact_bytes=summ.artifact_bytes, steps=summ.steps, tok_per_s=summ.tok_per_s,
                      timing=timing_summary(verdicts), source=str(path))
    node = log_node(summ, path)
    return LogFacts(path, fig, node, verdicts, head.agrees_with_claim if head else None,
                    head.name if head else None, evs)


def log_node(summ: Any, path: Path) -> Node | None:
    """The node a log's nvidia-smi block shows (SKU, count, driver, CUDA)."""
    hw = summ.hardware
    if not hw.gpu_name:
        return None
    node = Node.from_name(hw.gpu_name, hw.gpu_count, f"nvidia-smi block in {path.name}")
    if node is not None:
        node.driver, node.cuda = hw.driver, hw.cuda
    return node


def claimed_metric(facts: LogFacts, claimed_bpb: float | None) -> str | None:
    """The metric line of a claim's own log that the claimed val_bpb is (None when no line agrees)."""
    if claimed_bpb is None:
        return None
    head = metrics.pick_headline(facts.events, claimed_bpb)
    return head.name if head is not None and head.agrees_with_claim else None


def metric_line(evs: list[Any], name: str) -> Any | None:
    """The last metric line named ``name`` (its ``_exact`` twin preferred) among headline candidates."""
    base = name[: -len("_exact")] if name.endswith("_exact") else name
    same = [e for e in metrics.headline_candidates(evs) if e.fields.get("base") == base]
    exact = [e for e in same if e.fields.get("exact")]
    return (exact or same or [None])[-1]


def find_logs(folder: Path) -> list[Path]:
    """Training logs under ``folder`` (recursive), harness-stamped ``harness.log`` first."""
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and ".git" not in p.parts and is_training_log(p)]
    return sorted(found, key=lambda p: (p.name != "harness.log", len(p.relative_to(folder).parts), str(p)))


def read_json(path: Path) -> dict[str, Any]:
    try:
        obj = loads_json(path.read_bytes(), str(path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable JSON file ({exc}).", hint="Give a submission.json.") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{path} does not hold a JSON object.", hint="Give a submission.json.")
    return obj


def node_from_v1(rec: dict[str, Any]) -> Node | None:
    env = rec.get("verification", {}).get("environment") or {}
    q = env.get("node") if isinstance(env.get("node"), dict) else None
    if q and q.get("gpu_count"):
        names = q.get("gpu_names") or []
        node = Node.from_name(" + ".join(names) if names else None, q.get("gpu_count"),
                              "hardware qualification at the run's start")
        if node is not None:
            node.driver = q.get("driver")
        return node
    if env.get("gpu_count"):
        return Node.from_name(env.get("gpu_name"), env.get("gpu_count"), "environment report")
    hw = rec.get("hardware")
    return Node.from_name(hw, None, "record hardware field") if hw else None


def load_v1_record(path: Path, role: str, target: str) -> Side:
    """A record the harness wrote (``runs/<id>/submission.json``): its recorded figures and verdicts."""
    rec = read_json(path)
    run_dir = path.parent
    v = rec.get("verification", {})
    side = Side(role=role, target=target, kind="harness-run", mode=v.get("mode"), track=rec.get("track"),
                timing_policy=(v.get("policy") or {}).get("id"), node=node_from_v1(rec))
    per_seed = v.get("per_seed") or {}
    for label, r in (rec.get("seed_results") or {}).items():
        ps = per_seed.get(label) or {}
        verdicts = list(ps.get("verdicts") or [])
        ok = r.get("status") == "ok"
        fig = SeedFigures(seed=str(label), val_bpb=r.get("val_bpb") if ok else None,
                          val_loss=r.get("val_loss") if ok else None, artifact_bytes=r.get("artifact_bytes"),
                          steps=r.get("steps"), timing=timing_summary(verdicts),
                          source=f"{path}: seed_results[{label}]")
        log_rel = ps.get("log_path")
        log = (run_dir / log_rel) if log_rel else None
        if log is not None and log.is_file():
            side.logs[str(label)] = str(log)
            summ = metrics.summarize(events.parse_file(log))
            fig.tok_per_s = summ.tok_per_s
            if side.node is None:
                side.node = log_node(summ, log)
        if r.get("headline_metric"):
            side.metrics[str(label)] = r["headline_metric"]
        if not ok:
            side.notes.append(f"seed {label} failed: {r.get('failure_reason', 'no reason recorded')}")
        side.timing[str(label)] = verdicts
        side.seeds.append(fig)
    if side.mode == "smoke":
        side.notes.append("smoke run (scaled budgets, unofficial): its figures are not expected to match an "
                          "official claim")
    return side


def load_logs(paths: list[Path], role: str, target: str, policy: Any) -> Side:
    """Any logs: one seed per log (the first log of a seed wins; harness.log files come first)."""
    side = Side(role=role, target=target, kind="logs", timing_policy=policy.id if policy else None)
    for p in paths:
        facts = read_log(p, policy)
        if facts.figures.val_bpb is None and facts.figures.steps is None:
            side.notes.append(f"{p}: no steps and no metric; not a seed log")
            continue
        seed = facts.figures.seed
        if seed in side.logs:
            side.notes.append(f"{p}: seed {seed} already read from {side.logs[seed]}; ignored")
            continue
        side.seeds.append(facts.figures)
        side.logs[seed] = str(p)
        side.timing[seed] = facts.verdicts
        side.events[seed] = facts.events
        if facts.metric:
            side.metrics[seed] = facts.metric
        if side.node is None and facts.node is not None:
            side.node = facts.node
    if not side.seeds:
        raise UsageError(f"{target} holds no training log with steps or a val_bpb line.",
                         hint="Give a runs/<id>/ folder, a folder of seed logs or one log.")
    return side


def pick_log(cands: list[LogFacts], claimed_bpb: float | None, named: str | None) -> LogFacts:
    if named:
        for c in cands:
            if c.path.name == Path(named).name:
                return c
    if claimed_bpb is not None:
        for c in cands:
            if c.figures.val_bpb is not None and abs(c.figures.val_bpb - claimed_bpb) <= 5e-5:
                return c
        for c in cands:  # the claimed value on another line of the log (a sliding metric beside a TTT one)
            if claimed_metric(c, claimed_bpb):
                return c
    return cands[0]

