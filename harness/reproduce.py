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
from typing import Any, Callable

from harness.errors import EnvironmentProblem, HarnessError, UsageError
from harness.data.embedded import ensure_embedded, tokenizer_for
from harness.env import check_env, env_report
from harness.fa3_shim import shim_dir
from harness.evidence import ArtifactWatch, copy_submission
from harness.limits import limits_from_policy
from harness.phases import PhaseTracker
from harness.sandbox import SandboxOptions, compile_cache_is_warm, other_seed_ids, pick_engine, scrub_secrets
from harness.sandbox_check import limit_findings, require_trust_boundary
from harness.supervisor import SeedSpec, run_seed, torchrun_argv
from harness.manifest import Manifest
from harness.measure import SeedMeasurement, measure_seed
from harness.record import SeedOutcome, build_record, sha256_file, write as write_record
from harness.resolve import ResolvedSubmission, resolve

DEFAULT_SEEDS = (42, 314, 0)
OFFICIAL_NPROC = 8
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
class DataInfo:
    variant: str
    data_dir: Path
    tokenizer_path: Path | None
    vocab_size: int | None
    manifest_sha256: str | None = None
    how: str = ""

    def view_paths(self) -> list[Path]:
        """What the trainer reads of the data, bound read-only into its view."""
        return [self.data_dir] + ([self.tokenizer_path] if self.tokenizer_path else [])

    def to_dict(self) -> dict:
        return {"variant": self.variant, "data_dir": str(self.data_dir),
                "tokenizer_path": str(self.tokenizer_path) if self.tokenizer_path else None,
                "vocab_size": self.vocab_size, "manifest_sha256": self.manifest_sha256, "how": self.how}


@dataclass
class ReproduceResult:
    run_dir: Path
    record_path: Path
    record: dict
    outcomes: list[SeedOutcome]
    exit_code: int
    wall_s: float
    comparison: Any = None  # harness.compare.report.CompareReport when the submission has claims


# ------------------------------------------------------------------------------ data

def _find_tokenizer(data_dir: Path, hint: str | None = None) -> Path | None:
    """The tokenizer of ``data_dir``: the one its manifest names, else the registry's file name,
    else the only ``*.model`` beside it. Several candidates and no way to choose is an error: a
    wrong tokenizer silently breaks every byte count."""
    named_by_manifest = tokenizer_for(data_dir)
    if named_by_manifest is not None:
        return named_by_manifest
    cands: list[Path] = []
    for d in (data_dir, data_dir.parent, data_dir.parent.parent / "tokenizers", data_dir.parent / "tokenizers"):
        if d.is_dir():
            cands += [c for c in sorted(d.glob("*.model")) if c not in cands]
    if hint:
        named = [c for c in cands if c.name == hint]
        if named:
            return named[0]
    if len(cands) > 1:
        raise EnvironmentProblem(f"several tokenizers beside {data_dir} ({', '.join(c.name for c in cands)}) and "
                                 "nothing says which one encoded it.",
                                 hint="Keep one dataset per folder, or give it a harness-manifest.json "
                                      "(harness data lock DIR --tokenizer FILE).")
    return cands[0] if cands else None


def _local_variant(data_dir: Path) -> str | None:
    """The variant a data directory's harness-manifest.json names, if any."""
    try:
        from harness.data import manifest as mf

        m = mf.read_manifest(data_dir)
    except (ImportError, OSError, ValueError):
        return None
    return getattr(m, "variant", None) if m is not None else None


def _vocab_size(tokenizer: Path | None) -> int | None:
    if tokenizer is None:
        return None
    import sentencepiece as spm

    return int(spm.SentencePieceProcessor(model_file=str(tokenizer)).get_piece_size())


def _data_manifest_sha(data_dir: Path) -> str | None:
    for name in ("harness-manifest.json", "manifest.json"):
        h = sha256_file(data_dir / name) or sha256_file(data_dir.parent / name)
        if h:
            return h
    return None


def _from_embedded(result: Any) -> tuple[Path, Path | None]:
    """Accept what DATA-B's ensure_embedded() returns: a dir, or an object/dict naming dir + tokenizer."""
    if isinstance(result, (str, os.PathLike)):
        return Path(result), None
    get = (lambda k: result.get(k)) if isinstance(result, dict) else (lambda k: getattr(result, k, None))
    data_dir = next((get(k) for k in ("data_dir", "dataset_dir", "datasets_dir", "path", "root") if get(k)), None)
    tok = next((get(k) for k in ("tokenizer_path", "tokenizer", "tokenizer_model") if get(k)), None)
    if data_dir is None:
        raise EnvironmentProblem("ensure_embedded() returned no data directory.")
    return Path(data_dir), Path(tok) if tok else None


def prepare_data(variant: str, data: Path | None) -> DataInfo:
    """Locate (and for `embedded`, build when missing) the data the submission reads."""
    if data is not None:
        data_dir = Path(data).expanduser().resolve()
        if not data_dir.is_dir():
            raise EnvironmentProblem(f"--data {data_dir} is not a directory.")
        how = "given with --data"
        tok_hint = None
        # What the directory's own manifest says it is (e.g. an embedded smoke build), not the
        # submission's canonical variant: measurements must use this data's figures.
        local = _local_variant(data_dir)
        if local is not None and local != variant:
            how += f" (its manifest: variant {local}, not the submission's {variant})"
            variant = local
    elif variant == "embedded":
        data_dir, tok = _from_embedded(ensure_embedded())
        if tok is None:
            tok = tokenizer_for(data_dir)
        if tok is None:
            tok = _find_tokenizer(data_dir)
        data_dir, tok = data_dir.resolve(), (tok.resolve() if tok else None)  # the trainer runs elsewhere
        from harness.core import shards
        return DataInfo(variant, data_dir, tok, _vocab_size(tok), _data_manifest_sha(data_dir),
                        "embedded default (built locally when missing)") if shards.list_shards(data_dir, "val") \
            else _no_data(variant, data_dir)
    else:
        tok_hint = None
        data_dir = None
        try:
            from harness.core.registry import get_variant
            v = get_variant(variant)
            tok_hint = v.tokenizer_file
            for root in (Path("data/datasets"), Path.home() / ".cache" / "pgolf-harness" / "data"):
                if (root / v.dataset_dir).is_dir():
                    data_dir = (root / v.dataset_dir).resolve()
                    break
        except (ImportError, KeyError):
            pass
        if data_dir is None:
            raise EnvironmentProblem(f"the {variant} dataset is not on this machine.",
                                     hint=f"Fetch it (harness data fetch {variant}) or pass --data DIR.")
        how = "found locally"
    from harness.core import shards
    if not shards.list_shards(data_dir, "val") or not shards.list_shards(data_dir, "train"):
        _no_data(variant, data_dir)
    tok = _find_tokenizer(data_dir, tok_hint)
    return DataInfo(variant, data_dir, tok, _vocab_size(tok), _data_manifest_sha(data_dir), how)


def _no_data(variant: str, data_dir: Path):
    raise EnvironmentProblem(f"{data_dir} holds no fineweb_train_/fineweb_val_ shards for {variant}.",
                             hint="Pass --data DIR with canonical shards.")


# ------------------------------------------------------------------------- checks

def environment_report() -> dict:
    rep = env_report()
    return rep if isinstance(rep, dict) else dict(rep.__dict__)


def verify_data(data: DataInfo, mode: str, say: Callable[[str], None]) -> list[dict]:
    """Check the data before any seed runs (headers, sidecars, sha256 against its manifest, figures).

    Data that fails stops the run (exit 3) in both modes; data without a manifest is a warning.
    """
    from harness.data.verify import verify_dataset

    rep = verify_dataset(data.data_dir, show_progress=False)
    mb = rep.bytes_hashed / 1e6
    if rep.ok:
        say(f"  data verified: {rep.files_hashed} files ({mb:,.0f} MB) hashed in {rep.hash_seconds:.1f}s"
            + ("" if rep.manifest_found else " (no manifest: headers and sizes only)"))
        if not rep.manifest_found:
            return [{"rule": "data.unlocked", "severity": "warning", "seed": None,
                     "message": f"{data.data_dir} has no harness-manifest.json: its files could not be checked "
                                "against hashes (harness data lock DIR records them)"}]
        return []
    # Corrupt or altered data stops the run before any seed starts, in either mode: a seed's
    # score on it would mean nothing, and a trainer must never be the first to read it.
    raise EnvironmentProblem(f"the data in {data.data_dir} fails verification: {rep.problems[0]}"
                             + (f" (+{len(rep.problems) - 1} more)" if len(rep.problems) > 1 else ""),
                             hint=f"Run `harness data verify {data.data_dir}` and fetch or rebuild it.")


def env_findings(report: dict, mode: str) -> list[dict]:
    """The env profile comparison (harness.env.check_env): a mismatch is a finding, never a refusal."""
    out = []
    for f in check_env(report, "official" if mode == "official" else "smoke"):
        d = f.to_dict() if hasattr(f, "to_dict") else dict(f)
        sev = d.get("severity", "info")
        if mode != "official" and sev == "error":
            sev = "info"  # smoke runs are unofficial anyway; hardware is only informative there
        out.append({"rule": str(d.get("rule") or f"env.{d.get('field')}"), "severity": sev, "message": d.get("message", ""),
                    "evidence": {"expected": d.get("expected"), "found": d.get("found")}})
    return out


def check_official(report: dict, manifest: Manifest, data: DataInfo | None, nproc: int) -> None:
    """Official mode: 8x H100 SXM and a canonical variant, else one clear refusal."""
    gpus = report.get("gpus") or []
    names = [g.get("name", "") if isinstance(g, dict) else str(g) for g in gpus]
    sxm = [g for g, n in zip(gpus, names) if "H100" in n and
           ((isinstance(g, dict) and g.get("form_factor") == "SXM") or (not isinstance(g, dict) and "HBM3" in n))]
    smoke_hint = "Use --mode smoke (optionally --nproc N --train-seconds S --eval-seconds S) to run it here unofficially."
    if len(sxm) < OFFICIAL_NPROC or nproc != OFFICIAL_NPROC:
        found = report.get("hardware") or (f"{len(names)} GPU(s)" if names else "no GPU")
        raise EnvironmentProblem(f"official mode needs 8x H100 SXM with --nproc 8; this machine has {found}"
                                 f" and nproc is {nproc}.", hint=smoke_hint)
    if manifest.data == "embedded":
        raise EnvironmentProblem("official mode needs a canonical dataset variant, not the embedded toy data.",
                                 hint=smoke_hint)


def check_world_size(sub: ResolvedSubmission, env: dict[str, str], nproc: int) -> None:
    """Refuse submissions whose settings are wired to another world size."""
    for var in sub.manifest.per_rank_env:
        val = env.get(var)
        if val is None:
            continue
        n = len([x for x in val.split(",") if x.strip()])
        if n != nproc:
            raise UsageError(f"{var} has {n} per-rank entries but nproc is {nproc}; the submission is wired to "
                             f"{n} ranks.", hint=f"Run with --nproc {n}, or override {var} in the manifest's [smoke] env.")
    try:
        src = sub.entry_path.read_text(errors="replace")
    except OSError:
        return
    if re.search(r"\b8\s*//\s*world_size\b", src) and 8 % nproc != 0:
        raise UsageError(f"{sub.manifest.entry} computes grad_accum_steps as 8 // world_size, so nproc must "
                         f"divide 8 (got {nproc}).", hint="Use --nproc 1, 2, 4 or 8.")


# ------------------------------------------------------------------------- policy

def load_run_policy(mode: str, policy_id: str | None, train_s: float, eval_s: float):
    from harness.core.policy import PolicyError, load_policy

    pid = policy_id or ("organizer-tda-v1" if mode == "official" else "smoke")
    try:
        pol = load_policy(pid, train_seconds=train_s, eval_seconds=eval_s)
    except PolicyError as exc:
        raise UsageError(str(exc), hint="See `harness log policies`.") from None
    if pol.kind != "timing":
        raise UsageError(f"policy {pid!r} is a {pol.kind} policy, not a timing policy.",
                         hint="Use organizer-tda-v1, strict or smoke (`harness log policies`).")
    return pol, pol.id


def live_caps(policy, mode: str, train_s: float, eval_s: float):
    from harness.phases import LiveCaps

    if policy is not None and hasattr(policy, "live_caps"):
        try:
            return LiveCaps.from_policy(policy.live_caps())
        except Exception:  # noqa: BLE001 - fall back to scaled defaults below
            pass
    if mode == "official":
        return LiveCaps()
    # Smoke: hard caps a generous margin above the scaled budgets (kills stop runaways only).
    return LiveCaps(launch_s=300.0, train_s=train_s * 1.5 + 30, post_s=300.0, pre_eval_s=300.0,
                    eval_s=eval_s * 1.5 + 30, done_s=120.0, total_s=train_s + eval_s + 900.0)


# ---------------------------------------------------------------------- progress

class Progress:
    """Live per-seed table (rich): phase, step, elapsed, last metric."""

    def __init__(self, seeds: list[int], enabled: bool, title: str):
        self.rows = {s: {"phase": "queued", "step": "", "elapsed": 0.0, "metric": "", "status": ""} for s in seeds}
        self.enabled = enabled
        self.title = title
        self._live = None

    def _table(self):
        from rich.table import Table

        t = Table(title=self.title)
        for col in ("seed", "phase", "step", "elapsed", "last metric", "status"):
            t.add_column(col)
        for s, r in self.rows.items():
            t.add_row(str(s), r["phase"], r["step"], f"{r['elapsed']:.1f}s", r["metric"], r["status"])
        return t

    def __enter__(self):
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)

    def update(self, seed: int, **kw) -> None:
        self.rows[seed].update(kw)
        if self._live is not None:
            self._live.update(self._table())


# --------------------------------------------------------------------------- main

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


def reproduce(ref: str, opts: ReproduceOptions, console_print: Callable[[str], None] | None = None) -> ReproduceResult:
    """Run a full reproduction and write the record; see the module docstring."""
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
    report = environment_report()
    if opts.mode == "official":
        check_official(report, m, None, nproc)
    report["node"] = qualify_node(nproc, opts.mode, report)
    data = prepare_data(m.data, opts.data)
    if opts.mode == "official" and opts.data is not None and m.data == "embedded":
        check_official(report, m, data, nproc)
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
    with Progress(opts.seeds, opts.progress, f"{sub.name} ({opts.mode})") as prog:
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
                if "val_bpb" in text:
                    upd["metric"] = text.strip()[:60]
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
            if any(v.get("status") == "FAIL" for v in meas.verdicts):
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
    verdict_fail = any(v.get("status") == "FAIL" for o in outcomes for v in o.measurement.verdicts)
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


def shared_host_findings(isolation: dict, mode: str) -> list[dict]:
    """A seed that shared its machine with other harness seeds did not measure the machine.

    They split its GPUs and CPU cores: the clocks, throughput and CPU-bound phases (GPTQ on
    the CPU, compression) of such a seed say nothing about the submission on that machine.
    An error in official mode (the timings are evidence there), a warning in smoke mode.
    """
    others = isolation.get("host_shared_with") or []
    if not others:
        return []
    return [{"severity": "error" if mode == "official" else "warning", "rule": "host.shared",
             "message": f"{len(others)} other harness seed(s) ran on this machine during this seed "
                        f"({', '.join(others)}): its timings and throughput are not the machine's own; "
                        "run seeds one at a time for figures that count"}]


# ------------------------------------------------------------------- node + claims

def qualify_node(nproc: int, mode: str, report: dict) -> dict:
    """Hardware qualification (``harness.qualify``) for the record; micro-benchmarks only where a GPU is.

    A smoke run on CPU skips them (nothing to measure); official runs and GPU smoke runs take the
    bf16 GEMM and, with more than one rank, the NCCL all-reduce (a minute at most).
    """
    from harness.qualify import qualify

    has_gpu = bool(report.get("gpu_count") or report.get("gpus"))
    return qualify(nproc, benchmarks=mode == "official" or has_gpu)


def node_line(node: dict) -> str:
    if not node.get("gpu_count"):
        return "no NVIDIA GPU (" + str(node.get("benchmarks", "benchmarks skipped")) + ")"
    names = ", ".join(node.get("gpu_names") or []) or "GPU"
    gemm = node.get("gemm") or {}
    tf = [g.get("bf16_gemm_tflops") for g in gemm.get("gemm", []) if isinstance(g, dict)]
    ar = (node.get("allreduce") or {}).get("busbw_GBps")
    return (f"{node['gpu_count']}x {names}, driver {node.get('driver')}"
            + (f", bf16 GEMM {min(tf):g}-{max(tf):g} TFLOP/s" if tf else "")
            + (f", all-reduce {ar:g} GB/s bus" if ar else ""))


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
