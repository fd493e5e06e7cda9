"""Processes on this machine as the sandbox sees them: /proc environment scans and GPU users.

The sandbox marks every process of a seed with an environment variable; these scans find them
(and other harness seeds sharing the machine), and the GPU queries tell whether a killed seed
still holds device memory.
"""

from __future__ import annotations

import os
import shutil
import subprocess

# Every process of a seed carries this variable (value: the seed id) in its environment.
MARKER_VAR = "PGOLF_SEED_ID"

def env_values(name: str) -> dict[int, str]:
    """``{pid: value}`` of ``name`` for every readable process other than this one."""
    needle = name.encode() + b"="
    found: dict[int, str] = {}
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        for item in environ.split(b"\0"):
            if item.startswith(needle):
                found[int(entry.name)] = item[len(needle):].decode(errors="replace")
                break
    return found



def pids_with_env(name: str, value: str) -> list[int]:
    """Processes (other than this one) whose environment holds ``name=value`` exactly."""
    return pids_holding(env_values(name), value)



def pids_holding(values: dict[int, str], value: str) -> list[int]:
    """The pids of an :func:`env_values` scan whose value is ``value``."""
    return sorted(pid for pid, v in values.items() if v == value)



def other_ids(markers: dict[int, str], own: str) -> set[str]:
    """The live marker ids in a ``{pid: marker}`` scan other than ``own``."""
    return {v for pid, v in markers.items() if v and v != own and alive(pid)}



def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except (OSError, IndexError):
        return False



def gpu_memory_used() -> list[int] | None:
    """memory.used (MiB) per GPU; None without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return [int(x) for x in out.split() if x.strip().isdigit()]



def gpu_pids() -> dict[int, int] | None:
    """pid -> used MiB of every compute process nvidia-smi lists; None without nvidia-smi."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True,
                             timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    res = {}
    for line in out.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            res[int(parts[0])] = int(parts[1]) if parts[1].isdigit() else 0
    return res
