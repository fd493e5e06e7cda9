"""`harness reproduce` end to end on the reference submission (CPU, gloo, embedded data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.core.records import validate_record
from harness.errors import EnvironmentProblem, UsageError
from harness.reproduce import ReproduceOptions, reproduce

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = str(ROOT / "submissions" / "reference")


def _check_run_dir(run_dir: Path, seeds: list[int]) -> dict:
    rec = json.loads((run_dir / "submission.json").read_text())
    assert validate_record(rec) == []
    for s in seeds:
        sd = run_dir / f"seed-{s}"
        assert (sd / "harness.log").is_file()
        assert (sd / "measure.json").is_file()
        art = sd / "work" / "final_model.int8.ptz"
        assert art.is_file()
        code = (sd / "work" / "train_gpt.py").stat().st_size
        r = rec["seed_results"][str(s)]
        assert r["status"] == "ok"
        assert r["artifact_bytes"] == art.stat().st_size + code
        assert r["headline_metric"] == "final_int8_zlib_roundtrip_exact"
        # Every harness log line carries the harness clock stamp.
        first = (sd / "harness.log").read_text().splitlines()[0]
        assert float(first.split(" ", 1)[0]) >= 0
    return rec


def test_reproduce_reference_smoke_library(claimed_reference_run) -> None:
    """The library's run of the reference (its claims only add a comparison, which a smoke run ignores)."""
    res, _ = claimed_reference_run
    assert res.exit_code == 0, json.dumps(res.record["verification"]["findings"], indent=1)
    rec = _check_run_dir(res.run_dir, [1, 2])
    v = rec["verification"]
    assert v["mode"] == "smoke" and v["unofficial_reasons"]
    assert any("train 3 s" in r for r in v["unofficial_reasons"])
    assert v["stats"]["n"] == 2 and v["stats"]["std_sample"] is not None
    assert rec["val_bpb"] == pytest.approx(sum(rec["seed_results"][s]["val_bpb"] for s in ("1", "2")) / 2)
    assert v["data"]["variant"] == "embedded"
    assert set(v["per_seed"]) == {"1", "2"}
    for ps in v["per_seed"].values():
        assert ps["harness_clock"]["segments"], "timeline segments on the harness clock"
        assert all(vd["status"] in ("PASS", "PASS_GRACE", "UNDETERMINED", "REPORTED") for vd in ps["verdicts"])
        assert ps["compile_cache"] == "cold"  # no --compile-cache: a fresh cache per seed
    # Two seeds give two different models.
    assert rec["seed_results"]["1"]["val_bpb"] != rec["seed_results"]["2"]["val_bpb"]


@pytest.mark.slow
def test_reproduce_cli_subprocess(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "harness", "reproduce", REFERENCE, "--mode", "smoke",
                           "--seeds", "1,2", "--train-seconds", "2", "--out", str(tmp_path), "--run-id", "cli",
                           "--no-progress"], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "val_bpb mean" in proc.stdout and "record:" in proc.stdout
    _check_run_dir(tmp_path / "cli", [1, 2])


def test_crashing_seed_fails_with_exit_1(tmp_path: Path) -> None:
    sub = tmp_path / "crash"
    sub.mkdir()
    (sub / "train_gpt.py").write_text("import sys\nprint('about to crash', flush=True)\nsys.exit(3)\n")
    (sub / "harness.toml").write_text('[submission]\nname="crash"\nnproc=1\n[smoke]\ntrain_seconds=5\n')
    res = reproduce(str(sub), ReproduceOptions(seeds=[5], out=tmp_path / "runs", progress=False))
    assert res.exit_code == 1
    r = res.record["seed_results"]["5"]
    assert r["status"] == "failed" and "exit" in r["failure_reason"]
    assert res.record["val_bpb"] is None
    assert validate_record(res.record) == []
    assert "about to crash" in (res.run_dir / "seed-5" / "harness.log").read_text()


def test_a_seed_beside_another_harness_seed_warns_and_says_so_in_the_record(tmp_path: Path) -> None:
    """Another seed's process (any process carrying the sandbox's marker variable) is alive while
    this reproduce runs: the console warns before the seed starts and the record lists it."""
    from harness.sandbox import MARKER_VAR

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                             env={**os.environ, MARKER_VAR: "0therseed0000001"})
    try:
        sub = tmp_path / "quick"
        sub.mkdir()
        (sub / "train_gpt.py").write_text("import time\nfor i in range(20):\n    print(f'tick {i}', flush=True)\n"
                                          "    time.sleep(0.2)\n")
        (sub / "harness.toml").write_text('[submission]\nname="quick"\nnproc=1\n[smoke]\ntrain_seconds=5\n')
        said: list[str] = []
        res = reproduce(str(sub), ReproduceOptions(seeds=[5], out=tmp_path / "runs", progress=False),
                        console_print=said.append)
    finally:
        other.kill()
        other.wait()
    assert any("other harness seed(s) already running on this machine" in line for line in said), said
    # (a test session running beside this one adds its own seeds to the list)
    assert "0therseed0000001" in res.record["verification"]["isolation"]["host_shared_with"]
    shared = [f for f in res.outcomes[0].measurement.findings if f["rule"] == "host.shared"]
    assert [f["severity"] for f in shared] == ["warning"] and "0therseed0000001" in shared[0]["message"]
    assert validate_record(res.record) == []


def test_official_mode_refuses_here_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentProblem) as exc:
        reproduce(REFERENCE, ReproduceOptions(seeds=[1], mode="official", out=tmp_path, progress=False))
    assert "8x H100" in str(exc.value) and "--mode smoke" in str(exc.value)
    assert exc.value.exit_code == 3
    assert not any(tmp_path.iterdir())


def test_fixed_world_size_is_a_clear_error(tmp_path: Path) -> None:
    sub = tmp_path / "wired"
    sub.mkdir()
    (sub / "train_gpt.py").write_text("print('never runs')\n")
    (sub / "harness.toml").write_text('[submission]\nname="wired"\nnproc=8\nper_rank_env=["SEQ_LENS_PER_GPU"]\n'
                                      '[env]\nSEQ_LENS_PER_GPU="2048,2048,2048,2048,2048,6144,6144,6144"\n')
    with pytest.raises(UsageError, match="8 per-rank entries but nproc is 2"):
        reproduce(str(sub), ReproduceOptions(seeds=[1], nproc=2, out=tmp_path / "runs", progress=False))


def test_data_dir_brings_its_own_tokenizer_and_variant(tmp_path: Path, tokenizers_dir: Path) -> None:
    """--data: the directory's manifest names its tokenizer (two sit side by side) and its variant."""
    from harness.core import shards
    from harness.data.embedded_build import build_embedded
    from harness.data.prepare import prepare_data

    build_embedded(tmp_path, name="fineweb10B_sp1024")  # trains a 1,024-piece BPE
    build_embedded(tmp_path, tokenizer=tokenizers_dir / "fineweb_8192_bpe.model", name="fineweb10B_sp8192")
    assert len(list((tmp_path / "tokenizers").glob("*.model"))) == 2
    d = prepare_data("sp8192", tmp_path / "datasets" / "fineweb10B_sp8192")
    assert d.tokenizer_path.name == "fineweb_8192_bpe.model" and d.vocab_size == 8192
    assert d.variant == "embedded" and "not the submission's sp8192" in d.how
    # Without a manifest and with two tokenizers beside it, nothing says which one encoded the data.
    bare = tmp_path / "bare" / "datasets" / "x"
    bare.mkdir(parents=True)
    for kind in ("train", "val"):
        shards.write_shard(bare / f"fineweb_{kind}_000000.bin", [1, 2, 3, 4])
    tok = tmp_path / "bare" / "tokenizers"
    tok.mkdir()
    for m in (tmp_path / "tokenizers").glob("*.model"):
        (tok / m.name).write_bytes(m.read_bytes())
    with pytest.raises(EnvironmentProblem, match="several tokenizers"):
        prepare_data("sp1024", bare)


def test_data_is_verified_before_the_seeds_run(tmp_path: Path) -> None:
    """A shard that changed since its manifest was written stops a smoke run before any seed (exit 3)."""
    import shutil as _sh

    from harness.data.prepare import prepare_data

    src = prepare_data("embedded", None)
    root = tmp_path / "copy"
    _sh.copytree(src.data_dir.parent.parent, root)
    ds = root / "datasets" / src.data_dir.name
    train = ds / "fineweb_train_000000.bin"
    raw = bytearray(train.read_bytes())
    raw[4096] ^= 1
    train.write_bytes(bytes(raw))
    with pytest.raises(EnvironmentProblem) as exc:
        reproduce(REFERENCE, ReproduceOptions(seeds=[1], mode="smoke", out=tmp_path / "runs", progress=False,
                                              train_seconds=2, data=ds))
    assert exc.value.exit_code == 3
    assert "fineweb_train_000000.bin" in str(exc.value) and "sha256" in str(exc.value)
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").glob("*/seed-1"))


def _default_signals() -> None:
    """preexec_fn: the harness starts as from a terminal, whatever this test run inherited (under
    `nohup`, SIGHUP is ignored, and an ignored signal stays ignored across exec)."""
    import signal

    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_to_the_harness_kills_the_running_seed(tmp_path: Path, sig: str) -> None:
    """A `timeout`, `docker stop` or cancelled job sends SIGTERM: the harness kills the seed (with the
    child the trainer started in its own session) before it exits 130, instead of leaving it running."""
    import signal
    import time

    from harness.sandbox import pids_with_env

    marker = f"PGOLF_TEST_SIGNAL_{os.getpid()}_{sig}"
    sub = tmp_path / "sleeper"
    sub.mkdir()
    (sub / "train_gpt.py").write_text(
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], start_new_session=True)\n"
        "print('step:0/10 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0.01ms', flush=True)\n"
        "time.sleep(600)\n")
    (sub / "harness.toml").write_text(f'[submission]\nname="sleeper"\nnproc=1\n[env]\n{marker}="1"\n'
                                      '[smoke]\ntrain_seconds=300\n')
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness", "reproduce", str(sub), "--seeds", "1", "--out",
                             str(tmp_path / "runs"), "--no-progress"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, preexec_fn=_default_signals)
    try:
        deadline = time.monotonic() + 120
        while len(pids_with_env(marker, "1")) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert len(pids_with_env(marker, "1")) >= 2, "the trainer and its child never started"
        proc.send_signal(getattr(signal, sig))
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 130, out[-2000:]
        assert f"Interrupted ({sig})" in out
        time.sleep(0.5)
        assert pids_with_env(marker, "1") == [], "a process of the seed survived the harness"
    finally:  # a failed check leaves neither the harness nor a seed process behind
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for pid in pids_with_env(marker, "1"):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_an_inherited_ignore_is_reset_for_sigterm_and_kept_for_nohups_sighup() -> None:
    """Started with SIGTERM, SIGHUP and SIGINT ignored (a careless parent; `nohup`; a background job):
    SIGTERM interrupts again, so `timeout` or `kill` still stop the run cleanly; SIGHUP and SIGINT stay
    ignored, as `nohup ... &` asks."""
    import signal

    def ignore_all() -> None:
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)

    probe = ("import signal; from harness.cli import interrupt_on_termination; interrupt_on_termination(); "
             "print(*(signal.getsignal(s) is signal.SIG_IGN for s in "
             "(signal.SIGTERM, signal.SIGHUP, signal.SIGINT)))")
    p = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=ignore_all)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["False", "True", "True"]


_COMPILING_TRAINER = """\
import torch
from torch._dynamo.utils import counters
f = torch.compile(lambda x: (x * 2).sin() + x.cos())
f(torch.ones(8))
print("fxgraph_cache hit", counters["inductor"]["fxgraph_cache_hit"],
      "miss", counters["inductor"]["fxgraph_cache_miss"], flush=True)
"""


@pytest.mark.slow
def test_compile_cache_is_shared_by_a_submissions_seeds_and_recorded(tmp_path: Path) -> None:
    """--compile-cache: seed 1 compiles cold (inductor's FX graph cache misses), seed 2 runs inside its
    own sandbox (private /tmp, fresh HOME) yet loads seed 1's compiled graph; the record says which."""
    from harness.reproduce import compile_cache_for
    from harness.resolve import resolve

    sub = tmp_path / "compiling"
    sub.mkdir()
    (sub / "train_gpt.py").write_text(_COMPILING_TRAINER)
    (sub / "harness.toml").write_text('[submission]\nname="compiling"\nnproc=1\n[smoke]\ntrain_seconds=60\n')
    said: list[str] = []
    res = reproduce(str(sub), ReproduceOptions(seeds=[1, 2], out=tmp_path / "runs", progress=False,
                                               compile_cache=tmp_path / "cache"), console_print=said.append)
    assert all(o.exit_code == 0 for o in res.outcomes), [o.measurement.failure for o in res.outcomes]
    logs = {o.seed: o.log_path.read_text() for o in res.outcomes}
    assert "fxgraph_cache hit 0 miss 1" in logs[1], logs[1]
    assert "fxgraph_cache hit 1 miss 0" in logs[2], logs[2]
    per_seed = res.record["verification"]["per_seed"]
    assert (per_seed["1"]["compile_cache"], per_seed["2"]["compile_cache"]) == ("cold", "warm")
    assert validate_record(res.record) == []
    # One folder per submission version: the code's digest names it, so changed code starts cold.
    env = res.record["verification"]["environment"]  # torch, triton and the GPU model key the folder too
    folder = compile_cache_for(tmp_path / "cache", resolve(str(sub)), env)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [folder.name]
    assert folder.name.startswith("compiling-") and any(folder.rglob("*"))
    assert any(f"compile cache: {folder} (cold" in line for line in said), said
    (sub / "train_gpt.py").write_text(_COMPILING_TRAINER + "# changed\n")
    assert compile_cache_for(tmp_path / "cache", resolve(str(sub)), env) != folder
    assert compile_cache_for(tmp_path / "cache", resolve(str(sub)), {**env, "torch": "0.0"}) != \
        compile_cache_for(tmp_path / "cache", resolve(str(sub)), env)  # another torch never loads these kernels

