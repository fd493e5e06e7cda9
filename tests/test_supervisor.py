"""The supervisor with REAL torchrun + gloo at 2 and 4 CPU ranks, and real small trainers.

Overrun, a silent hang of one rank, a crash in one rank, a slow consumer, and no process
of the seed left afterwards (scanned in /proc by the seed's marker variable).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.phases import PHASES, LiveCaps, PhaseTracker
from harness.sandbox import SandboxOptions, detect_isolation, seed_pids
from harness.supervisor import SeedSpec, run_seed, torchrun_argv

TRAINER = Path(__file__).parent / "trainers" / "gloo_trainer.py"
ISO = detect_isolation()
LQER = "track_10min_16mb/2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611/train_seed42.log"
STAMP = re.compile(r"^(\d+\.\d{3}) (.*)$")

pytest.importorskip("torch.distributed")


def gloo_spec(tmp_path: Path, mode: str, nproc: int = 2, caps: LiveCaps | None = None, kill_mode: str = "auto",
              steps: int = 3) -> SeedSpec:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    shutil.copy(TRAINER, work / "train_gpt.py")
    return SeedSpec(argv=torchrun_argv("train_gpt.py", nproc), cwd=work, env={"MODE": mode, "STEPS": str(steps)},
                    log_path=tmp_path / "harness" / f"{mode}.log", caps=caps or LiveCaps(),
                    sandbox=SandboxOptions(kill_mode=kill_mode, engine="fallback" if kill_mode == "killpg" else "auto"))


def assert_nothing_left(run) -> None:
    assert run.orphans_left == 0
    assert seed_pids(run.isolation["seed_id"]) == [], "a process of the seed survived"
    if run.isolation.get("cgroup"):
        assert not Path(run.isolation["cgroup"]).exists()


def test_torchrun_gloo_two_ranks_stamped_log_and_phases(tmp_path):
    run = run_seed(gloo_spec(tmp_path, "ok"))
    assert run.ok, (run.failure, run.lines[-10:])
    assert run.isolation["network"].startswith("netns") or not ISO["net_namespace"]["ok"]
    text = run.log_path.read_text().splitlines()
    stamps = [float(STAMP.match(line).group(1)) for line in text]  # every line stamped
    assert stamps == sorted(stamps) and stamps[-1] <= run.duration_s
    assert [round(t, 3) for t, _ in run.lines] == pytest.approx(stamps, abs=1e-3)
    assert any(line.endswith("world_size:2 grad_accum_steps:1") for line in text)
    order = [tr.phase for tr in run.transitions]
    assert order[:4] == ["train", "post", "pre_eval", "eval"]
    assert [PHASES.index(p) for p in order] == sorted(PHASES.index(p) for p in order)
    assert_nothing_left(run)


@pytest.mark.parametrize("nproc,kill_mode", [
    (2, "auto"),
    pytest.param(4, "pidns", marks=pytest.mark.skipif(not ISO["pid_namespace"]["ok"], reason="no PID namespace")),
])
@pytest.mark.slow
def test_overrun_is_killed_within_one_second_of_deadline(tmp_path, nproc, kill_mode):
    caps = LiveCaps(launch_s=60, train_s=3.0, grace_s=0.5)
    run = run_seed(gloo_spec(tmp_path, "overrun", nproc=nproc, caps=caps, kill_mode=kill_mode))
    assert run.killed and not run.ok
    assert run.kill_reason.startswith("train cap 3 s exceeded at t="), run.kill_reason
    deadline = run.phase_starts["train"] + 3.5
    assert run.kill["deadline_t"] == pytest.approx(deadline, abs=1e-3)
    assert 0 <= run.kill["late_s"] < 1.0
    assert run.ended_at - run.started_at - deadline < 1.0  # signalled AND every rank gone
    assert run.signal == 9 and run.exit_code is None
    assert sum("train_loss" in t for _, t in run.lines) >= 5  # it did train until the cap
    assert_nothing_left(run)


def test_silent_hang_of_one_rank_is_stopped_by_the_watchdog(tmp_path):
    caps = LiveCaps(launch_s=60, silence_s={"launch": 60, "train": 2.0, "post": 60, "pre_eval": 60,
                                            "eval": 60, "done": 60, "compile": 60})
    run = run_seed(gloo_spec(tmp_path, "hang_rank1", caps=caps))
    assert run.killed
    assert re.match(r"silent for \d+ s in phase train \(limit 2 s\)", run.kill_reason), run.kill_reason
    last_line_t = run.lines[-1][0]
    assert run.kill["signalled_t"] - last_line_t < 3.0
    assert_nothing_left(run)


def test_crash_in_one_rank_fails_the_seed_and_keeps_the_log(tmp_path):
    run = run_seed(gloo_spec(tmp_path, "crash_rank1"))
    assert not run.killed and run.exit_code not in (0, None)
    # the reason quotes the trainer's own exception, not only torchrun's exit code
    assert run.failure.startswith("exited with code") and "RuntimeError: rank 1 crashed on purpose" in run.failure
    log = run.log_path.read_text()
    assert "rank 1 crashed on purpose" in log and "step:1/3" in log
    assert_nothing_left(run)


def test_root_cause_is_the_first_trainer_exception_not_torchruns():
    from harness.supervisor import root_cause

    stderr = ["[rank0]: Traceback (most recent call last):",
              '[rank0]:   File "train_gpt.py", line 3, in <module>',
              "[rank0]:     import brotli",
              "[rank0]: ModuleNotFoundError: No module named 'brotli'",
              "Traceback (most recent call last):",
              '  File "/usr/lib/python3/torch/distributed/run.py", line 9, in <module>',
              "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
              "ValueError: a line outside any traceback is no root cause"]
    assert root_cause(stderr) == "ModuleNotFoundError: No module named 'brotli'"
    assert root_cause(stderr[4:]) is None  # torchrun's summary alone names no cause
    assert root_cause(["warning: something", "RuntimeError: printed, never raised"]) is None


def _quick_spec(tmp_path: Path, body: str, caps: LiveCaps | None = None) -> SeedSpec:
    work = tmp_path / "work"
    work.mkdir(parents=True, exist_ok=True)
    (work / "train.py").write_text(textwrap.dedent(body))
    return SeedSpec(argv=[sys.executable, "train.py"], cwd=work, env={}, log_path=tmp_path / "logs" / "seed.log",
                    caps=caps or LiveCaps())


def test_slow_consumer_never_blocks_the_trainer(tmp_path):
    """The trainer writes far more than a pipe holds while the consumer is stuck on line 1."""
    spec = _quick_spec(tmp_path, """
        import time
        t = time.monotonic()
        for i in range(4000):
            print(f"line {i} " + "x" * 100)
        open("finished", "w").write(str(time.monotonic() - t))
    """)
    finished = spec.cwd / "finished"
    seen = []

    def on_line(t, line):
        if not seen:  # block until the trainer is done writing (it would hang on a full pipe)
            deadline = time.monotonic() + 15
            while not finished.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        seen.append((t, line))

    run = run_seed(spec, on_line=on_line)
    assert finished.exists(), "the trainer blocked on the pipe while the consumer was slow"
    assert run.ok and len(seen) == 4000 and len(run.lines) == 4000
    assert seen[-1][1].startswith("line 3999 ")


def test_consumer_error_kills_the_seed(tmp_path):
    spec = _quick_spec(tmp_path, """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        print("hello", flush=True)
        time.sleep(600)
    """)
    got = {}

    def on_line(t, line):
        got["seed"] = True
        raise RuntimeError("consumer bug")

    with pytest.raises(RuntimeError, match="consumer bug"):
        run_seed(spec, on_line=on_line)
    assert got
    marker = spec.log_path.with_name(spec.log_path.name + ".sandbox")
    assert marker.exists()
    # Nothing of ours is left: scan /proc for the trainer's command line in this tmp dir.
    time.sleep(0.2)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes()
                cwd = str((proc / "cwd").resolve())
            except OSError:
                continue
            assert not (b"train.py" in cmd and cwd.startswith(str(spec.cwd))), f"survivor {proc.name}"


def test_end_to_end_cap(tmp_path):
    spec = _quick_spec(tmp_path, """
        import time
        while True:
            print("still compiling", flush=True)
            time.sleep(0.1)
    """, caps=LiveCaps(total_s=1.5))
    run = run_seed(spec)
    assert run.killed and run.kill_reason.startswith("end-to-end cap 1.5 s exceeded"), run.kill_reason
    assert run.kill["late_s"] < 1.0 and run.ended_at - run.started_at < 2.5
    assert_nothing_left(run)


def test_seeds_sharing_the_machine_see_each_other_and_ended_seeds_are_not_listed(tmp_path):
    """Two real seeds at once (as `bench/gpu_seeds.sh` ran #1987 and #2014 on one H200, where
    their CPU GPTQ slowed each other about tenfold): each records the other's marker id, the
    finding is a warning in smoke mode and an error in official mode; a later seed does not list
    seeds that have ended."""
    import threading

    from harness.preflight import shared_host_findings

    body = "import time\nfor i in range(30):\n    print(f'tick {i}', flush=True)\n    time.sleep(0.1)\n"
    specs = [_quick_spec(tmp_path / name, body) for name in ("a", "b")]
    for spec in specs:
        spec.pid_note_s = 0.2
    runs: dict[int, object] = {}
    threads = [threading.Thread(target=lambda i=i: runs.__setitem__(i, run_seed(specs[i]))) for i in range(2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=60)
    a, b = runs[0], runs[1]
    assert a.ok and b.ok, (a.failure, b.failure)
    # Inclusion, not equality: another test session on this machine adds its own seeds.
    assert b.isolation["seed_id"] in a.isolation["host_shared_with"]
    assert a.isolation["seed_id"] in b.isolation["host_shared_with"]
    assert a.isolation["seed_id"] not in a.isolation["host_shared_with"]
    assert [f["severity"] for f in shared_host_findings(a.isolation, "smoke")] == ["warning"]
    assert [f["severity"] for f in shared_host_findings(a.isolation, "official")] == ["error"]

    alone = _quick_spec(tmp_path / "alone", body)
    alone.pid_note_s = 0.2
    run = run_seed(alone)
    assert run.ok and not {a.isolation["seed_id"], b.isolation["seed_id"]} & set(run.isolation["host_shared_with"])
    assert shared_host_findings({"host_shared_with": []}, "official") == []
    for r in (a, b, run):
        assert_nothing_left(r)


def test_log_inside_the_working_copy_is_refused(tmp_path):
    spec = _quick_spec(tmp_path, "print(1)\n")
    spec.log_path = spec.cwd / "train.log"
    with pytest.raises(ValueError, match="outside the trainer's working copy"):
        run_seed(spec)


def test_phase_tracker_on_a_record_log(records_dir):
    """LQER seed 42: train at the first step, eval at the TTT timer marker, done at the headline."""
    tracker = PhaseTracker()
    compiling = []
    for i, line in enumerate((records_dir / LQER).read_text().splitlines(), start=1):
        tracker.feed(float(i), line)
        if tracker.in_compile:
            compiling.append(i)
    got = {tr.phase: tr.text for tr in tracker.transitions}
    assert list(got) == ["train", "post", "pre_eval", "eval", "done"]
    assert got["post"].startswith("stopping_early:")
    assert got["eval"] == "beginning TTT eval timer"
    assert got["done"].startswith("quantized_ttt_phased val_loss:2.31944212")
    assert compiling  # the marked TTT compile warm-up gets the long silence limit
    caps = LiveCaps()
    t2 = PhaseTracker()
    t2.feed(0.0, "Total submission size int8+zlib: 15863489 bytes")
    assert t2.phase == "pre_eval" and t2.silence_limit(caps) == 300.0
    t2.feed(0.5, "ttt_lora:warming up compile (random tokens, no val data)")
    assert t2.silence_limit(caps) == 600.0
    t2.feed(1.0, "ttt_lora:compile warmup done (137.6s)")
    assert t2.silence_limit(caps) == 300.0


def test_the_last_metric_is_a_validation_figure_never_a_marker():
    """The live table's "last metric": the byte-sidecar marker mentions val_bpb but is no metric."""
    tracker = PhaseTracker()
    tracker.feed(0.1, "val_bpb:byte_sidecar:enabled")
    assert tracker.last_metric == ""
    tracker.feed(0.2, "step:0/10 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0.01ms")
    tracker.feed(0.3, "step:5/10 train_loss:6.0 train_time:10ms step_avg:2ms")
    tracker.feed(0.4, "val_bpb:byte_sidecar:enabled")
    assert tracker.last_metric == "step:0/10 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0.01ms"
    tracker.feed(0.5, "final_int8_zlib_roundtrip_exact val_loss:2.1 val_bpb:1.23456789")
    assert tracker.last_metric == "final_int8_zlib_roundtrip_exact val_loss:2.1 val_bpb:1.23456789"


def test_live_caps_from_policy_dict():
    caps = LiveCaps.from_policy({"launch_to_timer_s": 900, "train_live_s": 630, "artifact_production_s": 600,
                                 "pre_eval_s": 600, "eval_live_s": 630, "end_to_end_s": 2700,
                                 "silence": {"train": 180, "launch": 600}, "silence_compile_s": 600})
    assert (caps.launch_s, caps.train_s, caps.post_s, caps.eval_s, caps.total_s) == (900, 630, 600, 630, 2700)
    assert caps.silence_for("train", False) == 180 and caps.silence_for("eval", True) == 600
    assert caps.scaled(0.01).train_s == pytest.approx(6.3)


def _cuda_available() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except ImportError:
        return False


@pytest.mark.gpu
@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("kill_mode", ["auto", "cgroup", "pidns"])
def test_gpu_overrun_kill_releases_gpu_memory(tmp_path, kill_mode):
    """On the GPU VM: a 2-rank trainer holding 2 GiB per rank is killed at its cap, every
    rank disappears and the GPU memory comes back (the killpg failure seen on the H100)."""
    key = {"cgroup": "cgroup_v2", "pidns": "pid_namespace"}.get(kill_mode)
    if key and not ISO[key]["ok"]:
        pytest.skip(f"{kill_mode} not available: {ISO[key]['detail']}")
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(Path(__file__).parent / "trainers" / "cuda_hog.py", work / "train_gpt.py")
    spec = SeedSpec(argv=torchrun_argv("train_gpt.py", 2), cwd=work, env={"HOG_MIB": "2048"},
                    log_path=tmp_path / "harness" / "gpu.log",
                    caps=LiveCaps(launch_s=120, train_s=5.0, grace_s=0.5),
                    sandbox=SandboxOptions(kill_mode=kill_mode, engine="fallback" if kill_mode == "killpg" else "auto"))
    run = run_seed(spec)
    print({"kill": run.kill, "teardown": run.teardown, "isolation": run.isolation})
    assert run.killed and run.kill_reason.startswith("train cap 5 s exceeded"), (run.kill_reason, run.lines[-5:])
    assert run.kill["late_s"] < 1.0
    assert_nothing_left(run)
    gpu = run.kill["gpu"]
    assert gpu and gpu["checked"] and gpu["released"], gpu
    if gpu["growth_mib"] is not None:
        assert max(gpu["growth_mib"]) < 256, gpu  # each rank held 2048 MiB before the kill


@pytest.mark.slow
def test_killpg_alone_leaves_torchrun_ranks_alive(tmp_path):
    """Reproduces the lent-H100 finding on CPU: torchrun's ranks sit in their own sessions,
    so killing the launcher's process group leaves them running. This is why the sandbox
    kills through a cgroup or PID namespace (and sweeps the seed's marker) instead."""
    spec = gloo_spec(tmp_path, "overrun", caps=LiveCaps(launch_s=60, train_s=2.0), kill_mode="killpg")
    spec.sandbox.marker_sweep = False
    spec.sandbox.settle_s = 1.0
    run = run_seed(spec)
    left = seed_pids(run.isolation["seed_id"])
    try:
        assert run.killed and run.orphans_left == 2 and len(left) == 2
        assert all(os.getsid(p) == p for p in left)  # each rank leads its own session
    finally:
        for pid in left:
            os.kill(pid, 9)


def test_caps_hold_under_a_line_flood_and_a_slow_consumer(tmp_path):
    spec = _quick_spec(tmp_path, """
        import sys, time
        while True:
            for _ in range(50):
                sys.stdout.write("spam " * 20 + chr(10))
            time.sleep(0.01)
    """, caps=LiveCaps(total_s=2.0))

    def slow(t, line):
        time.sleep(0.001)

    run = run_seed(spec, on_line=slow)
    assert run.killed and run.kill_reason.startswith("end-to-end cap 2 s"), run.kill_reason
    assert run.kill["late_s"] < 1.0
    assert len(run.lines) > 3000  # the reader kept up, far ahead of the consumer


def test_log_flood_is_killed(tmp_path):
    spec = _quick_spec(tmp_path, """
        import sys
        while True:
            sys.stdout.write("spam " * 200 + chr(10))
    """)
    spec.max_log_bytes = 2 << 20
    run = run_seed(spec)
    assert run.killed and run.kill_reason.startswith("log flood: more than 2097152 bytes"), run.kill_reason


def test_train_cap_is_anchored_at_the_script_timer_start():
    tracker = PhaseTracker()
    tracker.feed(5.0, "warmup_step: 1/20")
    tracker.feed(6.0, "loop_warmup_step: 20/20")
    assert tracker.phase == "launch"  # compile warm-up steps come before the timer
    tracker.feed(40.0, "1/20000 train_loss: 9.0087 train_time: 0.1m tok/s: 17921784")
    assert tracker.phase == "train" and tracker.started["train"] == pytest.approx(34.0)
    t2 = PhaseTracker()
    t2.feed(10.0, "step:1/20000 train_loss:6.9 train_time:2500ms step_avg:2500.00ms")
    assert t2.started["train"] == pytest.approx(7.5)
    deadline, desc = t2.cap_deadline(LiveCaps(train_s=630, grace_s=1))
    assert deadline == pytest.approx(638.5) and desc == "train cap 630 s"
