"""Which trust-boundary properties a seed's sandbox really holds on this machine, tried from inside.

``probe_properties()`` starts a real seed sandbox (the same code path as a reproduction) around a
small probe script that tries, as an attacker would, what the sandbox must forbid: unmount a
cover, create a user namespace, join another namespace, see the harness's pids, files or secrets,
reach the host's loopback. Each property is then held or missing, with the evidence.
``harness sandbox check`` prints them; ``harness reproduce --mode official`` refuses to run
(exit 3) when a required one is missing.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentProblem
from harness.limits import DEFAULTS

# name -> (what it means, required in official mode)
PROPERTIES: dict[str, tuple[str, bool]] = {
    "bubblewrap": ("a maintained sandbox tool (bubblewrap) builds the seed's view", True),
    "private_uid": ("the trainer runs as a uid of its own, owning none of the harness's files", True),
    "no_capabilities": ("the trainer holds no capability", True),
    "no_new_privs": ("no_new_privs is set: no setuid program can raise its privileges", True),
    "userns_disabled": ("the trainer cannot create a user namespace (and gain capabilities in it)", True),
    "mounts_locked": ("the trainer cannot unmount or remount what it was given", True),
    "setns_blocked": ("the trainer cannot join another namespace", True),
    "seccomp": ("a seccomp filter denies mount, setns, unshare, ptrace, bpf and keyctl", False),
    "pid_namespace": ("the trainer sees only its own processes", True),
    "network_isolated": ("the trainer reaches no address, not even the host's 127.0.0.1", True),
    "minimal_view": ("the trainer sees neither the harness's files nor the user's HOME", True),
    "evidence_outside": ("the harness's log, measure and record are outside the trainer's view", True),
    "secrets_absent": ("no credential is in the trainer's environment", True),
    "pids_limit": ("a limit on the number of the seed's processes", True),
    "memory_limit": ("a limit on the seed's memory", False),
    "disk_cap": ("a cap on the bytes the seed's folders may hold", True),
}

_PROBE = r'''
import ctypes, json, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
res = {}
status = dict(l.split(":\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\t" in l)
res["caps"] = status.get("CapEff", "").strip()
res["nnp"] = status.get("NoNewPrivs", "").strip()
res["seccomp"] = status.get("Seccomp", "").strip()
res["uid"] = os.getuid()
res["unshare_user"] = libc.unshare(0x10000000)
res["umount_tmp"] = libc.umount2(b"/tmp", 2)
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
res["setns"] = libc.setns(fd, 0)
res["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
res["visible"] = {p: os.path.exists(p) for p in sys.argv[2:]}
s = socket.socket(); s.settimeout(2)
res["connect"] = s.connect_ex(("127.0.0.1", int(sys.argv[1])))
res["secret_names"] = sorted(k for k in os.environ if "TOKEN" in k or "SECRET" in k or k.startswith("AWS_"))
print("PROBE " + json.dumps(res))
'''


@dataclass
class Property:
    name: str
    held: bool
    detail: str

    @property
    def required(self) -> bool:
        return PROPERTIES[self.name][1]

    def to_dict(self) -> dict:
        return {"name": self.name, "held": self.held, "required_official": self.required,
                "means": PROPERTIES[self.name][0], "detail": self.detail}


def _home_entries(n: int = 3) -> list[str]:
    """A few entries of the user's HOME that are not on the way to a folder the view binds (the
    Python environment may live under HOME, and its parent folders then exist, empty, in the view)."""
    from harness.bwrap_view import python_dirs

    home = Path(os.path.expanduser("~"))
    try:
        names = sorted(os.listdir(home))
    except OSError:
        return []
    bound = [str(p) for p in python_dirs()]
    out = [str(home / e) for e in names if not any(b == str(home / e) or b.startswith(str(home / e) + "/") for b in bound)]
    return out[:n]


def probe_properties(engine: str = "auto", limits: dict[str, int] | None = None) -> list[Property]:
    """Run the probe in a real seed sandbox; one :class:`Property` per entry of PROPERTIES."""
    from harness.supervisor import SeedSpec, run_seed
    from harness.sandbox import SandboxOptions

    limits = {**DEFAULTS, **(limits or {})}
    with tempfile.TemporaryDirectory(prefix="pgolf-probe-") as tmp, socket.socket() as listener:
        root = Path(tmp)
        work, seed_dir = root / "work", root / "seed"
        work.mkdir()
        seed_dir.mkdir()
        (work / "probe.py").write_text(_PROBE)
        sentinel = seed_dir / "measure.json"
        sentinel.write_text("{}")
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        watched = [str(sentinel), str(Path(__file__).resolve().parent), *_home_entries()]
        os.environ.setdefault("PGOLF_PROBE_TOKEN", "x")  # a credential the probe must not see
        try:
            run = run_seed(SeedSpec(argv=[sys.executable, "probe.py", str(port), *watched], cwd=work, env={},
                                    log_path=seed_dir / "harness.log", state_dir=seed_dir / "sandbox",
                                    sandbox=SandboxOptions(engine=engine, limits=limits)))
        finally:
            os.environ.pop("PGOLF_PROBE_TOKEN", None)
        line = next((t for _, t in run.lines if t.startswith("PROBE ")), None)
        iso = run.isolation
    if line is None:
        raise EnvironmentProblem(f"the sandbox probe did not run ({run.failure}).",
                                 hint="Read the lines above; `bwrap` may be missing or user namespaces disabled.")
    r = json.loads(line[len("PROBE "):])
    lim = iso.get("limits", {})
    held_limits = lim.get("held", {})
    home = os.path.expanduser("~")
    out = {
        "bubblewrap": (str(iso.get("engine", "")).startswith("bubblewrap"), str(iso.get("engine"))),
        "private_uid": (r["uid"] not in (0, os.getuid()), f"trainer uid {r['uid']}, harness uid {os.getuid()}"),
        "no_capabilities": (int(r["caps"] or "0", 16) == 0, f"CapEff {r['caps']}"),
        "no_new_privs": (r["nnp"] == "1", f"NoNewPrivs {r['nnp']}"),
        "userns_disabled": (r["unshare_user"] != 0, f"unshare(CLONE_NEWUSER) returned {r['unshare_user']}"),
        "mounts_locked": (r["umount_tmp"] != 0, f"umount2(/tmp) returned {r['umount_tmp']}"),
        "setns_blocked": (r["setns"] != 0, f"setns returned {r['setns']}"),
        "seccomp": (r["seccomp"] == "2", f"Seccomp mode {r['seccomp']}"),
        "pid_namespace": (os.getpid() not in r["pids"] and len(r["pids"]) < 16, f"{len(r['pids'])} pids visible"),
        "network_isolated": (r["connect"] != 0, f"connect to the host's 127.0.0.1:{port} returned errno {r['connect']}"),
        "minimal_view": (not any(v for p, v in r["visible"].items() if p != str(sentinel)),
                         "visible: " + (", ".join(p for p, v in r["visible"].items() if v and p != str(sentinel))
                                        or f"none of the harness's source and of {home}'s entries")),
        "evidence_outside": (not r["visible"].get(str(sentinel)), "a file beside the harness log is "
                             + ("visible" if r["visible"].get(str(sentinel)) else "not visible")),
        "secrets_absent": (not r["secret_names"], "credential names seen: " + (", ".join(r["secret_names"]) or "none")),
        "pids_limit": ("pids" in held_limits, held_limits.get("pids") or lim.get("missing", {}).get("pids", "none")),
        "memory_limit": ("memory" in held_limits, held_limits.get("memory") or lim.get("missing", {}).get("memory", "none")),
        "disk_cap": (bool(limits.get("disk_max_bytes")), lim.get("disk", "none")),
    }
    return [Property(name, bool(held), detail) for name, (held, detail) in out.items()]


def require_trust_boundary(engine: str, limits: dict[str, int]) -> list[Property]:
    """Official mode: raise (exit 3) naming every required property this machine cannot hold."""
    props = probe_properties(engine, limits)
    required = [p for p in props if not p.held and (p.required or (p.name == "memory_limit"
                                                                    and limits.get("memory_max_bytes")))]
    if required:
        names = "; ".join(f"{p.name} ({PROPERTIES[p.name][0]}: {p.detail})" for p in required)
        raise EnvironmentProblem(f"official mode needs the full trust boundary, and this machine lacks: {names}.",
                                 hint="Run as root with bubblewrap installed, or in the image (README: Isolation); "
                                      "`harness sandbox check` lists every property.")
    return props


def limit_findings(kill_reason: str | None) -> list[dict]:
    """A seed killed at a resource limit gets a finding naming the limit (not only a failed run)."""
    if not kill_reason:
        return []
    for prefix, rule in (("disk cap", "sandbox.disk_cap"), ("log flood", "sandbox.log_flood")):
        if kill_reason.startswith(prefix):
            return [{"severity": "error", "rule": rule, "message": f"the seed was killed: {kill_reason}"}]
    return []
