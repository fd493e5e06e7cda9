"""`harness compare RUN CLAIM`: does a reproduction match what a submission claims?

Both sides are loaded into per-seed :class:`harness.core.compare.SeedFigures`
(BPB, loss, artifact bytes, steps, tok/s, the timing verdict) plus the node
they ran on, then :func:`harness.core.compare.compare` judges them with its
stated tolerances (per seed ``|delta| <= 3 s``, mean ``|delta| <= t(0.995,
n_c-1) s sqrt(1/n_c + 1/n_r)``, ``s`` the claimed seeds' sample std floored
at 0.0005; every reproduced seed must be <= 16,000,000 bytes; steps and tok/s
below 97 % of the claim warn).

What each side can be:

* RUN: a ``runs/<id>/`` folder of ours (its v1 ``submission.json`` holds the
  per-seed results, the timing verdicts measured on the harness clock and the
  node's qualification; its seed logs give tok/s), or any folder of logs (or
  one log), each log parsed with the one parser in ``harness.core``.
* CLAIM: a ``submission.json`` (upstream legacy or our v1) or a folder with
  one, plus the per-seed logs beside it (they add steps, tok/s, the node from
  their nvidia-smi block and a timing verdict); a ``submissions/NAME`` entry
  whose ``harness.toml`` has a ``[claim]`` section; or a PR reference
  ``github:openai/parameter-golf#N`` resolved with :mod:`harness.resolve`.

Timing verdicts of logs use a policy (default ``organizer-tda-v1``); a v1
record's verdicts are the ones the harness measured and recorded, under the
policy named in the record. The node matters because steps done in 600 s
depend on it: both nodes are shown, a difference warns, and a claim of the
record track that did not run on 8x H100 is flagged.

Torch-free: this module reads files only.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.schema import loads_json
from harness import __version__
from harness.core import events, metrics, schema, timeline
from harness.core import markdown as md
from harness.core import policy as policy_mod
from harness.core.constants import OFFICIAL_GPU, OFFICIAL_GPU_COUNT
from harness.core.compare import Check, Comparison, SeedFigures, claim_from_record, compare
from harness.errors import HarnessError, UsageError

DEFAULT_POLICY = "organizer-tda-v1"
REPORT_VERSION = 1
OFFICIAL_NODE = (OFFICIAL_GPU_COUNT, OFFICIAL_GPU)
LOG_SUFFIXES = (".log", ".txt")

_ICON = {"reproduces": "✅", "reproduces with warnings": "⚠️", "does not reproduce": "❌", "not comparable": "❔"}
_COMPLIANCE_ICON = {"complies": "✅", "complies with warnings": "⚠️", "does not comply": "❌", "compliance unknown": "❔"}
_COMPLIANCE_COLOUR = {"complies": "green", "complies with warnings": "yellow", "does not comply": "red",
                      "compliance unknown": "yellow"}
_COLOUR = {"reproduces": "green", "reproduces with warnings": "yellow", "does not reproduce": "red",
           "not comparable": "yellow"}
_PR_REF = re.compile(r"^(?:github:)?[\w.-]+/[\w.-]+#\d+(?:@[0-9a-fA-F]{7,40})?$")


# ------------------------------------------------------------------------------ node

_FAMILY = re.compile(r"(?<![A-Za-z0-9])(GH200|GB200|H100|H200|H800|H20|B200|B100|A100|A10G|A10|L40S|L40|L4|V100|T4|"
                     r"RTX\s?PRO\s?6000|RTX\s?\d{4}(?:\s?Ti)?|\d{4}(?:\s?Ti)?)(?![A-Za-z0-9])", re.I)
_COUNT = re.compile(r"(?<![A-Za-z0-9.])(\d+)\s*[x×]\s*(?=[A-Za-z])", re.I)


@dataclass
class Node:
    """The machine one side ran on, normalised enough to compare (count x family)."""

    name: str | None             # as reported: "NVIDIA H100 80GB HBM3", "8xH100 80GB SXM", "cpu"
    count: int | None
    source: str                  # where it was read: log nvidia-smi block, qualification, record field
    family: str | None = None    # H100, H200, A100, RTX 5090, cpu ...
    form_factor: str | None = None  # SXM | PCIe | None
    driver: str | None = None
    cuda: str | None = None

    @classmethod
    def from_name(cls, name: str | None, count: int | None, source: str) -> "Node | None":
        if not name and not count:
            return None
        text = str(name or "")
        m = _COUNT.search(text)
        if m and count is None:
            count = int(m.group(1))
        fam = None
        if re.search(r"\bcpu\b|gloo", text, re.I):
            fam = "cpu"
        else:
            fm = _FAMILY.search(_COUNT.sub("", text).replace("-", " "))
            if fm:
                fam = re.sub(r"\s+", " ", fm.group(1).upper()).strip()
                if fam.isdigit():
                    fam = f"RTX {fam}"
                fam = re.sub(r"^RTX\s*", "RTX ", fam)
        form = "SXM" if re.search(r"SXM|HBM3", text, re.I) else ("PCIe" if re.search(r"pcie", text, re.I) else None)
        return cls(name=text or None, count=count, source=source, family=fam or (text or None), form_factor=form)

    @property
    def key(self) -> str:
        """What two sides must share to be the same kind of node: the count and the GPU family."""
        fam = self.family or "unknown GPU"
        return f"{self.count}x {fam}" if self.count else fam

    @property
    def label(self) -> str:
        base = self.key + (f" {self.form_factor}" if self.form_factor and self.family != "cpu" else "")
        if self.name and self.family and self.name != self.family and self.family != "cpu":
            base += f" ({self.name})"
        return base

    def is_official(self) -> bool:
        return self.count == OFFICIAL_NODE[0] and self.family == OFFICIAL_NODE[1] and self.form_factor != "PCIe"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key, "label": self.label}


# ------------------------------------------------------------------------------ sides

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
    judged = [v.get("status") for v in verdicts if v.get("name") in ("train", "eval") and v.get("status") != "REPORTED"]
    if not judged:
        return None
    for word in ("FAIL", "UNDETERMINED", "PASS_GRACE"):
        if word in judged:
            return word
    return "PASS"


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
    node = _log_node(summ, path)
    return LogFacts(path, fig, node, verdicts, head.agrees_with_claim if head else None,
                    head.name if head else None, evs)


def _log_node(summ: Any, path: Path) -> Node | None:
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


def _looks_like_log(p: Path) -> bool:
    from verifier.subject import _looks_like_log as looks  # the verifier's one definition of "a training log"

    return p.suffix.lower() in LOG_SUFFIXES and p.name.lower() != "requirements.txt" and looks(p)


def find_logs(folder: Path) -> list[Path]:
    """Training logs under ``folder`` (recursive), harness-stamped ``harness.log`` first."""
    found = [p for p in sorted(folder.rglob("*")) if p.is_file() and ".git" not in p.parts and _looks_like_log(p)]
    return sorted(found, key=lambda p: (p.name != "harness.log", len(p.relative_to(folder).parts), str(p)))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        obj = loads_json(path.read_bytes(), str(path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable JSON file ({exc}).", hint="Give a submission.json.") from None
    if not isinstance(obj, dict):
        raise UsageError(f"{path} does not hold a JSON object.", hint="Give a submission.json.")
    return obj


def _node_from_v1(rec: dict[str, Any]) -> Node | None:
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
    rec = _read_json(path)
    run_dir = path.parent
    v = rec.get("verification", {})
    side = Side(role=role, target=target, kind="harness-run", mode=v.get("mode"), track=rec.get("track"),
                timing_policy=(v.get("policy") or {}).get("id"), node=_node_from_v1(rec))
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
                side.node = _log_node(summ, log)
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


def _pick_log(cands: list[LogFacts], claimed_bpb: float | None, named: str | None) -> LogFacts:
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


def load_legacy(sub_path: Path, role: str, target: str, policy: Any, *, kind: str = "submission.json") -> Side:
    """An upstream submission.json plus the seed logs beside it (matched to claimed seeds by the logged seed)."""
    from harness.core.records import LegacyRecord

    try:
        rec = LegacyRecord.from_path(sub_path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {sub_path} as a submission record ({exc}).") from None
    side = Side(role=role, target=target, kind=kind, track=rec.track,
                timing_policy=policy.id if policy else None, seeds=claim_from_record(rec))
    side.node = Node.from_name(rec.hardware, None, "submission.json hardware field") if rec.hardware else None
    logs = find_logs(sub_path.parent)
    by_seed: dict[str, list[LogFacts]] = {}
    for p in logs:
        facts = read_log(p, policy)
        by_seed.setdefault(facts.figures.seed, []).append(facts)
    claimed = {s.seed: s for s in side.seeds}
    if list(claimed) == ["mean"] and by_seed:
        # A headline-only record: its seed logs are the per-seed claim (the headline still checked below).
        head = claimed["mean"]
        side.notes.append("submission.json has no per-seed results; per-seed figures come from its logs")
        side.seeds = []
        for seed, cands in by_seed.items():
            pick = _pick_log(cands, head.val_bpb if len(by_seed) == 1 else None, None)
            if pick.figures.val_bpb is None:
                continue
            fig = pick.figures
            if len(by_seed) == 1 and head.val_bpb is not None and pick.figures.val_bpb is not None \
                    and abs(pick.figures.val_bpb - head.val_bpb) > 5e-5:
                if not claimed_metric(pick, head.val_bpb):
                    side.notes.append(f"no line of {pick.path.name} shows the claimed val_bpb {head.val_bpb} (its "
                                      f"headline is {pick.figures.val_bpb}); the claim is compared")
                fig.val_bpb = head.val_bpb
                fig.val_loss = head.val_loss if head.val_loss is not None else fig.val_loss
            side.seeds.append(fig)
            side.logs[seed] = str(pick.path)
            side.timing[seed] = pick.verdicts
            name = claimed_metric(pick, head.val_bpb) if len(by_seed) == 1 else pick.metric
            if name:
                side.metrics[seed] = name
        if not side.seeds:
            side.seeds = [head]
    else:
        for s in side.seeds:
            cands = by_seed.get(s.seed)
            if not cands:
                continue
            pick = _pick_log(cands, s.val_bpb, rec.logs.get(s.seed))
            f = pick.figures
            name = claimed_metric(pick, s.val_bpb)
            if name:
                side.metrics[s.seed] = name
            side.logs[s.seed] = str(pick.path)
            side.timing[s.seed] = pick.verdicts
            s.timing = f.timing
            s.steps = s.steps if s.steps is not None else f.steps
            s.tok_per_s = s.tok_per_s if s.tok_per_s is not None else f.tok_per_s
            s.val_loss = s.val_loss if s.val_loss is not None else f.val_loss
            s.artifact_bytes = s.artifact_bytes if s.artifact_bytes is not None else f.artifact_bytes
            if s.val_bpb is None:
                s.val_bpb = f.val_bpb
            elif name and name != pick.metric:
                side.notes.append(f"seed {s.seed}: the claim is {pick.path.name}'s {name} line, not its precedence "
                                  f"pick {pick.metric} ({f.val_bpb})")
            elif not name and f.val_bpb is not None and abs(f.val_bpb - s.val_bpb) > 5e-5:
                side.notes.append(f"seed {s.seed}: no line of {pick.path.name} shows the claimed val_bpb {s.val_bpb} "
                                  f"(its headline is {f.val_bpb}); the claim is compared")
        unmatched = [s.seed for s in side.seeds if s.seed not in side.logs]
        if logs and unmatched and unmatched != ["mean"]:
            side.notes.append(f"no log beside the claim for seed(s) {', '.join(unmatched)}: steps, tok/s and timing "
                              f"for them come from the claim alone")
    picked = {Path(p) for p in side.logs.values()}
    for cands in by_seed.values():
        for c in cands:
            if c.node is not None and (c.path in picked or side.node is None or side.node.count is None):
                side.node = c.node
                break
    if not logs:
        side.notes.append("no seed logs beside the claim: steps, tok/s, node and timing come from the claim alone")
    return side


def side_from_manifest(m: Any, code_folder: Path | None, role: str, target: str, policy: Any,
                       notes: list[str] | None = None) -> Side:
    """The [[claim.seeds]] of a manifest, with steps/tok/s/node/timing from the logs in ``code_folder``."""
    side = Side(role=role, target=target, kind="manifest", timing_policy=policy.id if policy else None,
                notes=list(notes or []))
    where = str(m.path) if m.path else "manifest"
    for c in m.claims:
        side.seeds.append(SeedFigures(seed=str(c.seed), val_bpb=c.val_bpb, val_loss=c.val_loss,
                                      artifact_bytes=c.bytes_total, steps=c.steps,
                                      source=f"{where}: [[claim.seeds]] seed {c.seed}"))
    if not m.claim_reproducible:
        side.notes.append(f"the manifest says the claim cannot be reproduced from the shipped code: "
                          f"{m.claim_reason or 'no reason given'}")
    if code_folder is not None and code_folder.is_dir():
        for p in find_logs(code_folder):
            facts = read_log(p, policy)
            s = next((x for x in side.seeds if x.seed == facts.figures.seed and x.seed not in side.logs), None)
            if s is None:
                continue
            side.logs[s.seed] = str(p)
            side.timing[s.seed] = facts.verdicts
            name = claimed_metric(facts, s.val_bpb)
            if name:
                side.metrics[s.seed] = name
            s.timing = facts.figures.timing
            s.steps = s.steps if s.steps is not None else facts.figures.steps
            s.tok_per_s = facts.figures.tok_per_s
            s.val_loss = s.val_loss if s.val_loss is not None else facts.figures.val_loss
            if side.node is None and facts.node is not None:
                side.node = facts.node
    return side


def load_manifest_claim(folder: Path, role: str, target: str, policy: Any, source_repo: str | None) -> Side:
    """A registry entry: the [claim] seeds of its harness.toml, plus the logs of the folder it resolves to."""
    from harness.manifest import MANIFEST_NAME, load_manifest

    m = load_manifest(folder / MANIFEST_NAME)
    code_folder: Path | None = None
    notes: list[str] = []
    try:
        from harness.resolve import resolve

        code_folder = resolve(str(folder), source_repo=source_repo).folder
    except HarnessError as exc:
        notes.append(f"the submission's code folder could not be resolved ({exc}); no logs beside the claim")
    if not m.claims:
        sub = code_folder / "submission.json" if code_folder else None
        if sub is not None and sub.is_file():
            side = load_legacy(sub, role, target, policy, kind="manifest")
            side.notes = notes + [f"{MANIFEST_NAME} has no [claim] seeds; the claims of {sub} are used"] + side.notes
            return side
        raise UsageError(f"{folder / MANIFEST_NAME} has no [[claim.seeds]] and no submission.json to take claims from.",
                         hint="Add [[claim.seeds]] rows (seed, val_bpb, bytes_total, steps) to the manifest.")
    return side_from_manifest(m, code_folder, role, target, policy, notes)


def claim_side_for(sub: Any, policy: Any) -> Side | None:
    """The claim of a resolved submission (``harness.resolve.ResolvedSubmission``), or None when it claims nothing.

    A registry entry's [claim] seeds win (its manifest is what we stand behind); a records folder or PR
    without them is judged against its own submission.json and the seed logs beside it.
    """
    m, origin = sub.manifest, sub.origin
    if origin.get("kind") == "pr":
        target = f"github:{origin.get('repo')}#{origin.get('pr')}@{str(origin.get('sha', ''))[:12]}"
    elif m.path is not None:
        target = str(m.path)
    else:
        target = str(sub.folder)
    if m.path is not None and m.claims:
        return side_from_manifest(m, sub.folder, "claim", target, policy)
    js = sub.folder / "submission.json"
    if js.is_file():
        from harness.core.records import is_v1

        if is_v1(_read_json(js)):
            return load_v1_record(js, "claim", str(js))
        side = load_legacy(js, "claim", str(js), policy, kind="pr" if sub.origin.get("kind") == "pr" else "submission.json")
        return side if any(s.val_bpb is not None for s in side.seeds) else None
    if m.claims:
        return side_from_manifest(m, sub.folder, "claim", target, policy)
    return None


def load_side(ref: str | Path, role: str, *, policy: Any, source_repo: str | None = None) -> Side:
    """Load one side from whatever the user gave (see the module docstring for the accepted forms)."""
    target = str(ref)
    p = Path(ref).expanduser()
    if p.is_file():
        if p.suffix.lower() == ".json":
            obj = _read_json(p)
            from harness.core.records import is_v1

            return load_v1_record(p, role, target) if is_v1(obj) else load_legacy(p, role, target, policy)
        if p.name == "harness.toml":
            return load_manifest_claim(p.parent, role, target, policy, source_repo)
        return load_logs([p], role, target, policy)
    if p.is_dir():
        sub = p / "submission.json"
        if sub.is_file():
            from harness.core.records import is_v1

            if is_v1(_read_json(sub)):
                return load_v1_record(sub, role, target)
            if role == "claim":
                return load_legacy(sub, role, target, policy)
        if role == "claim" and (p / "harness.toml").is_file():
            return load_manifest_claim(p, role, target, policy, source_repo)
        logs = find_logs(p)
        if not logs:
            raise UsageError(f"{p} holds neither a submission.json nor training logs.",
                             hint="Give a runs/<id>/ folder, a records folder or a submission.json.")
        return load_logs(logs, role, target, policy)
    if role == "claim":
        from harness.resolve import resolve

        if _PR_REF.match(target.strip()):
            res = resolve(target, source_repo=source_repo)
            sub = res.folder / "submission.json"
            if not sub.is_file():
                raise UsageError(f"{target} resolved to {res.folder}, which has no submission.json to take claims from.")
            side = load_legacy(sub, role, target, policy, kind="pr")
            side.notes = [f"resolved {target} to {res.origin.get('records_folder', res.folder)} at "
                          f"{str(res.origin.get('sha', ''))[:12]}"] + [n for n in res.notes if not n.startswith("no harness.toml")] + side.notes
            return side
        res = resolve(target, source_repo=source_repo)  # registry names (submissions/NAME)
        manifest_dir = Path(res.origin.get("path", res.folder))
        if (manifest_dir / "harness.toml").is_file():
            return load_manifest_claim(manifest_dir, role, target, policy, source_repo)
        return load_legacy(res.folder / "submission.json", role, target, policy)
    raise UsageError(f"{target} does not exist.", hint="RUN is a runs/<id>/ folder, a folder of logs or one log.")


# ------------------------------------------------------------------------------ report

@dataclass
class CompareReport:
    run: Side
    claim: Side
    comparison: Comparison
    policy: str
    harness_version: str = __version__

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    @property
    def compliance(self) -> str:
        """Whether the reproduced run kept the rules (cap, timing policy): a verdict apart from reproduction."""
        return self.comparison.compliance

    @property
    def exit_code(self) -> int:
        """0 reproduces (warnings included) and does not break a rule; 1 otherwise or nothing could be compared."""
        reproduces = self.verdict in ("reproduces", "reproduces with warnings")
        return 0 if reproduces and self.compliance != "does not comply" else 1

    def to_dict(self) -> dict[str, Any]:
        return {"report_version": REPORT_VERSION, "kind": "compare", "harness_version": self.harness_version,
                "verdict": self.verdict, "compliance": self.compliance, "exit_code": self.exit_code, "policy": self.policy,
                "run": self.run.to_dict(), "claim": self.claim.to_dict(), "comparison": self.comparison.to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def summary(self) -> dict[str, Any]:
        """The short form a record embeds (``verification.comparison``)."""
        mean = _check(self.comparison.mean, "mean_val_bpb")
        return {
            "verdict": self.verdict,
            "compliance": self.compliance,
            "claim": self.claim.target,
            "claim_kind": self.claim.kind,
            "policy": self.policy,
            "run_node": self.run.node.label if self.run.node else None,
            "claim_node": self.claim.node.label if self.claim.node else None,
            "mean_delta_bpb": (mean.numbers.get("delta") if mean else None),
            "mean_tolerance_bpb": (mean.numbers.get("tolerance") if mean else None),
            "claimed_std_bpb": self.comparison.tolerance.get("claimed_std_bpb"),
            "seeds": {seed: {c.name: c.status for c in checks} for seed, checks in self.comparison.seeds.items()},
            "problems": [f"{where}: {c.detail}" for where, c in self.problems()],
        }

    def problems(self) -> list[tuple[str, Check]]:
        out = [(f"seed {s}", c) for s, cs in self.comparison.seeds.items() for c in cs if c.status in ("error", "warning")]
        out += [("mean", c) for c in self.comparison.mean if c.status in ("error", "warning")]
        return out

    # ------------------------------------------------------------------ rows
    def rows(self) -> list[dict[str, str]]:
        claim_by = {s.seed: s for s in self.claim.seeds}
        run_by = {s.seed: s for s in self.run.seeds}
        rows = []
        for seed, checks in self.comparison.seeds.items():
            r, c = run_by.get(seed), claim_by.get(seed)
            bpb = _check(checks, "val_bpb")
            by = _check(checks, "bytes")
            worst = "error" if any(x.status == "error" for x in checks) else (
                "warning" if any(x.status == "warning" for x in checks) else "ok")
            rows.append({
                "seed": seed,
                "bpb_run": _f(r.val_bpb if r else None, ".6f"),
                "bpb_claim": _f(c.val_bpb if c else None, ".6f"),
                "delta": _f(bpb.numbers.get("delta") if bpb else None, "+.5f"),
                "tolerance": _f(bpb.numbers.get("tolerance") if bpb else None, ".5f", prefix="±"),
                "bytes": _f(r.artifact_bytes if r else None, ","),
                "margin": _f(by.numbers.get("margin_to_cap") if by else None, ","),
                "steps": f"{_f(r.steps if r else None, ',')} / {_f(c.steps if c else None, ',')}",
                "tok_s": f"{_f(r.tok_per_s if r else None, ',.0f')} / {_f(c.tok_per_s if c else None, ',.0f')}",
                "timing": f"{(r.timing if r else None) or '-'} / {(c.timing if c else None) or '-'}",
                "status": worst,
            })
        return rows

    def _policy_words(self, md: bool = False) -> str:
        q = "`" if md else ""
        rp, cp = self.run.timing_policy or self.policy, self.claim.timing_policy or self.policy
        if rp == cp:
            return f"timing policy {q}{rp}{q}"
        return f"timing policy {q}{rp}{q} (run, as recorded) / {q}{cp}{q} (claim)"

    def _nodes_line(self) -> str:
        rn = self.run.node.label if self.run.node else "unknown"
        cn = self.claim.node.label if self.claim.node else "unknown"
        return f"reproduction on {rn}; claim on {cn}"

    # ------------------------------------------------------------------ text
    def render_text(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.table import Table

        if console is None:
            console = Console()
            if not console.is_terminal:
                console = Console(width=200)
        colour = _COLOUR[self.verdict]
        console.print(f"[bold]harness compare[/bold] {self.run.target} ({self.run.kind}) vs {self.claim.target} "
                      f"({self.claim.kind}), {self._policy_words()}", highlight=False)
        console.print(f"node: {self._nodes_line()}", highlight=False)
        table = Table(show_lines=False)
        for col in ("seed", "val_bpb run", "claimed", "delta", "tolerance", "bytes", "margin to cap",
                    "steps run/claim", "tok/s run/claim", "timing run/claim", "status"):
            table.add_column(col, overflow="fold")
        for row in self.rows():
            st = {"error": "red", "warning": "yellow"}.get(row["status"], "green")
            table.add_row(row["seed"], row["bpb_run"], row["bpb_claim"], row["delta"], row["tolerance"], row["bytes"],
                          row["margin"], row["steps"], row["tok_s"], row["timing"], f"[{st}]{row['status']}[/{st}]")
        console.print(table)
        for c in self.comparison.mean:
            st = {"error": "red", "warning": "yellow", "ok": "green"}.get(c.status, "dim")
            console.print(f"[{st}]{c.status}[/{st}] {c.name}: {c.detail}", highlight=False)
        for where, c in self.problems():
            if where != "mean":
                st = "red" if c.status == "error" else "yellow"
                console.print(f"[{st}]{c.status}[/{st}] {where}: {c.name}: {c.detail}", highlight=False)
        for side in (self.run, self.claim):
            for n in side.notes:
                console.print(f"[dim]note ({side.role}): {n}[/dim]", highlight=False)
        tol = self.comparison.tolerance
        console.print(f"[dim]tolerance: s = {tol['claimed_std_bpb']:.5f} ({_spread_words(tol)}); per seed "
                      f"{tol['per_seed']}; mean {tol['mean']}, df {tol['df']}[/dim]", highlight=False)
        cc = _COMPLIANCE_COLOUR[self.compliance]
        console.print(f"reproduction: [{colour}]{self.verdict}[/{colour}]; compliance of the reproduced run: "
                      f"[{cc}]{self.compliance}[/{cc}]", highlight=False)

    # -------------------------------------------------------------- markdown
    def to_markdown(self) -> str:
        tol = self.comparison.tolerance
        lines = [f"### {_ICON[self.verdict]} `harness compare`: {self.verdict} · "
                 f"{_COMPLIANCE_ICON[self.compliance]} {self.compliance}", "",
                 f"**Reproduction:** `{self.run.target}` ({self.run.kind}"
                 + (f", {self.run.mode}" if self.run.mode else "") + ") · "
                 f"**Claim:** `{self.claim.target}` ({self.claim.kind}) · **{self._policy_words(md=True)}**",
                 f"**Node:** {md.cell(self._nodes_line())}", "",
                 "| seed | val_bpb run | claimed | Δ | tolerance | bytes | margin to cap | steps run / claim "
                 "| tok/s run / claim | timing run / claim | |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        icon = {"error": "❌", "warning": "⚠️", "ok": "✅"}
        for r in self.rows():
            lines.append(f"| {r['seed']} | {r['bpb_run']} | {r['bpb_claim']} | {r['delta']} | {r['tolerance']} | "
                         f"{r['bytes']} | {r['margin']} | {r['steps']} | {r['tok_s']} | {r['timing']} | "
                         f"{icon[r['status']]} |")
        lines.append("")
        for c in self.comparison.mean:
            lines.append(f"- {icon.get(c.status, 'ℹ️')} **{c.name}**: {md.cell(c.detail)}")
        problems = [(w, c) for w, c in self.problems() if w != "mean"]
        if problems:
            lines += ["", "**Per-seed problems**", ""]
            lines += [f"- {icon[c.status]} {w}: `{c.name}`: {md.cell(c.detail)}" for w, c in problems]
        lines += ["", "<details><summary>Tolerances, timing verdicts and sources</summary>", "",
                  f"- s = {tol['claimed_std_bpb']:.5f}: {_spread_words(tol)}",
                  f"- per seed: `{tol['per_seed']}`; mean: `{tol['mean']}`, df = {tol['df']}",
                  "- bytes: every reproduced seed must be <= 16,000,000; steps and tok/s below 97 % of the claim warn",
                  ""]
        for side in (self.run, self.claim):
            nd = side.node
            lines.append(f"**{side.role}** `{side.target}` ({side.kind}), timing policy "
                         f"`{side.timing_policy or '-'}`, node {md.cell(nd.label if nd else 'unknown')}"
                         + (f", driver {nd.driver}" if nd and nd.driver else "")
                         + (f", CUDA {nd.cuda}" if nd and nd.cuda else "")
                         + (f" ({md.cell(nd.source)})" if nd else ""))
            lines.append("")
            for seed, verdicts in side.timing.items():
                vs = "; ".join(f"{v.get('name')} {v.get('status')}"
                               + (f" {v['value_s']:.1f} s" if isinstance(v.get("value_s"), (int, float)) else "")
                               for v in verdicts)
                lines.append(f"- seed {seed}: {md.cell(vs) or 'no verdicts'}"
                             + (f" (`{Path(side.logs[seed]).name}`)" if seed in side.logs else ""))
            for n in side.notes:
                lines.append(f"- note: {md.cell(n)}")
            lines.append("")
        lines += ["</details>", "", f"<sub>pgolf-harness {self.harness_version} · compare report v{REPORT_VERSION}</sub>"]
        return "\n".join(lines) + "\n"

    def render(self, fmt: str) -> str:
        if fmt == "json":
            return self.to_json() + "\n"
        if fmt == "markdown":
            return self.to_markdown()
        from io import StringIO

        from rich.console import Console

        buf = StringIO()
        self.render_text(Console(file=buf, width=200, force_terminal=False, color_system=None))
        return buf.getvalue()


def _check(checks: list[Check], name: str) -> Check | None:
    return next((c for c in checks if c.name == name), None)


def _f(v: Any, spec: str, prefix: str = "") -> str:
    if v is None:
        return "-"
    if spec.startswith("+") and isinstance(v, float) and abs(v) < 5e-6:
        v = 0.0  # no "-0.00000"
    return prefix + format(v, spec)


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


_STATUS = {"enum": ["ok", "warning", "error", "n/a"]}
_CHECK = {"type": "object", "required": ["name", "status", "detail", "numbers"], "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "status": _STATUS, "detail": {"type": "string"},
                         "numbers": {"type": "object"}}}
_NUM = {"type": ["number", "null"]}
_SEED = {"type": "object", "required": ["seed", "val_bpb", "artifact_bytes", "steps", "tok_per_s", "timing", "source"],
         "properties": {"seed": {"type": "string"}, "val_bpb": _NUM, "val_loss": _NUM,
                        "artifact_bytes": {"type": ["integer", "null"]}, "steps": {"type": ["integer", "null"]},
                        "tok_per_s": _NUM, "timing": {"type": ["string", "null"]}, "source": {"type": "string"}}}
_SIDE = {"type": "object", "required": ["role", "target", "kind", "node", "timing_policy", "seeds", "timing", "notes"],
         "properties": {"role": {"enum": ["run", "claim"]}, "target": {"type": "string"},
                        "kind": {"enum": ["harness-run", "logs", "submission.json", "manifest", "pr"]},
                        "mode": {"type": ["string", "null"]}, "track": {"type": ["string", "null"]},
                        "node": {"type": ["object", "null"], "required": ["key", "label", "source"]},
                        "timing_policy": {"type": ["string", "null"]},
                        "seeds": {"type": "array", "items": _SEED},
                        "timing": {"type": "object", "additionalProperties": {"type": "array"}},
                        "logs": {"type": "object", "additionalProperties": {"type": "string"}},
                        "metrics": {"type": "object", "additionalProperties": {"type": "string"}},
                        "notes": {"type": "array", "items": {"type": "string"}}}}
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "harness compare report (--format json, compare.json)",
    "type": "object",
    "required": ["report_version", "kind", "harness_version", "verdict", "compliance", "exit_code", "policy", "run",
                 "claim",
                 "comparison"],
    "properties": {
        "report_version": {"const": REPORT_VERSION},
        "kind": {"const": "compare"},
        "harness_version": {"type": "string"},
        "verdict": {"enum": list(_ICON)},
        "compliance": {"enum": list(_COMPLIANCE_ICON)},
        "exit_code": {"enum": [0, 1]},
        "policy": {"type": "string"},
        "run": _SIDE,
        "claim": _SIDE,
        "comparison": {
            "type": "object", "required": ["verdict", "compliance", "tolerance", "seeds", "mean"],
            "properties": {"verdict": {"enum": list(_ICON)}, "compliance": {"enum": list(_COMPLIANCE_ICON)},
                           "tolerance": {"type": "object"},
                           "claim_node": {"type": ["string", "null"]}, "run_node": {"type": ["string", "null"]},
                           "seeds": {"type": "object", "additionalProperties": {"type": "array", "items": _CHECK}},
                           "mean": {"type": "array", "items": _CHECK}}},
    },
}
_REPORT_VALIDATOR = schema.validator(REPORT_SCHEMA)


def validate_report_json(obj: Any) -> list[str]:
    """Errors of a compare report (``CompareReport.to_dict()`` or compare.json) against :data:`REPORT_SCHEMA`."""
    return schema.errors(_REPORT_VALIDATOR, obj)


def _spread_words(tol: dict[str, Any]) -> str:
    how = ("the claim's few seeds pooled with the records' seed spread" if tol.get("pooled_with_records")
           else "sample std of the claimed per-seed val_bpb")
    return f"{how}, floored at {tol['std_floor_bpb']}"


def write_outputs(report: CompareReport, run_dir: Path) -> dict[str, str]:
    """compare.json + compare.md beside a run's record; returns their names."""
    (run_dir / "compare.json").write_text(report.to_json() + "\n", encoding="utf-8")
    (run_dir / "compare.md").write_text(report.to_markdown(), encoding="utf-8")
    return {"json": "compare.json", "markdown": "compare.md"}
