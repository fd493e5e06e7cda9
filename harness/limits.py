"""Resource limits of one seed: processes, memory, disk, from the run policy's ``[sandbox]`` table.

- **pids** and **memory**: a cgroup of the seed's own, in the unified (v2) hierarchy when its
  controllers can be enabled there, else in the v1 ``pids`` / ``memory`` hierarchies (hybrid hosts
  such as this project's CI machine). Where no writable cgroup offers a controller the pids limit
  falls back to RLIMIT_NPROC of the sandbox uid, and the memory limit is reported missing.
- **disk**: the bytes the seed's writable folders hold (work directory, private /tmp and HOME,
  its compile cache), polled by the supervisor; crossing the cap kills the seed with a clear
  reason instead of filling the machine's disk.

Each limit says how it was held (``cgroup v2``, ``cgroup v1``, ``rlimit``, ``polled``) or why not;
the record carries that beside the isolation.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Used when a policy has no [sandbox] table (older or custom policies).
# seccomp: 1 loads harness.seccomp's filter (a second wall behind bubblewrap's), 0 leaves it out.
DEFAULTS = {"pids_max": 4096, "memory_max_bytes": 0, "disk_max_bytes": 64 * 2**30, "shm_max_bytes": 0, "seccomp": 1}
CGROUP_ROOT = Path("/sys/fs/cgroup")


def limits_from_policy(policy: Any) -> dict[str, int]:
    """The ``[sandbox]`` limits of a loaded policy (0 = no limit), defaults for missing keys."""
    table = (getattr(policy, "sections", None) or {}).get("sandbox", {}) if policy is not None else {}
    out = dict(DEFAULTS)
    for k in DEFAULTS:
        if k in table:
            out[k] = int(table[k])
    return out


def _own_paths() -> dict[str, str]:
    """hierarchy -> this process's cgroup path in it ("" for v2)."""
    out = {}
    try:
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, ctrls, path = line.split(":", 2)
            for c in (ctrls.split(",") if ctrls else [""]):
                out[c] = path.lstrip("/")
    except (OSError, ValueError):
        pass
    return out


def _v2_root() -> Path | None:
    for cand in (CGROUP_ROOT, CGROUP_ROOT / "unified"):
        if (cand / "cgroup.procs").exists() and (cand / "cgroup.controllers").exists():
            return cand
    return None


@dataclass
class SeedCgroups:
    """The seed's cgroups: the directories its launcher joins and how each limit is held."""

    dirs: list[Path] = field(default_factory=list)
    kill_dir: Path | None = None       # a v2 cgroup with cgroup.kill, when one was made
    held: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)

    def remove(self) -> None:
        for d in self.dirs:
            try:
                d.rmdir()
            except OSError:
                pass


def _mkdir(parent: Path, name: str) -> Path | None:
    d = parent / name
    try:
        d.mkdir()
        return d
    except OSError:
        return None


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def make_cgroups(seed_id: str, limits: dict[str, int], want_kill: bool = True) -> SeedCgroups:
    """Create the seed's cgroups and write its limits; record what could be held."""
    cg = SeedCgroups()
    name = f"pgolf-seed-{seed_id}-{uuid.uuid4().hex[:4]}"
    own = _own_paths()
    v2 = _v2_root()
    v2_dir = None
    if v2 is not None and want_kill:
        v2_dir = _mkdir(v2 / own.get("", ""), name)
        if v2_dir is not None:
            cg.dirs.append(v2_dir)
            if (v2_dir / "cgroup.kill").exists():
                cg.kill_dir = v2_dir
    wanted = {"pids": ("pids.max", limits["pids_max"]), "memory": ("memory.max", limits["memory_max_bytes"])}
    for ctrl, (v2_file, value) in wanted.items():
        if not value:
            cg.missing[ctrl] = "no limit set by the policy"
            continue
        if v2_dir is not None and _write(v2_dir / v2_file, str(value)):
            cg.held[ctrl] = f"cgroup v2 ({value})"
            continue
        v1_parent = CGROUP_ROOT / ctrl / own.get(ctrl, "")
        v1_file = "pids.max" if ctrl == "pids" else "memory.limit_in_bytes"
        d = _mkdir(v1_parent, name) if (CGROUP_ROOT / ctrl / "cgroup.procs").exists() else None
        if d is not None and _write(d / v1_file, str(value)):
            cg.dirs.append(d)
            cg.held[ctrl] = f"cgroup v1 ({value})"
            if ctrl == "memory":
                _write(d / "memory.memsw.limit_in_bytes", str(value))  # no escape into swap, where offered
        else:
            if d is not None:
                d.rmdir()
            cg.missing[ctrl] = f"no writable cgroup offers the {ctrl} controller here"
    return cg


def nproc_rlimit(limit: int, uid_is_private: bool) -> int:
    """RLIMIT_NPROC standing in for a pids cgroup. It counts every process of the uid: a private
    sandbox uid has only the seed's, a shared one also the user's others, which are added."""
    if uid_is_private:
        return limit
    mine = 0
    me = os.getuid()
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == me:
                    mine += 1
            except OSError:
                continue
    return limit + mine


def disk_usage(paths: list[Path]) -> int:
    """Bytes allocated under ``paths`` (st_blocks, no symlinks followed, each inode once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    stack = [str(p) for p in paths]
    while stack:
        top = stack.pop()
        try:
            it = os.scandir(top)
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                total += st.st_blocks * 512
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
    return total
