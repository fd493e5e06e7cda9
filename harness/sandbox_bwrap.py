"""Launching a seed under bubblewrap: privilege separation, the minimal view, limits, seccomp.

:class:`harness.sandbox.SeedSandbox` calls :func:`launch_bwrap` when the bwrap engine is in use.
The chain is ``harness -> sandbox_enter.py (cgroups, staging, rlimits, uid drop) -> bwrap (user,
PID, IPC, UTS, network and mount namespaces; no capabilities; user namespaces disabled; seccomp)
-> torchrun -> ranks``. As root the trainer runs as a sandbox uid of its own that owns none of
the harness's files; as an ordinary user it keeps the user's uid (nothing else can be had
without privileges) and sees none of the user's files.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness import limits as lim
from harness import seccomp
from harness.bwrap_view import View, bwrap_path
from harness.procs import MARKER_VAR, gpu_memory_used

if TYPE_CHECKING:
    from harness.sandbox import SeedSandbox

ENTER = Path(__file__).with_name("sandbox_enter.py")
SANDBOX_UID_BASE = 2_000_000   # above the usual subordinate-uid ranges of rootless containers
SANDBOX_UID_SPAN = 60_000
SANDBOX_USER = "pgolf-seed"



def sandbox_uid(seed_id: str) -> int:
    """A uid of the seed's own when the harness is root (derived from the seed id)."""
    return SANDBOX_UID_BASE + zlib.crc32(seed_id.encode()) % SANDBOX_UID_SPAN


def bwrap_version() -> str | None:
    exe = bwrap_path()
    if not exe:
        return None
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out or "bubblewrap"


def _chown_tree(root: Path, uid: int, gid: int) -> None:
    """Hand a folder the harness made to the sandbox uid (never following symlinks)."""
    os.chown(root, uid, gid, follow_symlinks=False)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            os.chown(os.path.join(dirpath, name), uid, gid, follow_symlinks=False)


def _etc_binds(state_dir: Path, uid: int | None, gid: int | None, home: Path) -> list[str]:
    """bwrap arguments laying the seed's own /etc/hosts (the hostname, which the seed shares with the
    host because a container may forbid sethostname, resolves to 127.0.0.1, as torchrun's rendezvous
    needs inside a network namespace) and, for a sandbox uid, /etc/passwd and /etc/group that name it
    (getpwuid() in Python's getpass and torch's cache paths)."""
    files = {"hosts": f"127.0.0.1 localhost {socket.gethostname()}\n::1 localhost ip6-localhost ip6-loopback\n"}
    if uid is not None:
        for name, line in (("passwd", f"{SANDBOX_USER}:x:{uid}:{gid}::{home}:/bin/sh\n"),
                           ("group", f"{SANDBOX_USER}:x:{gid}:\n")):
            host = Path("/etc") / name
            text = host.read_text() if host.is_file() else ""
            files[name] = text + ("" if text.endswith("\n") or not text else "\n") + line
    out = []
    for name, text in files.items():
        path = state_dir / f"etc-{name}"
        if path.exists():
            path.chmod(0o644)
        path.write_text(text)
        path.chmod(0o444)
        out += ["--ro-bind", str(path), f"/etc/{name}"]
    return out


def launch_bwrap(sb: "SeedSandbox", argv: list[str], cwd: Path, env: dict[str, str], dropped: list[str],
                 stdout: int | IO, stderr: int | IO) -> subprocess.Popen:
    """Start ``argv`` in the seed's bwrap sandbox; fill ``sb.isolation`` with what is in force."""
    opts = sb.options
    is_root = os.geteuid() == 0
    limits = {**lim.DEFAULTS, **opts.limits}
    home = Path(env["HOME"]) if opts.fresh_home else sb.fresh_dir("home")
    tmp = sb.fresh_dir("tmp")
    cache = Path(env["TORCHINDUCTOR_CACHE_DIR"]).parent
    writable = [cwd, home, tmp, cache]
    env.update({"HOME": str(home), "TMPDIR": "/tmp", "USER": SANDBOX_USER, "LOGNAME": SANDBOX_USER})
    if opts.isolate_network:
        env.update({"NCCL_SOCKET_IFNAME": "lo", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"})
    # The operator's own PYTHONPATH / LD_LIBRARY_PATH (never a manifest's) may name folders outside
    # the Python environment; the harness's additions (the FA3 shim) too. A manifest's values are
    # paths inside the view and bring nothing into it.
    # The folder holding the harness's own source (a checkout on PYTHONPATH) is never bound.
    own_src = Path(__file__).resolve().parent.parent
    extra_ro = [Path(p) for var in ("PYTHONPATH", "LD_LIBRARY_PATH")
                for p in os.environ.get(var, "").split(os.pathsep)
                if p and os.path.isabs(p) and os.path.isdir(p) and Path(p).resolve() != own_src
                and own_src not in Path(p).resolve().parents]
    uid = gid = None
    cmd = [sys.executable, "-I", str(ENTER), "--parent-pid", str(os.getpid())]
    if is_root:
        uid = gid = sandbox_uid(sb.seed_id)
        for d in writable:
            _chown_tree(d, uid, gid)
        sb.stage_dir = Path(tempfile.mkdtemp(prefix="pgolf-stage-"))
        sb.stage_dir.chmod(0o755)
        cmd += ["--uid", str(uid), "--gid", str(gid), "--stage", str(sb.stage_dir)]
    want_kill = sb.kill_method == "cgroup"
    sb.cgroups = lim.make_cgroups(sb.seed_id, limits, want_kill=want_kill)
    if want_kill and sb.cgroups.kill_dir is None:
        sb.kill_method = "pidns"
    sb.cgroup = sb.cgroups.kill_dir
    for d in sb.cgroups.dirs:
        cmd += ["--cgroup", str(d)]
    if "pids" not in sb.cgroups.held and limits["pids_max"]:
        cmd += ["--rlimit", f"NPROC={lim.nproc_rlimit(limits['pids_max'], uid_is_private=is_root)}"]
        sb.cgroups.held["pids"] = f"RLIMIT_NPROC of the {'sandbox' if is_root else 'user'}'s uid"
        sb.cgroups.missing.pop("pids", None)
    seccomp_fd = seccomp.program_fd() if seccomp.supported() and limits.get("seccomp", 1) else None
    view = View(work=cwd, home=home, tmp=tmp, read_only=[*map(Path, opts.read_only), *extra_ro],
                read_write=[cache], isolate_network=opts.isolate_network,
                shm_bytes=limits.get("shm_max_bytes") or None, uid=uid, gid=gid, seccomp_fd=seccomp_fd)
    bw = view.argv(env)
    bw[-1:-1] = _etc_binds(sb.state_dir, uid, gid, home)
    sb.disk_paths = writable
    sb.env = env
    sb.argv = cmd + ["--", *bw, *argv]
    sb.isolation.update(_describe(sb, view, uid, seccomp_fd is not None, limits, dropped, is_root))
    sb.gpu_baseline = gpu_memory_used()
    try:
        return subprocess.Popen(sb.argv, cwd="/", env=env, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                                start_new_session=True, close_fds=True,
                                pass_fds=(seccomp_fd,) if seccomp_fd is not None else ())
    finally:
        if seccomp_fd is not None:
            os.close(seccomp_fd)


def _describe(sb: "SeedSandbox", view: View, uid: int | None, has_seccomp: bool, limits: dict[str, int],
              dropped: list[str], is_root: bool) -> dict[str, Any]:
    cg = sb.cgroups
    return {
        "engine": bwrap_version() or "bubblewrap",
        "kill": sb.kill_method, "pid_namespace": True, "user_namespace": True,
        "cgroup": str(sb.cgroup) if sb.cgroup else None,
        "trainer_uid": uid if uid is not None else os.getuid(),
        "trainer_uid_private": is_root,
        "capabilities": "none (own user namespace, all dropped; user namespaces disabled inside)",
        "no_new_privs": True,
        "seccomp": f"denies {', '.join(seccomp.denied_calls())}" if has_seccomp else "none",
        "network": "netns (lo only)" if view.isolate_network else "host",
        "private_tmp": "mount: a fresh per-seed folder bound over /tmp",
        "private_shm": "tmpfs" + (f" ({view.shm_bytes} bytes)" if view.shm_bytes else ""),
        "fresh_home": True,
        "view": view.describe(),
        "harness_log": "outside the view (never inside the sandbox's mount namespace)",
        "limits": {"held": dict(cg.held) if cg else {}, "missing": dict(cg.missing) if cg else {},
                   "disk": f"polled, {limits['disk_max_bytes']} bytes" if limits["disk_max_bytes"] else "none"},
        "env_dropped": dropped, "seed_id": sb.seed_id,
        "marker": f"{MARKER_VAR}={sb.seed_id}",
    }


def cleanup(sb: "SeedSandbox") -> None:
    """Remove what the launch made outside the seed's folders (cgroups, the stage mount point)."""
    if sb.cgroups is not None:
        sb.cgroups.remove()
    if sb.stage_dir is not None:
        shutil.rmtree(sb.stage_dir, ignore_errors=True)
