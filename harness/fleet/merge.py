"""Per-seed records -> one multi-seed record (`harness record merge`).

A fleet runs each (submission, seed) as its own `harness reproduce --seeds S` on
its own node, so each node writes a one-seed record. Merging them gives the record
one multi-seed run would have written: the per-seed blocks are taken as they are,
and the figures over the seeds (mean, both stds, bytes per token, margin, Welch
against the manifest's baseline) come from ``harness.record.summarize_seeds``, the
code a single run uses. The comparison with the submission's claims is made by
reproduce's own ``compare_with_claims``.

Records that do not describe the same experiment are refused: another submission
version (code sha256), another dataset (variant, data manifest, tokenizer), another
timing policy, or other run settings (mode, smoke scaling). Seeds that ran on
different node types are kept, each with its own node qualification
(``per_seed[S].node``), and flagged with a ``fleet.node_types`` warning.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.core import records as core_records
from harness.errors import UsageError

MERGE_RULE = "record.merge"
NODE_TYPES_RULE = "fleet.node_types"
# Findings a merge recomputes from all seeds together; the per-seed records' own are dropped.
_RECOMPUTED_RULES = {"stats.welch", MERGE_RULE, NODE_TYPES_RULE}


@dataclass
class SeedRecord:
    """One seed of one input record: where it came from and the node it ran on."""

    seed: int
    record: dict
    path: Path  # the submission.json holding it

    @property
    def run_dir(self) -> Path:
        return self.path.parent


def load_records(paths: list[Path]) -> list[tuple[Path, dict]]:
    """Each RUN (a run folder or its submission.json) as a validated v1 record."""
    out = []
    for p in paths:
        f = p / "submission.json" if p.is_dir() else p
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise UsageError(f"cannot read a record from {p}: {exc}") from None
        if not core_records.is_v1(obj):
            raise UsageError(f"{f} is not a harness record (no verification block); only records written by "
                             "`harness reproduce` can be merged.")
        errors = core_records.validate_record(obj)
        if errors:
            raise UsageError(f"{f} does not meet the v1 schema: {errors[0]}")
        out.append((f.resolve(), obj))
    return out


def _version(rec: dict) -> tuple:
    files = rec["verification"]["code"]["files"]
    return rec["name"], tuple(sorted((f["path"], f["sha256"]) for f in files))


def _data(rec: dict) -> tuple:
    """The dataset by its manifest's content (nodes that fetched the same files agree on it; the file's own
    sha256 differs by its creation time), else by the manifest file (records older than content_sha256)."""
    d = rec["verification"]["data"]
    return d["variant"], d.get("content_sha256") or d.get("manifest_sha256"), d.get("tokenizer_sha256")


def _policy(rec: dict) -> tuple:
    p = rec["verification"]["policy"]
    return p["id"], p.get("version"), p.get("sha256")


def _settings(rec: dict) -> tuple:
    v = rec["verification"]
    return v["mode"], tuple(v.get("unofficial_reasons") or ())


_SAMENESS = (
    ("submission version", _version, lambda k: f"{k[0]} with code {', '.join(s[:12] for _, s in k[1]) or 'none'}"),
    ("data", _data, lambda k: f"{k[0]} (manifest {str(k[1])[:12]}, tokenizer {str(k[2])[:12]})"),
    ("policy", _policy, lambda k: f"{k[0]} v{k[1]} ({str(k[2])[:12]})"),
    ("run settings", _settings, lambda k: f"{k[0]} mode" + (f" ({'; '.join(k[1])})" if k[1] else "")),
)


def check_same_experiment(loaded: list[tuple[Path, dict]]) -> None:
    """Refuse (UsageError, exit 2) records that differ in what makes two seeds comparable."""
    first_path, first = loaded[0]
    for what, key, show in _SAMENESS:
        want = key(first)
        for path, rec in loaded[1:]:
            got = key(rec)
            if got != want:
                raise UsageError(f"cannot merge records of different {what}: {first_path} has {show(want)}, "
                                 f"{path} has {show(got)}.")


def node_type(environment: dict) -> str:
    """What kind of node a record's seeds ran on: GPU count and model, or no GPU."""
    node = environment.get("node") or {}
    names = node.get("gpu_names") or [g.get("name") if isinstance(g, dict) else str(g)
                                      for g in environment.get("gpus") or []]
    count = node.get("gpu_count") or environment.get("gpu_count") or len(names)
    if not count:
        return "no GPU"
    kinds = sorted({n for n in names if n})
    return f"{count}x {' + '.join(kinds) or 'GPU'}"


def split_seeds(loaded: list[tuple[Path, dict]]) -> list[SeedRecord]:
    """Every seed of every record, in the order given; a seed twice is refused."""
    seen: dict[int, Path] = {}
    out = []
    for path, rec in loaded:
        for seed in rec["seeds"]:
            if seed in seen:
                raise UsageError(f"seed {seed} is in two records ({seen[seed]} and {path}); merge each seed once.")
            seen[seed] = path
            out.append(SeedRecord(seed, rec, path))
    return out


def _merged_findings(seeds: list[SeedRecord]) -> list[dict]:
    """Per-seed findings of each seed from its own record, then the run-wide ones (env, data, notes,
    smoke scaling) once each, in the order a single run writes them."""
    per_seed = [f for s in seeds for f in s.record["verification"]["findings"]
                if f.get("seed") == s.seed and f.get("rule") not in _RECOMPUTED_RULES]
    run_wide: list[dict] = []
    for s in seeds:
        for f in s.record["verification"]["findings"]:
            if f.get("seed") is None and f.get("rule") not in _RECOMPUTED_RULES and f not in run_wide:
                run_wide.append(f)
    return per_seed + run_wide


def _node_finding(seeds: list[SeedRecord]) -> dict | None:
    types = {str(s.seed): node_type(s.record["verification"]["environment"]) for s in seeds}
    if len(set(types.values())) < 2:
        return None
    listed = ", ".join(f"seed {k}: {v}" for k, v in types.items())
    return {"rule": NODE_TYPES_RULE, "severity": "warning", "seed": None,
            "message": f"seeds ran on different node types ({listed}); each seed's node qualification is in "
                       "its per_seed block, and timings compare only between seeds of one type",
            "evidence": {"node_types": types}}


def merge_records(loaded: list[tuple[Path, dict]], baseline_bpb: list[float] | None,
                  baseline_name: str | None, run_id: str) -> dict:
    """The multi-seed record of ``loaded`` (already checked with check_same_experiment); the baseline's
    per-seed BPB (the manifest's, as a single run looks them up) for the Welch test, or None."""
    from harness.record import iso_utc, summarize_seeds

    seeds = split_seeds(loaded)
    first = loaded[0][1]
    merged = copy.deepcopy(first)
    v = merged["verification"]
    seed_results = {str(s.seed): s.record["seed_results"][str(s.seed)] for s in seeds}
    summary, stats, stats_findings = summarize_seeds(seed_results, baseline_bpb, baseline_name)
    merged.update(summary)
    merged["seeds"] = [s.seed for s in seeds]
    merged["seed_results"] = seed_results
    merged["date"] = _dt.date.today().isoformat()
    hardware = list(dict.fromkeys(s.record.get("hardware") for s in seeds if s.record.get("hardware")))
    merged["hardware"] = "; ".join(hardware) if hardware else first.get("hardware")
    v["created_at"] = iso_utc()
    v["run_id"] = run_id
    v.pop("comparison", None)
    v["stats"] = stats
    v["per_seed"] = {}
    for s in seeds:
        block = copy.deepcopy(s.record["verification"]["per_seed"][str(s.seed)])
        node = s.record["verification"]["environment"].get("node")
        if isinstance(node, dict):
            block["node"] = node
        v["per_seed"][str(s.seed)] = block
    findings = _merged_findings(seeds)
    node_finding = _node_finding(seeds)
    if node_finding:
        findings.append(node_finding)
    findings.extend(stats_findings)
    findings.append({"rule": MERGE_RULE, "severity": "info", "seed": None,
                     "message": f"merged from {len(loaded)} record(s) by harness record merge",
                     "evidence": {"records": {str(s.seed): {"path": str(s.path),
                                                              "run_id": s.record["verification"]["run_id"],
                                                              "data_manifest_sha256":
                                                                  s.record["verification"]["data"]["manifest_sha256"],
                                                              "created_at": s.record["verification"]["created_at"]}
                                              for s in seeds}}})
    v["findings"] = findings
    return merged


def copy_seed_evidence(seeds: list[SeedRecord], out: Path) -> None:
    """Each seed's folder (harness log, measure.json) beside the merged record, so its log_path holds.
    The trainer's working copy (work/: artifact, trainer logs) stays with the per-seed run."""
    for s in seeds:
        rel = Path(s.record["verification"]["per_seed"][str(s.seed)].get("log_path") or f"seed-{s.seed}/harness.log")
        src = s.run_dir / rel.parts[0] if len(rel.parts) > 1 else s.run_dir
        dest = out / src.name
        if src.is_dir() and not dest.exists():
            shutil.copytree(src, dest, ignore=shutil.ignore_patterns("work", "sandbox"))


def merge(paths: list[Path], out: Path, submission: str | None = None, source_repo: str | None = None,
          say: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """`harness record merge`: load, check, merge, write ``out/submission.json``, compare with claims."""
    from harness.record import write as write_record
    from harness.reproduce import compare_with_claims

    say = say or (lambda _s: None)
    if len(paths) < 1:
        raise UsageError("give at least one record to merge.")
    loaded = load_records(paths)
    check_same_experiment(loaded)
    sub = resolve_submission(loaded[0][1], submission, source_repo)
    baseline = _baseline(sub)
    out = Path(out)
    if (out / "submission.json").exists():
        raise UsageError(f"{out / 'submission.json'} already exists.", hint="Pick another --out.")
    out.mkdir(parents=True, exist_ok=True)
    merged = merge_records(loaded, baseline, sub.manifest.baseline if sub else None, run_id=out.resolve().name)
    copy_seed_evidence(split_seeds(loaded), out)
    path = write_record(out / "submission.json", merged)
    if sub is not None:
        compare_with_claims(sub, merged, path, merged["verification"]["mode"], say)
    else:
        say("  the submission is not on this machine: no comparison with its claims (pass --submission REF)")
    return path, merged


def resolve_submission(rec: dict, ref: str | None, source_repo: str | None):
    """The submission the records ran, found again here (for its claims and baseline), or None.

    A registry entry or folder named by the record's source comes first (its manifest holds the claims),
    then a PR at its pinned commit. Its code must be the version the records measured; another is refused."""
    from harness.record import sha256_file
    from harness.resolve import resolve

    src = rec["verification"]["source"]
    if ref is None:
        manifest_dir = str(Path(src["manifest"]).parent) if src.get("manifest") else None
        ref = next((c for c in (manifest_dir, src.get("path"), rec["name"]) if c and _resolvable(c)), None)
        if ref is None and src.get("kind") == "pr":
            ref = f"github:{src.get('repo')}#{src.get('pr')}@{src.get('sha')}"
            recorded_repo = src.get("source_repo")
            if source_repo is None and recorded_repo and ("://" in recorded_repo or Path(recorded_repo).exists()):
                source_repo = recorded_repo
        if ref is None:
            return None
    sub = resolve(ref, source_repo=source_repo)
    want = dict(p for p in _version(rec)[1])
    have = {f: sha256_file(Path(sub.folder) / f) for f in want}
    if have != want:
        raise UsageError(f"{ref} is not the submission version the records ran (code sha256 differs).",
                         hint="Pass --submission with the version that ran.")
    return sub


def _resolvable(ref: str) -> bool:
    from harness.resolve import registry_entry

    return Path(ref).is_dir() or registry_entry(ref) is not None


def _baseline(sub) -> list[float] | None:
    if sub is None:
        return None
    from harness.reproduce import baseline_values  # the lookup a single run uses

    return baseline_values(sub.manifest)
