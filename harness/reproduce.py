"""`harness reproduce`: resolve -> data -> env -> run every seed -> measure -> record.

The library half of the command (the CLI in ``harness/commands/reproduce.py``
only parses arguments and prints). One reproduction writes ``<out>/<run-id>/``:

    seed-<n>/harness.log      every trainer line stamped on the harness clock
    seed-<n>/work/            the seed's fresh copy of the folder (artifact, trainer logs)
    seed-<n>/measure.json     what we measured for that seed
    submission.json           the v1 record (validated on write)

Official mode refuses to start unless the machine is 8x H100 SXM and the data
is a canonical variant; smoke mode runs anywhere with budgets scaled to the
given seconds and says so in the record.
"""

from __future__ import annotations
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager, Protocol

from harness.core.verdict import FAIL
from harness.data.prepare import DataInfo, prepare_data, verify_data
from harness.errors import HarnessError, UsageError
from harness.evidence import ArtifactWatch, copy_submission
from harness.fa3_shim import shim_dir
from harness.limits import limits_from_policy
from harness.manifest import Manifest
from harness.measure import SeedMeasurement, measure_seed
from harness.phases import PhaseTracker
from harness.preflight import (OFFICIAL_NPROC, check_official, check_world_size, env_findings, environment_report,
                               live_caps, load_run_policy, node_line, qualify_node,
                               shared_host_findings)
from harness.record import SeedOutcome, build_record, sha256_file, write as write_record
from harness.resolve import ResolvedSubmission, resolve
from harness.sandbox import SandboxOptions, compile_cache_is_warm, other_seed_ids, pick_engine, scrub_secrets
from harness.sandbox_check import limit_findings, require_trust_boundary
from harness.supervisor import SeedSpec, run_seed, torchrun_argv

DEFAULT_SEEDS = (42, 314, 0)
OFFICIAL_TRAIN_S = 600.0
OFFICIAL_EVAL_S = 600.0
DEFAULT_SMOKE_S = 60.0

_STEP = re.compile(r"^(?:step:)?(\d+)/(\d+) (?:train|val)_loss")


@dataclass
class ReproduceOptions:
    seeds: list[int] = field(default_factory=lambda: list(DEFAULT_SEEDS))
    nproc: int | None = None
    mode: str = "smoke"  # official | smoke
    policy: str | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    data: Path | None = None
    out: Path = Path("runs")
    source_repo: str | None = None
    fa3_shim: bool = False
    isolate_network: bool = True
    run_id: str | None = None
    progress: bool = True
    env: dict[str, str] = field(default_factory=dict)  # --env KEY=VALUE, applied last and recorded
    # --compile-cache DIR: one torch.compile cache per submission version under DIR, shared by its
    # seeds and by later runs (None: a fresh, cold cache per seed). See compile_cache_for.
    compile_cache: Path | None = None
    sandbox_engine: str = "auto"  # bwrap | fallback | auto (bwrap when installed)


@dataclass
class ReproduceResult:
    run_dir: Path
    record_path: Path
    record: dict
    outcomes: list[SeedOutcome]
    exit_code: int
    wall_s: float
    comparison: Any = None  # harness.compare.report.CompareReport when the submission has claims


class SeedProgress(Protocol):
    def update(self, seed: int, **fields: Any) -> None: ...


# What shows the seeds' progress: built with the seeds and a title, entered for the run
# (harness.ui.LiveSeedTable in the CLI; nothing by default: library code never prints).
ProgressView = Callable[[list[int], str], ContextManager[SeedProgress]]


class SilentProgress:
    """The progress view of callers that show none."""

    def __init__(self, seeds: list[int], title: str):
        pass

    def __enter__(self) -> "SilentProgress":
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def update(self, seed: int, **fields: Any) -> None:
        pass


def _budgets(opts: ReproduceOptions, manifest: Manifest) -> tuple[float, float]:
    if opts.mode == "official":
        if opts.train_seconds or opts.eval_seconds:
            raise UsageError("--train-seconds/--eval-seconds apply to --mode smoke only; official budgets are 600 s + 600 s.")
        return OFFICIAL_TRAIN_S, OFFICIAL_EVAL_S
    train = opts.train_seconds or manifest.smoke_train_seconds or DEFAULT_SMOKE_S
    ev = opts.eval_seconds or manifest.smoke_eval_seconds or DEFAULT_SMOKE_S
    if train <= 0 or ev <= 0:
        raise UsageError("--train-seconds and --eval-seconds must be positive.")
    return float(train), float(ev)


def seed_env(sub: ResolvedSubmission, data: DataInfo, seed: int, run_id: str, mode: str,
             train_s: float, fa3_shim: bool, user_env: dict[str, str] | None = None) -> tuple[dict[str, str], dict[str, dict]]:
    """The seed's environment and, for the record, which smoke overrides were applied and why."""
    m = sub.manifest
    env = dict(m.env)
    overrides: dict[str, dict] = {}
    if mode == "smoke":
        for k, v in m.smoke_env.items():
            overrides[k] = {"from": env.get(k), "to": v, "reason": m.smoke_reasons.get(k, "smoke override")}
            env[k] = v
        overrides[m.train_seconds_env] = {"from": env.get(m.train_seconds_env), "to": f"{train_s:g}",
                                          "reason": "smoke budget (--train-seconds)"}
        env[m.train_seconds_env] = f"{train_s:g}"
    for k, v in (user_env or {}).items():
        overrides[k] = {"from": env.get(k), "to": v, "reason": "set with --env"}
        env[k] = v
    env.update({
        "SEED": str(seed),
        "RUN_ID": run_id,
        "DATA_PATH": str(data.data_dir),
        # Upstream layout: DATA_DIR/datasets/<variant dir> and DATA_DIR/tokenizers/.
        "DATA_DIR": str(data.data_dir.parent.parent if data.data_dir.parent.name == "datasets"
                        else data.data_dir.parent),
        "PYTHONUNBUFFERED": "1",
    })
    if data.tokenizer_path:
        env["TOKENIZER_PATH"] = str(data.tokenizer_path)
    if data.vocab_size:
        env["VOCAB_SIZE"] = str(data.vocab_size)
    if fa3_shim:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim_dir()), env.get("PYTHONPATH", "")]))
    return env, overrides


def _shim_paths(fa3_shim: bool) -> list[Path]:
    """The FA3 shim's folder, which the trainer imports when --fa3-shim is given."""
    return [Path(shim_dir())] if fa3_shim else []


def reproduce(ref: str, opts: ReproduceOptions, console_print: Callable[[str], None] | None = None,
              progress_view: ProgressView | None = None) -> ReproduceResult:
    """Run a full reproduction and write the record; see the module docstring.

    ``console_print`` receives the run's lines; ``progress_view`` (used when ``opts.progress``) shows the seeds.
    """
    say = console_print or (lambda s: None)
    t_start = time.monotonic()
    scrubbed = scrub_secrets()  # no token or credential survives in this process for a trainer to find
    if opts.mode not in ("official", "smoke"):
        raise UsageError(f"--mode must be official or smoke (got {opts.mode!r}).")
    if not opts.seeds:
        raise UsageError("give at least one seed (--seeds 42,314,0).")
    sub = resolve(ref, source_repo=opts.source_repo)
    m = sub.manifest
    nproc = opts.nproc or (OFFICIAL_NPROC if opts.mode == "official" else m.nproc)
    if nproc < 1:
        raise UsageError("--nproc must be >= 1.")
    train_s, eval_s = _budgets(opts, m)
    check_world_size(sub, {**m.env, **(m.smoke_env if opts.mode == "smoke" else {}), **opts.env}, nproc)
    reserved = {"SEED", "RUN_ID", "DATA_PATH", "DATA_DIR", "TOKENIZER_PATH", "VOCAB_SIZE"} & set(opts.env)
    if reserved or (opts.mode == "official" and opts.env):
        raise UsageError(f"--env cannot set {sorted(reserved) or 'anything in official mode'}; "
                         "the harness injects those itself.")
    report = environment_report(sub)
    if opts.mode == "official":
        check_official(report, m, nproc)
    report["node"] = qualify_node(nproc, opts.mode, report)
    data = prepare_data(m.data, opts.data)
    data_findings = verify_data(data, opts.mode, say)
    policy, policy_id = load_run_policy(opts.mode, opts.policy, train_s, eval_s)
    caps = live_caps(policy, opts.mode, train_s, eval_s)

    limits = limits_from_policy(policy)
    engine = pick_engine(opts.sandbox_engine)
    if opts.mode == "official":
        require_trust_boundary(engine, limits)

    run_id = opts.run_id or f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{sub.name}-{opts.mode}"
    run_dir = (Path(opts.out) / run_id).resolve()
    if run_dir.exists():
        raise UsageError(f"{run_dir} already exists.", hint="Pick another --out or run id.")
    run_dir.mkdir(parents=True)
    say(f"reproduce {sub.name} ({sub.origin.get('kind')}) mode={opts.mode} nproc={nproc} seeds={opts.seeds} "
        f"train={train_s:g}s eval={eval_s:g}s data={data.variant} -> {run_dir}")
    for n in sub.notes:
        say(f"  note: {n}")
    say(f"  node: {node_line(report['node'])}")

    cache_dir = compile_cache_for(opts.compile_cache, sub, report) if opts.compile_cache else None
    if cache_dir:
        say(f"  compile cache: {cache_dir} ({'warm' if compile_cache_is_warm(cache_dir) else 'cold'}; shared by this "
            "submission's seeds and later runs of it)")
    outcomes: list[SeedOutcome] = []
    all_overrides: dict[str, dict] = {}
    isolation: dict = {}
    view = progress_view if opts.progress and progress_view is not None else SilentProgress
    with view(opts.seeds, f"{sub.name} ({opts.mode})") as prog:
        for seed in opts.seeds:
            seed_dir = run_dir / f"seed-{seed}"
            work, pristine = seed_dir / "work", seed_dir / "code"
            copy_submission(sub.folder, pristine)  # the code bytes are counted here, out of the trainer's view
            copy_submission(pristine, work)
            env, overrides = seed_env(sub, data, seed, f"{run_id}-seed{seed}", opts.mode, train_s, opts.fa3_shim,
                                      opts.env)
            all_overrides = overrides
            log_path = seed_dir / "harness.log"
            spec = SeedSpec(argv=torchrun_argv(m.entry, nproc), cwd=work, env=env, log_path=log_path,
                            caps=caps, isolate_network=opts.isolate_network, label=f"seed {seed}",
                            state_dir=seed_dir / "sandbox",
                            sandbox=SandboxOptions(compile_cache_dir=cache_dir, engine=engine, limits=limits,
                                                   read_only=data.view_paths() + _shim_paths(opts.fa3_shim)))
            watch = ArtifactWatch(work, m.artifact)
            spec.on_phase = watch.on_phase
            t0 = time.monotonic()
            tracker = PhaseTracker()

            def on_line(t: float, text: str, seed=seed, tracker=tracker) -> None:
                mm = _STEP.match(text)
                upd: dict[str, Any] = {"elapsed": t, "phase": tracker.phase}
                if mm:
                    upd["step"] = f"{mm.group(1)}/{mm.group(2)}"
                if tracker.last_metric:  # a validation figure, never a marker such as val_bpb:byte_sidecar
                    upd["metric"] = tracker.last_metric[:60]
                prog.update(seed, **upd)

            busy = other_seed_ids(own="")
            if busy:
                say(f"  warning: {len(busy)} other harness seed(s) already running on this machine; seed {seed}'s "
                    "timings will not be the machine's own (host.shared)")
            prog.update(seed, phase="running", status="")
            run = run_seed(spec, on_line=on_line, tracker=tracker)
            isolation = {**(run.isolation or isolation), "harness_env_scrubbed": scrubbed}
            claimed = m.claim_for(seed)
            meas: SeedMeasurement = measure_seed(
                seed=seed, log_path=log_path, run_dir=work, code_dir=pristine, manifest=m, policy=policy,
                data_variant=data.variant, run_end_s=run.ended_at - run.started_at,
                data_dir=data.data_dir, tokenizer_path=data.tokenizer_path, exit_ok=run.ok,
                failure=run.failure, claimed_bpb=claimed.val_bpb if claimed else None,
                eval_snapshots=watch.snapshots)
            meas.findings.extend(shared_host_findings(run.isolation, opts.mode))
            meas.findings.extend(limit_findings(run.kill_reason))
            if not run.ok and meas.failure and re.search(
                    r"(Error|assert)[^\n]*world_size|world_size[^\n]*(must|divid)", _tail(log_path), re.I):
                meas.failure += " (the log mentions world_size: the submission may assume a fixed number of ranks)"
            outcome = SeedOutcome(seed=seed, measurement=meas, log_path=log_path,
                                  harness_wall_s=run.duration_s, started_wall=run.started_wall,
                                  exit_code=run.exit_code, killed=run.killed, kill_reason=run.kill_reason,
                                  isolation=run.isolation, orphans_left=run.orphans_left)
            outcomes.append(outcome)
            (seed_dir / "measure.json").write_text(json.dumps(meas.to_dict(), indent=2, default=str) + "\n")
            status = "ok" if outcome.ok else "FAILED"
            if any(v.get("status") == FAIL for v in meas.verdicts):
                status += " (verdict FAIL)"
            prog.update(seed, phase=status.lower().split()[0], status=status,
                        elapsed=time.monotonic() - t0,
                        metric=f"val_bpb {meas.val_bpb:.6f}" if meas.val_bpb is not None else (meas.failure or "")[:60])

    baseline_bpb = baseline_values(m)
    smoke = None
    if opts.mode == "smoke":
        smoke = {"train_seconds": train_s, "eval_seconds": eval_s, "official_train_seconds": OFFICIAL_TRAIN_S,
                 "official_eval_seconds": OFFICIAL_EVAL_S, "nproc": nproc, "official_nproc": OFFICIAL_NPROC,
                 "env_overrides": all_overrides, "fa3_shim": opts.fa3_shim}
    record = build_record(
        name=sub.name, mode=opts.mode, outcomes=outcomes, policy=policy, policy_id=policy_id, manifest=m,
        origin=sub.origin, code_dir=sub.folder, env_report=report, data_info=data.to_dict(),
        isolation=isolation, smoke=smoke, baseline_bpb=baseline_bpb, notes=sub.notes,
        run_id=run_id, run_dir=run_dir, extra_findings=env_findings(report, opts.mode) + data_findings)
    record_path = write_record(run_dir / "submission.json", record)
    comparison = compare_with_claims(sub, record, record_path, opts.mode, say)
    failed = any(not o.ok for o in outcomes)
    verdict_fail = any(v.get("status") == FAIL for o in outcomes for v in o.measurement.verdicts)
    error_findings = any(f.get("severity") == "error" for o in outcomes for f in o.measurement.findings)
    not_reproduced = comparison is not None and opts.mode == "official" and comparison.exit_code != 0
    code = 1 if (failed or verdict_fail or error_findings or not_reproduced) else 0
    return ReproduceResult(run_dir, record_path, record, outcomes, code, time.monotonic() - t_start, comparison)


def compile_cache_for(root: Path, sub: ResolvedSubmission, report: dict | None = None) -> Path:
    """The torch.compile cache folder of one submission version under ``root``.

    Seeds of one submission may share compiled kernels: they run the same code, and a warm cache
    only shortens the compile before the training timer, which no budget counts (the record says per
    seed whether its cache was warm). Different submissions never share one: a cache is code the next
    process loads, so one submission could plant kernels in another's run. The folder is keyed by the
    name and the pinned commit (PR heads) or the code's digest (local folders), then by what compiled
    kernels depend on: torch, triton and the GPU model (``report``, the env report), so a cache kept in
    a shared store (``harness fleet plan --compile-cache``) is only ever loaded where it was built for.
    """
    version = sub.origin.get("sha")
    if not version:
        entry = Path(sub.folder) / sub.manifest.entry
        version = sha256_file(entry) if entry.is_file() else "local"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sub.name)
    folder = f"{safe}-{str(version)[:12]}"
    if report is not None:
        gpus = sorted({str(g.get("name")) for g in report.get("gpus") or [] if isinstance(g, dict)}) or ["cpu"]
        platform = f"torch {report.get('torch')}|triton {report.get('triton')}|{','.join(gpus)}"
        folder += "-" + hashlib.sha256(platform.encode()).hexdigest()[:8]
    return (Path(root) / folder).resolve()


def compare_with_claims(sub: ResolvedSubmission, record: dict, record_path: Path, mode: str,
                        say: Callable[[str], None]) -> Any:
    """When the submission claims results: compare.json + compare.md beside the record and a summary in it.

    The comparison runs after the record is safely on disk and never loses it: a failure to compare
    becomes the summary's ``error``. In smoke mode the verdict is informative (scaled budgets cannot
    match an official claim); in official mode "does not reproduce" makes the exit code 1.
    """
    from harness.compare.claims import claim_side_for
    from harness.compare.judge import compare_sides
    from harness.compare.report import write_outputs
    from harness.compare.sides import DEFAULT_POLICY, load_timing_policy, load_v1_record

    run_dir = record_path.parent
    try:
        policy = load_timing_policy(DEFAULT_POLICY)
        claim = claim_side_for(sub, policy)
        if claim is None:
            return None
        run = load_v1_record(record_path, "run", str(run_dir))
        report = compare_sides(run, claim, policy.id)
        files = write_outputs(report, run_dir)
    except Exception as exc:  # noqa: BLE001 - the record is on disk; a comparison problem must not crash the run
        summary = {"verdict": "error", "claim": str(sub.folder), "error": f"{type(exc).__name__}: {exc}",
                   "affects_exit_code": False}
        say(f"  compare with the claim failed: {exc}")
        report = None
    else:
        summary = {**report.summary(), "files": files, "affects_exit_code": mode == "official"}
        say(f"compare vs claim {report.claim.target}: {report.verdict} ({run_dir / files['markdown']})")
    record["verification"]["comparison"] = summary
    write_record(record_path, record)
    return report


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-n:]
    except OSError:
        return ""


def baseline_values(m: Manifest) -> list[float] | None:
    """Per-seed BPB of the manifest's baseline (its claims), for the Welch test."""
    if not m.baseline:
        return None
    try:
        base = resolve(m.baseline)
    except HarnessError:
        return None
    vals = [c.val_bpb for c in base.manifest.claims if c.val_bpb is not None]
    return vals or None


def summary_rows(result: ReproduceResult) -> list[dict]:
    rows = []
    for o in result.outcomes:
        mm = o.measurement
        verdicts = ", ".join(f"{v.get('name')}:{v.get('status')}" for v in mm.verdicts) or "-"
        rows.append({"seed": o.seed, "status": "ok" if o.ok else f"FAILED ({mm.failure})",
                     "val_loss": mm.val_loss, "val_bpb": mm.val_bpb, "bytes": mm.artifact_bytes_disk,
                     "bytes_logged": mm.artifact_bytes_logged, "steps": mm.steps,
                     "wall_s": o.harness_wall_s, "verdicts": verdicts})
    return rows

