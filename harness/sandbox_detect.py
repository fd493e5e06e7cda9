"""What containment this machine offers a seed, probed for real: cgroup v2, and the user, PID, network
and mount namespaces (through the fallback launcher's ``--probe``). :mod:`harness.sandbox` picks its
kill method from this; `harness sandbox check` prints it beside the trust-boundary properties.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

LAUNCHER = Path(__file__).with_name("netns_exec.py")


def _cgroup2_mount() -> str | None:
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split()[4]
    except OSError:
        return None
    return None


def _own_cgroup_dir() -> Path | None:
    mnt = _cgroup2_mount()
    if not mnt:
        return None
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return Path(mnt) / line[3:].lstrip("/")
    except OSError:
        return None
    return Path(mnt)


def _probe_cgroup2() -> dict[str, Any]:
    base = _own_cgroup_dir()
    if base is None:
        return {"ok": False, "detail": "no cgroup2 filesystem mounted (cgroup v1 or none)"}
    probe = base / f"pgolf-probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        probe.mkdir()
    except OSError as exc:
        return {"ok": False, "detail": f"cannot create a cgroup under {base}: {exc.strerror}", "base": str(base)}
    try:
        if not (probe / "cgroup.kill").exists():
            return {"ok": False, "detail": "kernel has no cgroup.kill (needs Linux >= 5.14)", "base": str(base)}
        return {"ok": True, "detail": "", "base": str(base)}
    finally:
        try:
            probe.rmdir()
        except OSError:
            pass


@functools.lru_cache(maxsize=1)
def detect_isolation() -> dict[str, Any]:
    """What containment this machine offers, probed for real (cached per process).

    Keys: cgroup_v2, user_namespace, pid_namespace, net_namespace, mount_namespace (each
    {"ok", "detail"}), namespaces_via_user_namespace (True when not root),
    kill_method (the strongest available), network_isolation (bool), is_root, nvidia_smi,
    kernel.
    """
    info: dict[str, Any] = {"is_root": os.geteuid() == 0, "kernel": os.uname().release,
                            "cgroup_v2": _probe_cgroup2()}
    try:
        out = subprocess.run([sys.executable, "-I", str(LAUNCHER), "--probe"], capture_output=True,
                             text=True, timeout=30, check=False)
        ns = json.loads(out.stdout) if out.returncode == 0 else {}
        err = out.stderr.strip()[-300:]
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        ns, err = {}, str(exc)
    for k in ("user_namespace", "pid_namespace", "net_namespace", "mount_namespace"):
        info[k] = ns.get(k, {"ok": False, "detail": err or "probe failed"})
    # Without root the namespaces above were probed (and will be made) inside a user namespace.
    info["namespaces_via_user_namespace"] = bool(ns.get("namespaces_via_user_namespace", not info["is_root"]))
    if info["cgroup_v2"]["ok"]:
        info["kill_method"] = "cgroup"
    elif info["pid_namespace"]["ok"]:
        info["kill_method"] = "pidns"
    else:
        info["kill_method"] = "killpg"
    info["network_isolation"] = bool(info["net_namespace"]["ok"])
    info["nvidia_smi"] = shutil.which("nvidia-smi")
    return info
