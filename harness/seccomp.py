"""A second wall for the seed: a seccomp filter that denies the calls a trainer never needs.

bubblewrap already leaves the trainer without capabilities, with user namespaces disabled and
with its mounts built in a namespace it does not own; this filter makes the calls that would
matter if one of those walls had a hole fail with EPERM before the kernel looks at them:
mount and its new-API siblings, pivot_root, setns, unshare, ptrace and process_vm_*, bpf,
the keyring calls, and module or kexec loading. bwrap loads it (``--seccomp FD``) just before it
executes the trainer.

The program is classic BPF (``struct sock_filter``): check the architecture (any other ABI,
such as 32-bit calls through ``int 0x80`` or x32, is denied outright, since their call numbers
differ), then compare the call number with each denied one. Written out here because the
library that compiles such filters (libseccomp) has no binding for the Python the harness runs on.
"""

from __future__ import annotations

import errno
import os
import platform
import struct

# Denied calls by architecture: (AUDIT_ARCH, {name: number}).
_DENY = {
    "x86_64": (0xC000003E, {
        "ptrace": 101, "mount": 165, "umount2": 166, "pivot_root": 155, "setns": 308, "unshare": 272,
        "bpf": 321, "keyctl": 250, "add_key": 248, "request_key": 249, "kexec_load": 246,
        "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176,
        "open_by_handle_at": 304, "process_vm_readv": 310, "process_vm_writev": 311,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442,
    }),
    # The same calls with aarch64's numbers: a per-architecture table, alike by design.
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "mount": 40, "umount2": 39, "pivot_root": 41, "setns": 268, "unshare": 97,
        "bpf": 280, "keyctl": 219, "add_key": 217, "request_key": 218, "kexec_load": 104,
        "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106,
        "open_by_handle_at": 265, "process_vm_readv": 270, "process_vm_writev": 271,
        "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442,
    }),
}
_X32_BIT = 0x40000000

# BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LD_W_ABS = 0x20
_JEQ_K = 0x15
_JGE_K = 0x35
_RET_K = 0x06
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_OFF_NR, _OFF_ARCH = 0, 4


def denied_calls(machine: str | None = None) -> list[str]:
    """The names of the calls the filter denies on this (or the given) architecture."""
    return sorted(_DENY[machine or platform.machine()][1])


def supported(machine: str | None = None) -> bool:
    return (machine or platform.machine()) in _DENY


def program(machine: str | None = None) -> bytes:
    """The filter as bytes of ``struct sock_filter`` (what bwrap's ``--seccomp`` reads)."""
    arch, calls = _DENY[machine or platform.machine()]
    deny = _RET_ERRNO | errno.EPERM

    def ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
        return struct.pack("<HBBI", code, jt, jf, k)

    checks = [(_JGE_K, _X32_BIT)] if arch == 0xC000003E else []
    checks += [(_JEQ_K, nr) for nr in sorted(calls.values())]
    n = len(checks)
    out = [ins(_LD_W_ABS, _OFF_ARCH), ins(_JEQ_K, arch, jt=1), ins(_RET_K, deny), ins(_LD_W_ABS, _OFF_NR)]
    # Check i jumps over the checks after it and the ALLOW return, onto the DENY return.
    out += [ins(code, k, jt=n - i) for i, (code, k) in enumerate(checks)]
    out += [ins(_RET_K, _RET_ALLOW), ins(_RET_K, deny)]
    return b"".join(out)


def program_fd(machine: str | None = None) -> int:
    """An inheritable memfd holding :func:`program`, positioned at 0, for ``bwrap --seccomp FD``."""
    fd = os.memfd_create("pgolf-seccomp", 0)
    os.write(fd, program(machine))
    os.lseek(fd, 0, os.SEEK_SET)
    os.set_inheritable(fd, True)
    return fd
