"""Loading the claim side of `harness compare`: a submission.json, a manifest's [claim], or a PR.

A claim is what a submission says (its submission.json or its manifest's ``[[claim.seeds]]``)
plus the per-seed logs beside it, which add steps, tok/s, the node from their nvidia-smi
block and a timing verdict. A PR reference ``github:openai/parameter-golf#N`` is resolved
with :mod:`harness.resolve`. :func:`load_side` accepts any form either side can take.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.compare.node import Node
from harness.compare.sides import (LogFacts, Side, claimed_metric, find_logs, load_logs, load_v1_record, pick_log,
                                   read_json, read_log)
from harness.core.compare import SeedFigures, claim_from_record
from harness.errors import HarnessError, UsageError

PR_REF = re.compile(r"^(?:github:)?[\w.-]+/[\w.-]+#\d+(?:@[0-9a-fA-F]{7,40})?$")


def load_legacy(sub_path: Path, role: str, target: str, policy: Any, *, kind: str = "submission.json") -> Side:
    """An upstream submission.json plus the seed logs beside it (matched to claimed seeds by the logged seed)."""
    from harness.core.legacy_record import LegacyRecord

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
            pick = pick_log(cands, head.val_bpb if len(by_seed) == 1 else None, None)
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
            pick = pick_log(cands, s.val_bpb, rec.logs.get(s.seed))
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

        if is_v1(read_json(js)):
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
            obj = read_json(p)
            from harness.core.records import is_v1

            return load_v1_record(p, role, target) if is_v1(obj) else load_legacy(p, role, target, policy)
        if p.name == "harness.toml":
            return load_manifest_claim(p.parent, role, target, policy, source_repo)
        return load_logs([p], role, target, policy)
    if p.is_dir():
        sub = p / "submission.json"
        if sub.is_file():
            from harness.core.records import is_v1

            if is_v1(read_json(sub)):
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

        if PR_REF.match(target.strip()):
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

