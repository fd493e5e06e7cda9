"""Before any seed runs: the machine, the node, the submission's world size and the timing policy.

Stage 3 of `harness reproduce`: the environment report and its comparison with the env
profile (a mismatch is a finding, never a refusal), official mode's hardware refusal,
the node's qualification, the policy and the supervisor's live caps, and what a seed
that shared its machine can claim.
"""

from __future__ import annotations

import re

from harness.core.constants import OFFICIAL_GPU_COUNT
from harness.core.policy import Policy, PolicyError, load_policy
from harness.env import check_env, env_report
from harness.errors import EnvironmentProblem, UsageError
from harness.manifest import Manifest
from harness.phases import LiveCaps
from harness.qualify import qualify
from harness.resolve import ResolvedSubmission
from harness.sandbox import visible_env

OFFICIAL_NPROC = OFFICIAL_GPU_COUNT


def environment_report(sub: ResolvedSubmission) -> dict:
    """The environment report, its packages as the submission's trainer will see them (the sandbox's
    allow-listed environment plus the manifest's [env])."""
    return env_report(trainer_env=visible_env(dict(sub.manifest.env)))


def env_findings(report: dict, mode: str) -> list[dict]:
    """The env profile comparison (harness.env.check_env): a mismatch is a finding, never a refusal."""
    out = []
    for f in check_env(report, "official" if mode == "official" else "smoke"):
        sev = f.severity
        if mode != "official" and sev == "error":
            sev = "info"  # smoke runs are unofficial anyway; hardware is only informative there
        out.append({"rule": f.rule_id, "severity": sev, "message": f.message,
                    "evidence": {"expected": f.data["expected"], "found": f.data["found"]}})
    return out


def check_official(report: dict, manifest: Manifest, nproc: int) -> None:
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


def load_run_policy(mode: str, policy_id: str | None, train_s: float, eval_s: float) -> tuple[Policy, str]:
    pid = policy_id or ("organizer-tda-v1" if mode == "official" else "smoke")
    try:
        pol = load_policy(pid, train_seconds=train_s, eval_seconds=eval_s)
    except PolicyError as exc:
        raise UsageError(str(exc), hint="See `harness log policies`.") from None
    if pol.kind != "timing":
        raise UsageError(f"policy {pid!r} is a {pol.kind} policy, not a timing policy.",
                         hint="Use organizer-tda-v1, strict or smoke (`harness log policies`).")
    return pol, pol.id


def live_caps(policy: Policy | None, mode: str, train_s: float, eval_s: float) -> LiveCaps:
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


def qualify_node(nproc: int, mode: str, report: dict) -> dict:
    """Hardware qualification (``harness.qualify``) for the record; micro-benchmarks only where a GPU is.

    A smoke run on CPU skips them (nothing to measure); official runs and GPU smoke runs take the
    bf16 GEMM and, with more than one rank, the NCCL all-reduce (a minute at most).
    """
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

