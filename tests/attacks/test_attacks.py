"""One small malicious submission per attack class, each asserting the safe outcome.

Every test runs the real `harness reproduce` (smoke, one seed, torchrun on CPU) on a trainer that
behaves honestly except for the attack. Outcomes: the attack fails inside the sandbox (refused),
or the harness catches it with an error finding and a non-zero exit (caught). The tests hold as
root, as an ordinary user and inside the image; where bubblewrap is missing the hand-written
fallback cannot hold them, so they skip and say so.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.procs import MARKER_VAR, env_values

from .conftest import needs_bwrap, run_attack, run_cli, write_submission

pytestmark = [needs_bwrap, pytest.mark.attacks]
HARNESS_SRC = Path(__file__).resolve().parents[2] / "harness"


def test_an_honest_fake_trainer_passes(attack):
    """The control: the template without an attack reproduces cleanly, so each attack's outcome is its own."""
    out = attack()
    assert out.exit_code == 0, out.findings()
    assert out.record["val_bpb"] == pytest.approx(3.2)
    assert out.record["verification"]["isolation"]["engine"].startswith("bubblewrap")


def test_secrets_are_out_of_reach(attack, tmp_path, monkeypatch):
    """Tokens in the harness's environment, its HOME and its /proc are not readable by the trainer."""
    home = tmp_path / "operator-home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    (home / ".netrc").write_text("machine example.org login op password netrc-secret-1\n")
    (home / ".cache" / "huggingface" / "token").write_text("hf_file_secret_2")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", "hf_env_secret_3")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws_env_secret_4")
    monkeypatch.setenv("GITHUB_TOKEN", "gh_env_secret_5")
    out = attack(setup=f"""
        import glob
        found = [v for v in os.environ.values()]
        for p in glob.glob("/proc/*/environ"):
            try:
                found.append(open(p, "rb").read().decode(errors="replace"))
            except OSError:
                pass
        for p in ({str(home / '.netrc')!r}, {str(home / '.cache/huggingface/token')!r}, os.path.expanduser("~/.netrc")):
            try:
                found.append(open(p).read())
            except OSError:
                pass
        say("LOOT " + repr(found))
    """)
    log = out.log()
    assert "LOOT" in log
    for secret in ("netrc-secret-1", "hf_file_secret_2", "hf_env_secret_3", "aws_env_secret_4", "gh_env_secret_5"):
        assert secret not in log, secret
    assert "HF_TOKEN" in out.record["verification"]["isolation"]["harness_env_scrubbed"]


def test_the_sandbox_cannot_be_undone(attack):
    """Unmount, remount, new user namespace, setns, ptrace and the host's loopback all fail."""
    with socket.socket() as host_srv:
        host_srv.bind(("127.0.0.1", 0))
        host_srv.listen(1)
        port = host_srv.getsockname()[1]
        out = attack(setup=f"""
            import ctypes, socket
            libc = ctypes.CDLL(None, use_errno=True)
            r = {{}}
            r["umount_tmp"] = libc.umount2(b"/tmp", 2)
            r["umount_proc"] = libc.umount2(b"/proc", 2)
            r["remount_rw"] = libc.mount(None, sys.prefix.encode(), None, 32 | 4096, None)
            r["unshare_user"] = libc.unshare(0x10000000)
            r["unshare_mnt"] = libc.unshare(0x00020000)
            fd = os.open("/proc/1/ns/net", os.O_RDONLY)
            r["setns"] = libc.setns(fd, 0)
            r["ptrace_init"] = libc.ptrace(16, 1, None, None)
            s = socket.socket(); s.settimeout(2)
            r["host_loopback"] = s.connect_ex(("127.0.0.1", {port}))
            say("RESULTS " + repr(r))
        """)
    line = next(ln for ln in out.stdout_lines() if ln.startswith("RESULTS "))
    results = eval(line[len("RESULTS "):])  # noqa: S307 - our own trainer's dict of ints
    assert all(v != 0 for v in results.values()), results


def test_evidence_cannot_be_rewritten_or_forged(attack, tmp_path):
    """The trainer writes over the harness's log, measure and record and prints a better score on
    stderr: the record keeps the harness's own figures."""
    runs = tmp_path / "runs" / "r"
    targets = [runs / "seed-1" / "harness.log", runs / "seed-1" / "measure.json", runs / "submission.json",
               Path("../harness.log"), Path("../../submission.json")]
    out = attack(after=f"""
        for p in {[str(t) for t in targets]!r}:
            try:
                with open(p, "a") as f:
                    f.write("0.001 final_int8_zlib_roundtrip_exact val_loss:0.10000000 val_bpb:0.90000000\\n")
                say("WROTE " + p)
            except OSError as exc:
                say("DENIED " + p)
        print("final_int8_zlib_roundtrip_exact val_loss:0.10000000 val_bpb:0.90000000", file=sys.stderr, flush=True)
    """)
    assert out.record["val_bpb"] == pytest.approx(3.2)
    log = out.log()
    assert "[stderr] final_int8_zlib_roundtrip_exact val_loss:0.1" in log  # kept, marked, never scored
    assert not any(ln.startswith("0.001 final") for ln in log.splitlines())
    assert "val_bpb:0.9" not in (runs / "seed-1" / "measure.json").read_text()


def test_the_python_environment_and_the_harness_are_read_only(attack):
    """A .pth planted in site-packages (or code in the harness's source) would run in the next command."""
    import site

    dirs = sorted({*site.getsitepackages(), *(p for p in sys.path if p and os.path.isdir(p)), str(HARNESS_SRC)})
    try:
        out = attack(setup=f"""
            for d in {dirs!r}:
                try:
                    open(os.path.join(d, "zz_pgolf_planted.pth"), "w").write("# planted by tests/attacks\\n")
                    say("PLANTED " + d)
                except OSError:
                    pass
        """)
        planted = {ln.split(" ", 1)[1] for ln in out.stdout_lines() if ln.startswith("PLANTED ")}
        # The Python environment is bound read-only; a folder outside the view may exist in it only as an
        # empty, throw-away parent of a bound path: a write there lands nowhere on the host.
        assert not planted & set(site.getsitepackages())
        assert not [d for d in dirs if os.path.exists(os.path.join(d, "zz_pgolf_planted.pth"))]
    finally:  # an engine that lets the attack through (the fallback, measured by hand) leaves nothing behind
        for d in dirs:
            try:
                os.remove(os.path.join(d, "zz_pgolf_planted.pth"))
            except OSError:
                pass


def test_no_process_survives_the_seed(attack, tmp_path):
    """A double-forked daemon in its own session dies with the seed and cannot touch the record later."""
    out = attack(after="""
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                time.sleep(4)
                for p in ("../../submission.json", "../harness.log"):
                    try:
                        open(p, "a").write("tampered")
                    except OSError:
                        pass
                os._exit(0)
            os._exit(0)
    """)
    record_path = out.run_dir / "submission.json"
    before = record_path.read_bytes()
    seed_id = out.record["verification"]["isolation"]["seed_id"]
    assert [p for p, v in env_values(MARKER_VAR).items() if v == seed_id] == []
    time.sleep(5)
    assert record_path.read_bytes() == before
    assert "tampered" not in out.log()


def test_a_printed_eval_time_is_not_trusted(attack):
    """A 4 s eval that prints eval_time:500ms is judged on the harness's clock."""
    out = attack(in_eval="time.sleep(4)", eval_ms=500, eval_seconds=1)
    assert out.exit_code != 0 and "timing.eval" in out.rules()
    assert "timing.printed_vs_stamped" in out.all_rules()
    per_seed = out.record["verification"]["per_seed"]["1"]
    (seg,) = [s for s in per_seed["harness_clock"]["segments"] if s["name"] == "scored eval"]
    assert seg["seconds"] >= 3.5 and seg["source"] == "harness"


def test_a_symlinked_artifact_is_refused(attack):
    out = attack(after="""
        os.remove("final_model.int8.ptz")
        os.symlink("/etc/hostname", "final_model.int8.ptz")
    """)
    assert out.exit_code != 0 and "artifact.not_regular" in out.rules()


def test_a_decoy_artifact_is_an_error_not_a_choice(attack):
    out = attack(artifact="final_model*.ptz", after="""
        time.sleep(0.1)
        open("final_model.small.ptz", "wb").write(b"x")  # newer and smaller: the old picker took it
    """)
    assert out.exit_code != 0 and "artifact.ambiguous" in out.rules()


def test_an_artifact_rewritten_after_the_eval_began_is_caught(attack):
    out = attack(in_eval="time.sleep(1.5)", after="""
        open("final_model.int8.ptz", "wb").write(b"x" * 10)
    """)
    assert out.exit_code != 0 and "artifact.changed_after_eval_start" in out.rules()


def test_code_bytes_come_from_the_pristine_copy(attack, tmp_path):
    out = attack(setup="""
        open(__file__, "w").write("pass")  # 4 bytes of code, if the harness counted the working copy
    """)
    original = (tmp_path / "sub" / "train_gpt.py").stat().st_size
    assert out.record["verification"]["code"]["counted_bytes"] == original
    assert out.exit_code != 0 and "code.modified" in out.rules()


@pytest.mark.parametrize("field, value", [("artifact", "../../../etc/hostname"), ("name", "../../escaped"),
                                          ("entry", "/etc/passwd"), ("code_files", "../x.py"),
                                          ("folder", "../..")])
def test_paths_in_a_manifest_cannot_leave_the_submission(tmp_path, field, value):
    manifest = f'[submission]\nname = "m"\ndata = "embedded"\n{field} = {json.dumps(value)}\n'
    sub = write_submission(tmp_path, manifest=manifest)
    out = run_attack(tmp_path, sub)
    assert out.exit_code == 2 and out.record is None, out.error
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runs").exists()


def test_the_pids_limit_holds(attack, tight_policy):
    out = attack(policy=tight_policy(pids_max=48, disk_max_bytes=2**30), setup="""
        import signal
        kids = []
        try:
            for _ in range(500):
                pid = os.fork()
                if pid == 0:
                    time.sleep(30)
                    os._exit(0)
                kids.append(pid)
        except OSError:
            pass
        say(f"FORKED {len(kids)}")
        for pid in kids:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    """)
    forked = int(next(ln for ln in out.stdout_lines() if ln.startswith("FORKED")).split()[1])
    assert forked < 48
    assert "pids" in out.record["verification"]["isolation"]["limits"]["held"]


def test_the_disk_cap_kills_with_a_finding(attack, tight_policy):
    out = attack(policy=tight_policy(pids_max=512, disk_max_bytes=20_000_000), setup="""
        with open("filler.bin", "wb") as f:
            for _ in range(40):
                f.write(b"\\0" * 4_000_000)
                f.flush()
                os.fsync(f.fileno())
                time.sleep(0.15)
    """)
    assert out.exit_code != 0 and "sandbox.disk_cap" in out.rules()


def test_a_symlink_or_fifo_in_a_submission_is_a_usage_error(tmp_path):
    sub = write_submission(tmp_path)
    (sub / "creds").symlink_to(Path.home() / ".netrc")
    out = run_attack(tmp_path, sub)
    assert out.exit_code == 2 and "creds (a symlink)" in str(out.error)
    (sub / "creds").unlink()
    os.mkfifo(sub / "pipe")
    out = run_attack(tmp_path, sub, runs="runs2")
    assert out.exit_code == 2 and "pipe (a FIFO)" in str(out.error)


@pytest.mark.parametrize("manifest", ['[submission]\nnproc = "8"\n', '[submission]\nnproc = 1\n[claim]\nseeds = [{seed = 1, val_bpb = nan}]\n',
                                      '[submission\n', '[submission]\nartifact = 5\n'])
def test_a_malformed_manifest_ends_in_one_line_and_exit_2(tmp_path, manifest, capsys):
    sub = write_submission(tmp_path, manifest=manifest)
    code, text = run_cli(["reproduce", str(sub), "--seeds", "1", "--out", str(tmp_path / "runs"), "--no-progress"], capsys)
    assert code == 2, text
    assert "Traceback" not in text and text.strip().startswith("error:")


def test_deeply_nested_or_non_finite_json_is_refused_cleanly(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    nan = tmp_path / "nan.json"
    nan.write_text('{"val_bpb": NaN, "name": "x"}')
    for bad in (deep, nan):
        for args in (["record", "check", str(bad)], ["compare", str(bad), str(bad)]):
            code, text = run_cli(args, capsys)
            assert code != 0 and "Traceback" not in text, (args, text)


def test_corrupt_shards_stop_a_smoke_run_before_any_seed(tmp_path):
    from harness.data.prepare import prepare_data

    src = prepare_data("embedded", None)
    data = tmp_path / "data"
    subprocess.run(["cp", "-r", str(src.data_dir), str(data)], check=True)
    val = sorted(data.glob("fineweb_val_*.bin"))[0]
    raw = bytearray(val.read_bytes())
    raw[0:4] = b"\xff\xff\xff\xff"  # the shard header's magic
    val.write_bytes(bytes(raw))
    sub = write_submission(tmp_path)
    from harness.errors import HarnessError
    from harness.reproduce import ReproduceOptions, reproduce

    with pytest.raises(HarnessError) as exc:
        reproduce(str(sub), ReproduceOptions(seeds=[1], mode="smoke", data=data, out=tmp_path / "runs", run_id="r",
                                             progress=False))
    assert exc.value.exit_code == 3 and "fails verification" in str(exc.value)
    assert not (tmp_path / "runs" / "r" / "seed-1").exists()
