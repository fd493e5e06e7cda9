"""What a seed sees under bubblewrap: the bwrap arguments for one seed's minimal view.

The trainer sees, each at its host path so that the paths the harness passes stay valid:

- the system directories and the Python environment(s), read-only;
- the dataset and tokenizer (and any other input the caller names), read-only;
- its own work directory, and its private HOME, /tmp and compile cache, read-write;
- a fresh /proc of its own PID namespace, a minimal /dev with the GPU device nodes added, a
  fresh /dev/shm, /sys read-only;
- a network namespace with loopback only (bwrap brings ``lo`` up).

Nothing else: not the user's HOME, not ``--out`` or the run folder (the harness's log, measure
and record live there), not other runs, not the harness's source or policies, no sockets. /etc
is a short list of the files programs need to start (loader cache, users, time zone), never the
whole directory.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

# /etc entries a trainer's programs need (dynamic loader, users and groups for getpwuid,
# time zone, hosts for "localhost", alternatives for Debian's /usr/bin symlinks, CA bundles).
ETC_ENTRIES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "passwd", "group",
               "nsswitch.conf", "host.conf", "alternatives", "ssl", "ca-certificates",
               "gai.conf", "mime.types", "os-release")
# Top-level system directories: bound read-only when they are directories, recreated as the
# same symlink when they are symlinks (merged-/usr systems).
SYSTEM_DIRS = ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32")
GPU_NODE_GLOBS = ("/dev/nvidia*", "/dev/nvidia-caps/*", "/dev/dri/*")


def python_dirs() -> list[Path]:
    """Directories of the running Python environment (prefixes and install paths)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix,
             *sysconfig.get_paths().values(), os.path.dirname(os.path.realpath(sys.executable))}
    return _outermost(Path(p) for p in paths if p and os.path.isdir(p))


def _outermost(paths) -> list[Path]:
    """Drop paths nested inside another of the list (binding the outer one brings them along)."""
    real = sorted({Path(os.path.realpath(p)) for p in paths})
    return [p for p in real if not any(o != p and o in p.parents for o in real)]


def gpu_device_nodes() -> list[str]:
    return sorted({p for g in GPU_NODE_GLOBS for p in glob.glob(g) if not os.path.isdir(p)})


@dataclass
class View:
    """The inputs of one seed's view; :meth:`argv` turns them into bwrap arguments."""

    work: Path                                   # read-write, the trainer's cwd
    home: Path                                   # read-write, private HOME
    tmp: Path                                    # read-write, bound over /tmp
    read_only: list[Path] = field(default_factory=list)   # data, tokenizer, shims, extra python paths
    read_write: list[Path] = field(default_factory=list)  # a shared compile cache
    isolate_network: bool = True
    shm_bytes: int | None = None                 # size of the private /dev/shm (None: tmpfs default)
    uid: int | None = None                       # uid/gid inside the sandbox (None: bwrap's default)
    gid: int | None = None
    seccomp_fd: int | None = None

    def binds(self) -> tuple[list[Path], list[Path]]:
        """(read-only, read-write) host paths the view binds, nested ones folded into outer ones."""
        rw = _outermost([self.work, self.home, self.tmp, *self.read_write])
        ro = [p for p in _outermost([*python_dirs(), *self.read_only])
              if p.exists() and not any(p == w or w in p.parents for w in rw)]
        return ro, rw

    def argv(self, env: dict[str, str]) -> list[str]:
        a = ["bwrap", "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if self.isolate_network:
            a.append("--unshare-net")
        if self.uid is not None:
            a += ["--uid", str(self.uid), "--gid", str(self.gid if self.gid is not None else self.uid)]
        for d in SYSTEM_DIRS:
            host = Path("/") / d
            if host.is_symlink():
                a += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                a += ["--ro-bind", str(host), str(host)]
        for e in ETC_ENTRIES:
            if os.path.lexists(f"/etc/{e}"):
                a += ["--ro-bind-try", f"/etc/{e}", f"/etc/{e}"]
        a += ["--proc", "/proc", "--dev", "/dev", "--ro-bind-try", "/sys", "/sys"]
        if self.shm_bytes:
            a += ["--size", str(self.shm_bytes)]
        a += ["--tmpfs", "/dev/shm"]
        for node in gpu_device_nodes():
            a += ["--dev-bind", node, node]
        # /tmp first: the binds after it may live under the host's /tmp and must stay visible.
        a += ["--bind", str(self.tmp), "/tmp"]
        ro, rw = self.binds()
        for p in ro:
            a += ["--ro-bind", str(p), str(p)]
        for p in rw:
            a += ["--bind", str(p), str(p)]
        a += ["--chdir", str(self.work), "--clearenv"]
        for k, v in sorted(env.items()):
            a += ["--setenv", k, v]
        if self.seccomp_fd is not None:
            a += ["--seccomp", str(self.seccomp_fd)]
        return a + ["--"]

    def describe(self) -> dict:
        ro, rw = self.binds()
        return {"read_only": [str(p) for p in ro], "read_write": [str(p) for p in rw],
                "system": [d for d in SYSTEM_DIRS if os.path.lexists(f"/{d}")],
                "etc": [e for e in ETC_ENTRIES if os.path.lexists(f"/etc/{e}")],
                "gpu_nodes": gpu_device_nodes(), "network": "loopback only" if self.isolate_network else "host"}


def bwrap_path() -> str | None:
    return shutil.which("bwrap")
