"""Per-seed measurements -> one submission.json (schema v1) with its own evidence.

Statistics are in BPB space (val_loss is nats per token of each submission's
own tokenizer, so only BPB compares across tokenizers): mean, both std
conventions, and a one-sided Welch test against a baseline's per-seed values
with the 0.005-nat margin converted to BPB (``harness.core.stats``). The
``verification`` block carries what a reviewer needs to trust the numbers:
harness version, policy id + sha256, isolation in force, env report, data
manifest sha256, code sha256s, per-seed log sha256, both clocks, excluded
segments, findings. Written through ``harness.core.records.write_record``,
which validates against the v1 schema before touching the disk.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.core import digest
from harness.core import stats as stats_mod
from harness.core.acceptance import README_POLICY, AcceptancePolicy, load_acceptance_policy
from harness.core.constants import DEFAULT_MARGIN_NATS
from harness.core.policy import Policy
from harness.core.records import write_record
from harness.fa3_shim import SHIM_REASON

def sha256_file(path: Path) -> str | None:
    """sha256 of a file, or None when there is no such file (a seed that wrote no artifact)."""
    return digest.sha256_file(path) if Path(path).is_file() else None


@dataclass
class SeedOutcome:
    """One seed as the record sees it: what ran (clocks, isolation) and what we measured."""

    seed: int
    measurement: Any  # harness.measure.SeedMeasurement
    log_path: Path
    harness_wall_s: float
    started_wall: float
    exit_code: int | None
    killed: bool
    kill_reason: str | None
    isolation: dict = field(default_factory=dict)
    orphans_left: int = 0

    @property
    def ok(self) -> bool:
        return bool(self.measurement.ok) and not self.killed and self.exit_code == 0


def iso_utc(ts: float | None = None) -> str:
    t = _dt.datetime.now(_dt.timezone.utc) if ts is None else _dt.datetime.fromtimestamp(ts, _dt.timezone.utc)
    return t.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def seed_stats(values: list[float]) -> dict | None:
    if not values:
        return None
    s = stats_mod.seed_summary(values)
    return {"mean": s.mean, "std_sample": s.std_sample, "std_population": s.std_population, "n": s.n}


def significance(candidate: list[tuple[float, float]], baseline_bpb: list[float],
                 policy: AcceptancePolicy | None = None) -> dict | None:
    """One-sided Welch in BPB space vs baseline per-seed values; None when it cannot be computed.

    Margin and p threshold are the acceptance policy's (default: the README rule, acceptance-readme).
    """
    if len(candidate) < 2 or len(baseline_bpb) < 2:
        return None
    policy = policy or load_acceptance_policy(README_POLICY)
    bpt = stats_mod.bytes_per_token_from_pairs(candidate)
    margin = stats_mod.margin_bpb(bpt, policy.margin_nats)
    res = stats_mod.welch_one_sided([b for _, b in candidate], baseline_bpb, margin)
    return {"test": "welch_one_sided_bpb", "acceptance_policy": policy.id, "margin_nats": policy.margin_nats,
            "margin_bpb": margin, "bytes_per_token": bpt, "t": res.t, "df": res.df, "p": res.p,
            "mean_diff_bpb": res.mean_diff, "alpha": policy.alpha,
            "significant": policy.alpha is not None and res.p < policy.alpha, "baseline_bpb": list(baseline_bpb)}


_SEGMENT_KEYS = ("name", "start", "end", "seconds", "source", "note")
_VERDICT_KEYS = ("name", "status", "value_s", "cap_s", "detail", "warnings")


def _segment(d: dict) -> dict:
    out = {k: d.get(k) for k in _SEGMENT_KEYS}
    if out["source"] not in ("harness", "script", "derived"):
        out["source"] = "derived"
    if out["note"] is not None and not isinstance(out["note"], str):
        out["note"] = str(out["note"])
    return out


def _verdict(d: dict) -> dict:
    out = {k: d.get(k) for k in _VERDICT_KEYS if k in d}
    out["warnings"] = [str(w) for w in (d.get("warnings") or [])]
    return out


def _int_or_none(v) -> int | None:
    return None if v is None else int(v)


def _failure(o: SeedOutcome) -> str:
    m = o.measurement
    return m.failure or (f"killed: {o.kill_reason}" if o.killed else f"exit code {o.exit_code}")


def _seed_result(o: SeedOutcome) -> dict:
    m = o.measurement
    out = {
        "status": "ok" if o.ok else "failed",
        "val_loss": m.val_loss,
        "val_bpb": m.val_bpb,
        "artifact_bytes": m.artifact_bytes_disk,
        "model_bytes": m.model_bytes_disk,
        "code_bytes": (m.code or {}).get("counted_bytes"),
        "steps": _int_or_none(m.steps),
        "train_time_s": m.train_time_s_script,
        "eval_time_s": m.eval_time_s_script,
        "val_tokens": _int_or_none(m.summary.get("val_tokens")),
        "target_tokens": _int_or_none(m.scored_targets),
        "scored_bytes": _int_or_none(m.expected_bytes),
        "headline_metric": (m.headline or {}).get("name"),
    }
    if not o.ok:
        out["failure_reason"] = _failure(o)
    return out


def _isolation(iso: dict) -> dict:
    out = {k: v for k, v in iso.items()}
    out["network"] = iso.get("network")
    out["pid"] = iso.get("pid_namespace") if "pid" not in iso else iso["pid"]
    out["cgroup"] = iso.get("cgroup") or (f"no ({iso.get('kill')} kill)" if iso.get("kill") else None)
    return out


def _per_seed(o: SeedOutcome, run_dir: Path | None) -> dict:
    m = o.measurement
    segs = [_segment(s) for s in m.segments if isinstance(s, dict)]
    excluded = [_segment(s) for s in m.segments if isinstance(s, dict) and s.get("excluded")]
    log_rel = str(o.log_path.relative_to(run_dir)) if run_dir and o.log_path.is_relative_to(run_dir) else str(o.log_path)
    d = {
        "log_path": log_rel,
        "log_sha256": sha256_file(o.log_path),
        "exit_code": o.exit_code,
        "killed": o.killed,
        "kill_reason": o.kill_reason,
        "wall_s": max(0.0, o.harness_wall_s),
        # cold: the seed compiled from nothing; warm: it found a cache an earlier seed or run wrote
        "compile_cache": o.isolation.get("compile_cache"),
        "harness_clock": {"segments": segs},
        "script_timers": {"train_time_s": m.train_time_s_script, "eval_time_s": m.eval_time_s_script},
        "excluded_segments": excluded,
        "verdicts": [_verdict(v) for v in m.verdicts if isinstance(v, dict)],
        "coverage": {"scored_targets": _int_or_none(m.scored_targets),
                     "canonical_targets": _int_or_none(m.canonical_targets),
                     "scored_bytes": None if m.implied_bytes is None else int(round(m.implied_bytes)),
                     "expected_bytes": _int_or_none(m.expected_bytes),
                     "fraction": m.coverage},
    }
    if m.artifact_path and Path(m.artifact_path).is_file():
        d["artifact_sha256"] = sha256_file(Path(m.artifact_path))
    return d


def data_content_sha256(data_dir: str | None) -> str | None:
    """The data manifest's content digest (without its creation time), or None without a manifest:
    what records of one dataset fetched or built on different nodes have in common."""
    if not data_dir:
        return None
    from harness.data.manifest import content_sha256, read_manifest

    try:
        manifest = read_manifest(data_dir)
    except ValueError:
        return None
    return content_sha256(manifest) if manifest is not None else None


def summarize_seeds(seed_results: dict[str, dict], baseline_bpb: list[float] | None,
                    baseline_name: str | None) -> tuple[dict, dict, list[dict]]:
    """The record's figures over its seeds: the top-level summary fields, the ``stats`` block and the
    findings they raise. Only seeds with status ok and a val_bpb count (failed seeds are listed, never
    averaged). It reads the seed_results of a record, so a record written by one run and one merged
    from per-seed records (``harness record merge``) get their numbers from the same code."""
    ok = [r for r in seed_results.values() if r.get("status") == "ok" and r.get("val_bpb") is not None]
    bpb = [r["val_bpb"] for r in ok]
    loss = [r["val_loss"] for r in ok]
    pairs = [(r["val_loss"], r["val_bpb"]) for r in ok]
    bytes_ok = [r["artifact_bytes"] for r in ok if r.get("artifact_bytes")]
    code_ok = [r.get("code_bytes") for r in ok if r.get("code_bytes") is not None]

    findings: list[dict] = []
    stats: dict[str, Any] = {"mean": None, "std_sample": None, "std_population": None, "n": 0}
    s_bpb, s_loss = seed_stats(bpb), seed_stats(loss)
    if s_bpb:
        stats.update(s_bpb)
        stats["val_loss"] = s_loss
        try:
            bpt = stats_mod.bytes_per_token_from_pairs(pairs)
            stats["bytes_per_token"] = bpt
            stats["margin_bpb"] = stats_mod.margin_bpb(bpt, DEFAULT_MARGIN_NATS)
        except ValueError:
            pass
    sig = significance(pairs, baseline_bpb) if baseline_bpb else None
    if sig:
        stats["welch"] = {"baseline": str(baseline_name), "t": sig["t"], "df": sig["df"], "p": sig["p"],
                          "mean_diff": sig["mean_diff_bpb"], "margin_bpb": sig["margin_bpb"]}
    elif baseline_bpb:
        stats["welch"] = None
        findings.append({"rule": "stats.welch", "severity": "info", "seed": None,
                         "message": "Welch test needs >= 2 successful seeds on each side"})
    summary = {"val_loss": s_loss["mean"] if s_loss else None, "val_bpb": s_bpb["mean"] if s_bpb else None,
               "val_loss_std": s_loss["std_sample"] if s_loss else None,
               "val_bpb_std": s_bpb["std_sample"] if s_bpb else None,
               "bytes_total": max(bytes_ok) if bytes_ok else None,
               "bytes_code": max(code_ok) if code_ok else None}
    return summary, stats, findings


def build_record(*, name: str, mode: str, outcomes: list[SeedOutcome], policy: Policy, policy_id: str,
                 manifest: Any, origin: dict, code_dir: Path, env_report: dict, data_info: dict,
                 isolation: dict, smoke: dict | None, baseline_bpb: list[float] | None,
                 run_id: str | None = None, run_dir: Path | None = None,
                 author: str = "pgolf-harness", github_id: str = "pgolf-harness",
                 notes: list[str] | None = None, extra_findings: list[dict] | None = None) -> dict:
    """The v1 record for one reproduction (failed seeds listed, never averaged)."""
    findings: list[dict] = []
    for o in outcomes:
        for f in o.measurement.findings:
            findings.append({"rule": str(f.get("rule", "measure")), "severity": f.get("severity", "info")
                             if f.get("severity") in ("error", "warning", "info") else "info",
                             "message": str(f.get("message", "")), "seed": o.seed,
                             **({"evidence": f["evidence"]} if "evidence" in f else {})})
        if not o.ok:
            findings.append({"rule": "seed.failed", "severity": "error", "message": _failure(o), "seed": o.seed})
    for f in extra_findings or []:
        findings.append({"rule": str(f.get("rule") or "env"), "message": str(f.get("message", "")),
                         "severity": f.get("severity") if f.get("severity") in ("error", "warning", "info") else "info",
                         "seed": None, **({"evidence": f["evidence"]} if "evidence" in f else {})})
    for n in notes or []:
        findings.append({"rule": "resolve.note", "severity": "info", "message": n, "seed": None})

    unofficial: list[str] = []
    if mode != "official":
        unofficial.append("smoke mode: budgets and hardware are not the official ones")
    if smoke:
        unofficial.append(f"smoke scaling: train {smoke['train_seconds']:g} s (official {smoke['official_train_seconds']:g} s), "
                          f"eval {smoke['eval_seconds']:g} s (official {smoke['official_eval_seconds']:g} s), "
                          f"nproc {smoke['nproc']} (official {smoke['official_nproc']})")
        for k, ov in (smoke.get("env_overrides") or {}).items():
            unofficial.append(f"smoke override {k}={ov['to']} (was {ov['from']}): {ov['reason']}")
        if smoke.get("fa3_shim"):
            unofficial.append(SHIM_REASON)
        findings.append({"rule": "smoke.scaling", "severity": "info", "seed": None,
                         "message": "budgets scaled for a smoke run", "evidence": smoke})

    seed_results = {str(o.seed): _seed_result(o) for o in outcomes}
    summary, stats, stats_findings = summarize_seeds(seed_results, baseline_bpb, manifest.baseline)
    findings.extend(stats_findings)

    code_files = []
    for f in manifest.code_files:
        p = code_dir / f
        if p.is_file():
            code_files.append({"path": f, "sha256": sha256_file(p), "bytes": p.stat().st_size, "counted": True})
    first_code = next((o.measurement.code for o in outcomes if o.measurement.code), {}) or {}

    tok = data_info.get("tokenizer_path")
    data_block = {"variant": data_info["variant"], "manifest_sha256": data_info.get("manifest_sha256"),
                  "content_sha256": data_content_sha256(data_info.get("data_dir")),
                  "tokenizer_sha256": sha256_file(Path(tok)) if tok else None,
                  "val_targets": next((_int_or_none(o.measurement.canonical_targets) for o in outcomes
                                       if o.measurement.canonical_targets), None),
                  "val_bytes": None}
    policy_ref = {"id": policy.id, "version": policy.version, "sha256": policy.sha256, "kind": "timing"}
    if policy.effective_from:
        policy_ref["effective_from"] = policy.effective_from
    source = {k: (v if isinstance(v, (str, int)) or v is None else str(v)) for k, v in origin.items()}

    hardware = env_report.get("hardware") if isinstance(env_report.get("hardware"), str) else None
    if hardware is None:
        nproc = (smoke or {}).get("nproc")
        hardware = "cpu (gloo)" + (f" x{nproc} ranks" if nproc else "")
    record = {
        "schema_version": "pgolf-harness/submission-v1",
        "name": name,
        "author": author,
        "github_id": github_id,
        "date": _dt.date.today().isoformat(),
        "track": "10min_16mb",
        "blurb": f"Reproduced by pgolf-harness ({mode} mode).",
        "val_loss": summary["val_loss"],
        "val_bpb": summary["val_bpb"],
        "val_loss_std": summary["val_loss_std"],
        "val_bpb_std": summary["val_bpb_std"],
        "seeds": [o.seed for o in outcomes],
        "seed_results": seed_results,
        "bytes_total": summary["bytes_total"],
        "bytes_code": summary["bytes_code"],
        "hardware": hardware,
        "pytorch_version": str(env_report.get("torch") or ""),
        "verification": {
            "harness_version": __version__,
            "created_at": iso_utc(),
            "run_id": run_id or "",
            "source": source,
            "mode": mode,
            "unofficial_reasons": unofficial,
            "policy": policy_ref,
            "isolation": _isolation(isolation),
            "environment": env_report,
            "data": data_block,
            "code": {"files": code_files, "counted_bytes": first_code.get("counted_bytes"),
                     "recipe": first_code.get("recipe")},
            "per_seed": {str(o.seed): _per_seed(o, run_dir) for o in outcomes},
            "stats": stats,
            "findings": findings,
        },
    }
    return record


def write(path: Path, record: dict) -> Path:
    """Validate against the v1 schema and write atomically."""
    return write_record(path, record)
