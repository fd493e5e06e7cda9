"""Per-seed containment, with real processes: kill paths, network, /tmp, env, hidden log.

Every test runs a real trainer process (tiny Python scripts written into tmp dirs) through
``run_seed``; nothing about the trainer is mocked.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from harness.phases import LiveCaps
from harness.sandbox import SandboxOptions, detect_isolation, is_secret_name, pids_with_env, seed_pids
from harness.supervisor import SeedSpec, run_seed

ISO = detect_isolation()
needs_pidns = pytest.mark.skipif(not ISO["pid_namespace"]["ok"], reason="no PID namespace here")
needs_netns = pytest.mark.skipif(not ISO["net_namespace"]["ok"], reason="no network namespace here")
needs_mountns = pytest.mark.skipif(not ISO["mount_namespace"]["ok"], reason="no mount namespace here")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap (bwrap) is not installed")
KILL_MODES = [
    pytest.param("cgroup", marks=pytest.mark.skipif(not ISO["cgroup_v2"]["ok"], reason="no writable cgroup v2")),
    pytest.param("pidns", marks=needs_pidns),
    "killpg",
]


def write_trainer(tmp_path: Path, body: str) -> Path:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "train.py").write_text(textwrap.dedent(body))
    return work


def spec_for(tmp_path: Path, work: Path, *, env=None, caps=None, kill_mode="auto", isolate=True, **opts) -> SeedSpec:
    if kill_mode == "killpg":
        opts.setdefault("engine", "fallback")  # bubblewrap's own PID namespace makes killpg moot
    return SeedSpec(argv=[sys.executable, "train.py"], cwd=work, env=env or {},
                    log_path=tmp_path / "harness" / "seed.log", caps=caps or LiveCaps(),
                    isolate_network=isolate, sandbox=SandboxOptions(kill_mode=kill_mode, **opts))


def output(run) -> list[str]:
    return [text for _, text in run.lines]


def test_detect_isolation_reports_every_path():
    info = detect_isolation()
    for key in ("cgroup_v2", "pid_namespace", "net_namespace", "mount_namespace"):
        assert set(info[key]) >= {"ok", "detail"}
        assert info[key]["ok"] or info[key]["detail"], f"{key}: a refusal must say why"
    assert info["kill_method"] in ("cgroup", "pidns", "killpg")
    if info["cgroup_v2"]["ok"]:
        assert info["kill_method"] == "cgroup"


@pytest.mark.parametrize("name", ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE",
                                  "GITHUB_TOKEN", "WANDB_API_KEY", "OPENAI_API_KEY", "MY_SECRET", "DB_PASSWORD"])
def test_secret_names_are_dropped(name):
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["TOKENIZER_PATH", "TRAIN_BATCH_TOKENS", "VOCAB_SIZE", "DATA_PATH", "SEED",
                                  "NUM_KV_HEADS", "RUN_ID"])
def test_ordinary_names_are_kept(name):
    assert not is_secret_name(name)


def test_trainer_environment_is_minimal_and_secret_free(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_should_never_leak")
    monkeypatch.setenv("SOME_HOST_VAR", "x")
    monkeypatch.setenv("NCCL_NVLS_ENABLE", "0")  # node settings a multi-GPU host requires pass through
    monkeypatch.setenv("NCCL_SECRET_KEY", "nope")  # ... but never a secret-looking one
    work = write_trainer(tmp_path, """
        import json, os
        print("ENV " + json.dumps(dict(os.environ)))
    """)
    run = run_seed(spec_for(tmp_path, work, env={"TOKENIZER_PATH": "/data/tok.model", "SEED": "42"}))
    assert run.ok, run.failure
    env = next(__import__("json").loads(t[4:]) for t in output(run) if t.startswith("ENV "))
    assert "HF_TOKEN" not in env and "hf_should_never_leak" not in str(env)
    assert "SOME_HOST_VAR" not in env
    assert env["NCCL_NVLS_ENABLE"] == "0" and "NCCL_SECRET_KEY" not in env
    assert env["TOKENIZER_PATH"] == "/data/tok.model" and env["SEED"] == "42"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["TORCH_NCCL_ASYNC_ERROR_HANDLING"] == "3"
    assert env["HOME"] != os.environ.get("HOME") and Path(env["HOME"]).name == "home"
    assert env["TORCHINDUCTOR_CACHE_DIR"] != env["TRITON_CACHE_DIR"]
    assert "HF_TOKEN" in run.isolation["env_dropped"]
    assert run.isolation["compile_cache"] == "cold"


def test_shared_compile_cache_is_recorded_warm(tmp_path):
    cache = tmp_path / "cache"
    (cache / "inductor").mkdir(parents=True)
    (cache / "inductor" / "entry").write_text("x")
    work = write_trainer(tmp_path, "import os; print(os.environ['TORCHINDUCTOR_CACHE_DIR'])\n")
    run = run_seed(spec_for(tmp_path, work, compile_cache_dir=cache))
    assert run.ok, run.failure
    assert run.isolation["compile_cache"] == "warm"
    assert output(run)[0] == str((cache / "inductor").resolve())


@needs_netns
def test_network_namespace_blocks_host_loopback(tmp_path):
    """A server on the host's 127.0.0.1 is unreachable from the seed; control run reaches it."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.settimeout(0.2)
    port = srv.getsockname()[1]
    accepted = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                accepted.append(1)
                conn.close()
            except OSError:
                continue

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    work = write_trainer(tmp_path, """
        import os, socket
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=3).close()
            print("NET connected")
        except OSError as exc:
            print(f"NET blocked {type(exc).__name__}")
        import fcntl, struct
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        flags = struct.unpack("16sH", fcntl.ioctl(s, 0x8913, struct.pack("16sH14s", b"lo", 0, b""))[:18])[1]
        print(f"LO up={bool(flags & 1)}")
    """)
    try:
        run = run_seed(spec_for(tmp_path, work, env={"PORT": str(port)}))
        assert run.ok, run.failure
        assert any(t.startswith("NET blocked") for t in output(run)), output(run)
        assert "LO up=True" in output(run)
        assert run.isolation["network"].startswith("netns")
        assert not accepted
        control = run_seed(spec_for(tmp_path, work, env={"PORT": str(port)}, isolate=False))
        assert "NET connected" in output(control), output(control)
        assert control.isolation["network"] == "host"
        deadline = time.monotonic() + 2
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.05)
        assert accepted
    finally:
        stop.set()
        th.join(timeout=2)
        srv.close()


@needs_mountns
def test_private_tmp_and_shm_are_fresh_per_run(tmp_path):
    """A reused RUN_ID must not inherit a killed seed's /tmp files; nothing leaks to the host."""
    tag = f"pgolf-test-{os.getpid()}-{time.monotonic_ns()}"
    work = write_trainer(tmp_path, f"""
        import os
        seen = os.path.exists("/tmp/{tag}"), os.path.exists("/dev/shm/{tag}")
        print(f"SEEN tmp={{seen[0]}} shm={{seen[1]}}")
        open("/tmp/{tag}", "w").write("rank coordination file")
        open("/dev/shm/{tag}", "w").write("x")
    """)
    for _ in range(2):  # same state dir both times, as a reused RUN_ID would have
        run = run_seed(spec_for(tmp_path, work))
        assert run.ok, run.failure
        assert "SEEN tmp=False shm=False" in output(run)
    assert not Path(f"/tmp/{tag}").exists() and not Path(f"/dev/shm/{tag}").exists()
    assert run.isolation["private_tmp"].startswith("mount")


@needs_mountns
def test_harness_log_is_hidden_from_the_trainer(tmp_path):
    work = write_trainer(tmp_path, """
        import os, sys
        path = os.environ["LOG_PROBE"]
        print("BEFORE-PROBE")
        try:
            content = open(path).read()
            print(f"READ {len(content)} bytes")
        except OSError as exc:
            print(f"READ failed {type(exc).__name__}")
        try:
            with open(path, "a") as f:
                f.write("0.000 forged line\\n")
            print("WRITE ok")
        except OSError as exc:
            print(f"WRITE failed {exc.errno}")
    """)
    spec = spec_for(tmp_path, work)
    spec.env["LOG_PROBE"] = str(spec.log_path)
    run = run_seed(spec)
    assert run.ok, run.failure
    out = output(run)
    assert "READ 0 bytes" in out or "READ failed FileNotFoundError" in out, out
    # Under bubblewrap the path does not exist in the view (a write lands in the seed's own /tmp);
    # under the fallback an empty read-only file covers it. Either way the log is untouched.
    assert "forged" not in spec.log_path.read_text()
    assert "BEFORE-PROBE" in spec.log_path.read_text()


def _tree_trainer(tmp_path: Path) -> Path:
    # Children in their own sessions, like torchrun's ranks, plus a double-forked daemon.
    return write_trainer(tmp_path, """
        import os, subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
                for _ in range(2)]
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        print("step:0/10 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0ms", flush=True)
        while True:
            print("step:1/10 train_loss:3.0 train_time:1ms step_avg:1ms", flush=True)
            time.sleep(0.2)
    """)


@pytest.mark.parametrize("mode", KILL_MODES)
def test_kill_takes_the_whole_tree(tmp_path, mode):
    work = _tree_trainer(tmp_path)
    run = run_seed(spec_for(tmp_path, work, kill_mode=mode, caps=LiveCaps(train_s=1.0, grace_s=0.5)))
    assert run.killed and run.kill_reason.startswith("train cap 1 s exceeded"), run.kill_reason
    assert run.isolation["kill"] == mode
    assert run.kill["stragglers"] >= 4  # launcher/init, trainer, 2 session leaders, daemon
    assert run.kill["late_s"] < 1.0
    assert run.ended_at - (run.started_at + run.kill["deadline_t"]) < 1.0
    assert run.orphans_left == 0
    assert seed_pids(run.isolation["seed_id"]) == []
    if mode == "cgroup":
        assert not Path(run.isolation["cgroup"]).exists()


@pytest.mark.parametrize("mode", KILL_MODES)
def test_daemon_left_after_normal_exit_is_reaped(tmp_path, mode):
    work = write_trainer(tmp_path, """
        import os, time
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(600)
            os._exit(0)
        time.sleep(0.3)
        print("trainer done")
    """)
    run = run_seed(spec_for(tmp_path, work, kill_mode=mode))
    assert run.exit_code == 0 and not run.killed
    assert run.orphans_left == 0
    assert seed_pids(run.isolation["seed_id"]) == []
    if mode == "killpg":  # only this mode leaves the daemon for the harness to find
        assert run.teardown["stragglers"] >= 1


def test_crash_by_signal_fails_the_seed_and_keeps_the_log(tmp_path):
    work = write_trainer(tmp_path, """
        import os, signal
        print("about to crash", flush=True)
        os.kill(os.getpid(), signal.SIGSEGV)
    """)
    run = run_seed(spec_for(tmp_path, work))
    assert run.signal == 11 and run.exit_code is None and not run.killed
    assert run.failure == "terminated by signal 11"
    assert "about to crash" in run.log_path.read_text()


def test_nonzero_exit_fails_the_seed_and_keeps_the_log(tmp_path):
    work = write_trainer(tmp_path, "import sys\nprint('bad data')\nsys.exit(3)\n")
    run = run_seed(spec_for(tmp_path, work))
    assert run.exit_code == 3 and run.signal is None and not run.ok
    assert run.log_path.read_text().split(" ", 1)[1] == "bad data\n"


@pytest.mark.parametrize("mode", [p for p in KILL_MODES if p != "killpg"])
def test_kill_method_alone_takes_the_tree(tmp_path, mode):
    """cgroup.kill / the PID namespace do it without the marker sweep's help."""
    work = _tree_trainer(tmp_path)
    run = run_seed(spec_for(tmp_path, work, kill_mode=mode, marker_sweep=False,
                            caps=LiveCaps(train_s=1.0, grace_s=0.5)))
    assert run.killed and run.orphans_left == 0
    assert seed_pids(run.isolation["seed_id"]) == []


def test_killpg_alone_leaves_session_leaders_behind(tmp_path):
    """Why killpg is only the last fallback: children in their own sessions survive it."""
    work = _tree_trainer(tmp_path)
    run = run_seed(spec_for(tmp_path, work, kill_mode="killpg", marker_sweep=False, settle_s=1.0,
                            caps=LiveCaps(train_s=1.0, grace_s=0.5)))
    left = seed_pids(run.isolation["seed_id"])
    try:
        assert run.killed
        assert run.orphans_left >= 3 and len(left) >= 3  # 2 session leaders + the daemon
    finally:
        for pid in left:
            os.kill(pid, 9)


def _pids_with_env(tag: str) -> list[int]:
    return pids_with_env("TEST_TAG", tag)  # zombies have an empty environ, so they never match


@pytest.mark.parametrize("mode", KILL_MODES)
def test_seed_dies_with_the_harness(tmp_path, mode):
    """SIGKILL to the harness process itself must not leave the seed running."""
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    _tree_trainer(tmp_path)
    harness = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})
        from pathlib import Path
        from harness.sandbox import SandboxOptions
        from harness.supervisor import SeedSpec, run_seed
        run_seed(SeedSpec(argv=[sys.executable, "train.py"], cwd=Path({str(tmp_path / "work")!r}),
                          env={{"TEST_TAG": {tag!r}}}, log_path=Path({str(tmp_path / "h" / "seed.log")!r}),
                          sandbox=SandboxOptions(kill_mode={mode!r})))
    """)
    import subprocess

    h = subprocess.Popen([sys.executable, "-c", harness])
    try:
        deadline = time.monotonic() + 20
        while len(_pids_with_env(tag)) < 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_pids_with_env(tag)) >= 4, "the seed did not start"
        h.kill()
        h.wait()
        deadline = time.monotonic() + (5 if mode != "killpg" else 0.5)
        while _pids_with_env(tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        left = _pids_with_env(tag)
        if mode == "killpg":
            # Without a namespace or cgroup only the launcher dies with the harness; its
            # children in their own sessions live on. The record says killpg was in force.
            for pid in left:
                os.kill(pid, 9)
            return
        assert left == [], f"seed processes survived the harness: {left}"
    finally:
        if h.poll() is None:
            h.kill()
        for pid in _pids_with_env(tag):
            os.kill(pid, 9)


def test_sandbox_check_command():
    import json

    from click.testing import CliRunner

    from harness.cli import cli

    res = CliRunner().invoke(cli, ["sandbox", "check", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["machine"]["kill_method"] == detect_isolation()["kill_method"]
    props = {p["name"]: p for p in info["properties"]}
    assert {"private_uid", "mounts_locked", "minimal_view", "secrets_absent", "disk_cap"} <= set(props)
    res = CliRunner().invoke(cli, ["sandbox", "check"])
    assert res.exit_code == 0 and "kill_method" in res.output and "mounts_locked" in res.output


@needs_mountns
def test_paths_under_tmp_named_in_env_stay_visible(tmp_path):
    """Fallback engine: data under the host's /tmp (named by DATA_PATH, even as a glob) survives the
    private /tmp. (Under bubblewrap only the inputs the harness names are bound: see
    test_env_paths_bring_nothing_into_a_bwrap_view.)"""
    data, shards = tmp_path / "data", tmp_path / "shards"
    data.mkdir()
    shards.mkdir()
    (shards / "fineweb_val_000000.bin").write_bytes(b"x" * 10)
    work = write_trainer(tmp_path, """
        import glob, os
        print("FOUND", len(glob.glob(os.environ["DATA_GLOB"])), os.path.isdir(os.environ["DATA_PATH"]))
    """)
    run = run_seed(spec_for(tmp_path, work, env={"DATA_PATH": str(data), "DATA_GLOB": str(shards / "fineweb_val_*.bin")},
                            engine="fallback"))
    assert run.ok, run.failure
    assert "FOUND 1 True" in output(run)


@needs_bwrap
def test_env_paths_bring_nothing_into_a_bwrap_view(tmp_path):
    """A path named in the trainer's environment is not bound; inputs named as read_only are."""
    secret, data = tmp_path / "secret", tmp_path / "data"
    secret.mkdir()
    data.mkdir()
    (secret / "token").write_text("hunter2")
    (data / "fineweb_val_000000.bin").write_bytes(b"x" * 10)
    work = write_trainer(tmp_path, """
        import os
        print("SECRET", os.path.exists(os.environ["PRIVATE_DIR"] + "/token"), "DATA", os.listdir(os.environ["DATA_PATH"]))
        try:
            open(os.environ["DATA_PATH"] + "/fineweb_val_000000.bin", "ab").write(b"y")
            print("DATA writable")
        except OSError:
            print("DATA read-only")
    """)
    run = run_seed(spec_for(tmp_path, work, env={"PRIVATE_DIR": str(secret), "DATA_PATH": str(data)},
                            engine="bwrap", read_only=[data]))
    assert run.ok, run.failure
    assert "SECRET False DATA ['fineweb_val_000000.bin']" in output(run) and "DATA read-only" in output(run)


needs_userns = pytest.mark.skipif(not ISO["user_namespace"]["ok"], reason="no user namespace here")


@needs_userns
@needs_netns
@needs_mountns
def test_full_isolation_inside_a_user_namespace(tmp_path):
    """The unprivileged path, forced on as root: network cut with lo up, log hidden, /tmp
    private, and the PID-namespace kill takes the tree."""
    work = write_trainer(tmp_path, """
        import os, socket, subprocess, sys, time
        print(f"UID {os.getuid()}")
        try:
            socket.create_connection(("127.0.0.1", int(os.environ["PORT"])), timeout=1).close()
            print("NET reached")
        except OSError:
            print("NET blocked")
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
        socket.create_connection(s.getsockname(), timeout=2).close()
        print("LO ok")
        try:
            open(os.environ["LOG_PROBE"], "a").write("forged")
            print("WRITE ok")
        except OSError:
            print("WRITE failed")
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
        print("step:0/9 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0ms", flush=True)
        time.sleep(600)
    """)
    spec = spec_for(tmp_path, work, kill_mode="pidns", user_namespace="on", caps=LiveCaps(train_s=1.0),
                    engine="fallback")
    spec.env["LOG_PROBE"] = str(spec.log_path)
    with socket.socket() as srv:  # a server on the host's loopback, unreachable from the seed
        srv.bind(("127.0.0.1", 0))
        srv.listen(4)
        spec.env["PORT"] = str(srv.getsockname()[1])
        run = run_seed(spec)
    out = output(run)
    assert run.isolation["user_namespace"] is True
    assert "UID 0" in out and "NET blocked" in out and "LO ok" in out and "WRITE failed" in out, out
    assert run.killed and run.orphans_left == 0 and seed_pids(run.isolation["seed_id"]) == []


@needs_userns
@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists() or not Path("/usr/bin/python3").exists(),
                    reason="needs root to drop to nobody with setpriv, and /usr/bin/python3")
def test_launcher_works_for_an_unprivileged_user(tmp_path):
    """As uid 65534 (nobody): the launcher builds PID + network namespaces, lo comes up."""
    import subprocess

    launcher = Path(__file__).resolve().parents[1] / "harness" / "netns_exec.py"
    if subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                       "-c", f"open({str(launcher)!r}).read()"], capture_output=True).returncode != 0:
        pytest.skip("the launcher is not readable by nobody on this checkout")
    res = subprocess.run(["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                          "/usr/bin/python3", "-I", str(launcher), "--userns", "--pidns", "--netns", "--",
                          "/usr/bin/python3", "-c",
                          "import os, socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(1);"
                          "socket.create_connection(s.getsockname(), timeout=2).close(); print(os.getpid(), 'ok')"],
                         capture_output=True, text=True, cwd="/", timeout=30)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["2", "ok"]  # pid 2: the trainer under the seed's init
