"""The hand-written fallback engine: namespaces made by harness/netns_exec.py, no bubblewrap.

It contains a runaway (private /tmp and /dev/shm, a network namespace with loopback only, a PID
namespace or cgroup kill, the harness's log hidden) but it is *not* a trust boundary: no privilege
separation, the host's file system stays visible. It runs only where bubblewrap is missing or
``--sandbox fallback`` asks for it; the record's ``isolation.engine`` says so and official mode
refuses it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from harness.errors import EnvironmentProblem
from harness.procs import MARKER_VAR, gpu_memory_used

if TYPE_CHECKING:
    from harness.sandbox import SeedSandbox

LAUNCHER = Path(__file__).with_name("netns_exec.py")
FALLBACK_LABEL = ("fallback: hand-written namespaces (contains a runaway, not an adversary: no privilege "
                  "separation, the host file system stays visible)")


def launch_fallback(sb: "SeedSandbox", argv: list[str], cwd: Path, env: dict[str, str], dropped: list[str],
                    log_path: Path | None, stdout: int | IO, stderr: int | IO) -> subprocess.Popen:
    """Start ``argv`` under the hand-written launcher; fill ``sb.isolation`` with what is in force."""
    opts = sb.options
    net_ok = sb.avail["net_namespace"]["ok"]
    mnt_ok = sb.avail["mount_namespace"]["ok"]
    use_pidns = sb.avail["pid_namespace"]["ok"] and sb.kill_method in ("cgroup", "pidns")
    if opts.isolate_network and not net_ok and opts.require_network_isolation:
        raise EnvironmentProblem(
            "Network isolation was required but this machine cannot create a network namespace "
            f"({sb.avail['net_namespace']['detail']}).",
            hint="Run as root on Linux (or in a privileged container), or drop --require-isolation.")
    # PDEATHSIG fires when the parent THREAD exits: run_seed keeps its calling thread
    # alive for the seed's whole life, so the seed dies only if the harness does.
    wrap = [sys.executable, "-I", str(LAUNCHER), "--parent-pid", str(os.getpid())]
    iso: dict[str, Any] = {"engine": FALLBACK_LABEL, "kill": sb.kill_method, "pid_namespace": use_pidns}
    if sb.kill_method == "cgroup":
        base = Path(sb.avail["cgroup_v2"]["base"])
        sb.cgroup = base / f"pgolf-seed-{sb.seed_id}"
        sb.cgroup.mkdir()
        wrap += ["--cgroup", str(sb.cgroup)]
        iso["cgroup"] = str(sb.cgroup)
    use_userns = {"on": True, "off": False}.get(opts.user_namespace, os.geteuid() != 0)
    if use_userns:
        wrap.append("--userns")
    iso["user_namespace"] = use_userns
    if use_pidns:
        wrap.append("--pidns")
    if opts.isolate_network and net_ok:
        wrap.append("--netns")
        env.update({"NCCL_SOCKET_IFNAME": "lo", "GLOO_SOCKET_IFNAME": "lo", "MASTER_ADDR": "127.0.0.1"})
        iso["network"] = "netns (lo only)"
    else:
        iso["network"] = "host" + ("" if not opts.isolate_network else
                                   f" (namespace unavailable: {sb.avail['net_namespace']['detail']})")
    tmp = sb.fresh_dir("tmp")
    if opts.private_tmp and mnt_ok:
        wrap += ["--private-tmp", str(tmp)]
        env["TMPDIR"] = "/tmp"
        iso["private_tmp"] = "mount (fresh dir over /tmp)"
    else:
        env["TMPDIR"] = str(tmp)
        iso["private_tmp"] = "TMPDIR only" if opts.private_tmp else "off"
    if opts.private_shm and mnt_ok:
        wrap.append("--private-shm")
        iso["private_shm"] = "tmpfs"
    else:
        iso["private_shm"] = "host"
    keeps = {cwd, sb.state_dir, Path(sys.prefix), Path(sys.base_prefix), *map(Path, opts.keep_paths),
             *map(Path, opts.read_only)}
    for v in env.values():
        for part in v.split(os.pathsep):
            if not part.startswith("/tmp/"):
                continue
            p = Path(part)  # may be a glob or a file still to be written: keep its folder
            while not p.exists() and p.parent != Path("/tmp"):
                p = p.parent
            if p.exists() and p != Path("/tmp"):
                keeps.add(p)
    for k in sorted(keeps):
        wrap += ["--keep", str(k)]
    hides = [Path(p) for p in opts.hide_paths] + ([Path(log_path)] if log_path else [])
    if mnt_ok and hides:
        empty = sb.state_dir / ".hidden-empty"
        if not empty.exists():
            empty.write_bytes(b"")
        empty.chmod(0o444)
        wrap += ["--empty-file", str(empty)]
        for h in hides:
            wrap += ["--hide", str(Path(h).resolve())]
        iso["harness_log"] = "hidden (empty read-only file bound over it)"
    else:
        iso["harness_log"] = "outside the working copy (not hidden: no mount namespace)"
    iso.update({"fresh_home": opts.fresh_home, "env_dropped": dropped,
                "env_allow_list": sorted(set(sb.env_allow()) | set(opts.env_passthrough)),
                "seed_id": sb.seed_id, "marker": f"{MARKER_VAR}={sb.seed_id}",
                # What the machine offered, beside what was in force above.
                "available": {k: sb.avail[k]["ok"] for k in
                              ("cgroup_v2", "user_namespace", "pid_namespace", "net_namespace", "mount_namespace")}})
    sb.isolation.update(iso)
    sb.env = env
    sb.argv = wrap + ["--", *argv]
    sb.gpu_baseline = gpu_memory_used()
    proc = subprocess.Popen(sb.argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
                                 stderr=subprocess.STDOUT if stderr is None else stderr,
                                 start_new_session=True, close_fds=True)
    return proc
