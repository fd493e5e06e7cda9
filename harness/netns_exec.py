"""Seed launcher: enter the seed's namespaces, set up its private view, then run the trainer.

Run as ``python -I harness/netns_exec.py [options] -- argv...`` by :mod:`harness.sandbox`.
It imports only the standard library (it runs with the trainer's minimal environment, where
``harness`` may not be importable) and does, in order:

0. arm PR_SET_PDEATHSIG (``--parent-pid``) so the seed dies if the harness dies;
1. join the seed's cgroup v2 (``--cgroup DIR``) so that ``cgroup.kill`` reaches everything
   it will ever start;
2. ``unshare(2)`` the requested namespaces (via ctypes: ``os.unshare`` only exists from
   Python 3.12); without root, inside a new user namespace where we map to uid 0
   (``--userns``), which most distributions allow unprivileged users;
3. in a new network namespace, bring ``lo`` up with the SIOCGIFFLAGS/SIOCSIFFLAGS ioctl
   (a fresh namespace has loopback down and the host often has no ``ip`` binary; torchrun's
   rendezvous and NCCL/gloo need 127.0.0.1);
4. in a new mount namespace, bind a fresh per-seed directory over ``/tmp`` (paths under
   the old ``/tmp`` that the trainer needs are bound back at the same place), mount a fresh
   tmpfs on ``/dev/shm``, and hide the harness's own files (its log) from the trainer;
5. in a new PID namespace, fork a small init (pid 1) that forks the trainer, reaps every
   orphan, forwards SIGTERM/SIGINT and, when the trainer exits, exits too, which makes the
   kernel kill every process left in the namespace. The init dies with this launcher
   (PR_SET_PDEATHSIG), so SIGKILL to this launcher tears the whole seed down. The trainer's
   wait status comes back through a pipe and this launcher re-creates it (same exit code,
   or death by the same signal), so the supervisor sees what the trainer did.

``--probe`` prints, as JSON, which of these the machine allows (used by
``harness.sandbox.detect_isolation``).
"""

from __future__ import annotations

import argparse
import ctypes
import ctypes.util
import fcntl
import json
import os
import resource
import signal
import socket
import struct
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18

PR_SET_PDEATHSIG = 1
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def check_libc_call(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    check_libc_call(libc.unshare(ctypes.c_int(flags)), f"unshare(0x{flags:x})")


def unshare_as_root(flags: int) -> None:
    """unshare(flags) inside a new user namespace where we are root (uid/gid 0 mapped to
    our own ids): how an unprivileged user gets PID/network/mount namespaces."""
    uid, gid = os.geteuid(), os.getegid()
    unshare(flags | CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


def _unshare(flags: int, userns: bool) -> None:
    (unshare_as_root if userns else unshare)(flags)


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def b(s: str | None):
        return None if s is None else os.fsencode(s)

    ret = libc.mount(b(source), b(target), b(fstype), ctypes.c_ulong(flags), b(data))
    check_libc_call(ret, f"mount({source!r} -> {target!r}, {fstype!r})")


def loopback_up(name: str = "lo") -> None:
    """Set IFF_UP on `name` in the current network namespace (no `ip` binary needed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sH14s", name.encode(), 0, b"")
        res = fcntl.ioctl(s.fileno(), SIOCGIFFLAGS, req)
        flags = struct.unpack("16sH", res[:18])[1]
        if not flags & IFF_UP:
            fcntl.ioctl(s.fileno(), SIOCSIFFLAGS, struct.pack("16sH14s", name.encode(), flags | IFF_UP, b""))


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def setup_mounts(private_tmp: str | None, private_shm: bool, keep: list[str], hide: list[str], empty_file: str | None) -> None:
    """Private /tmp and /dev/shm, harness files hidden. Runs inside a fresh mount namespace."""
    # Our mounts must not leak back to the host (systemd hosts mount / shared).
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    if private_tmp:
        # Hold the directories we must keep (cwd, data, the venv ...) by fd before /tmp is
        # covered; /proc/self/fd/N still names them afterwards, so they can be bound back.
        keep_real = sorted({os.path.realpath(k) for k in keep if os.path.exists(k)})
        held = [(k, os.open(k, os.O_PATH)) for k in keep_real if _under(k, "/tmp")]
        # Drop keeps nested in other keeps: binding the outer one brings them along.
        held = [(k, fd) for k, fd in held if not any(o != k and _under(k, o) for o, _ in held)]
        src = os.open(private_tmp, os.O_PATH)
        mount(f"/proc/self/fd/{src}", "/tmp", None, MS_BIND)
        os.close(src)
        for k, fd in held:
            if os.path.isdir(f"/proc/self/fd/{fd}"):
                os.makedirs(k, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(k), exist_ok=True)
                open(k, "a").close()
            mount(f"/proc/self/fd/{fd}", k, None, MS_BIND | MS_REC)
            os.close(fd)
    if private_shm and os.path.isdir("/dev/shm"):
        mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    for h in hide:
        if not os.path.lexists(h):
            continue
        if os.path.isdir(h):
            mount("tmpfs", h, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=0555")
        elif empty_file:
            # An empty, read-only file in place of the harness log: nothing to read, no write.
            mount(empty_file, h, None, MS_BIND)
            mount(None, h, None, MS_BIND | MS_REMOUNT | MS_RDONLY | _locked_flags(h))


def _locked_flags(path: str) -> int:
    """Mount flags a remount must keep (inside a user namespace they are locked)."""
    st = os.statvfs(path).f_flag
    pairs = ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
             (os.ST_NOATIME, 1024), (os.ST_NODIRATIME, 2048), (os.ST_RELATIME, 1 << 21))
    return sum(ms for st_flag, ms in pairs if st & st_flag)


def _reraise_status(status: int) -> None:
    """Exit the way the trainer did: same code, or killed by the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # unreachable unless the signal is ignored
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def forward_signals_to(pid: int) -> None:
    """Pass SIGTERM and SIGINT on to ``pid`` (gone already: nothing to stop)."""

    def forward(sig, _frame):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)


def _init_main(argv: list[str], status_w: int, lifeline_r: int, mount_proc: bool) -> None:
    """PID 1 of the seed's namespace: fork the trainer, reap orphans, report its status."""
    check_libc_call(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
    # getppid() is 0 across a PID namespace, so the launcher's liveness is read from a pipe
    # only it holds open: EOF means it died before PDEATHSIG was armed.
    import select

    if select.select([lifeline_r], [], [], 0)[0]:
        os._exit(137)
    os.close(lifeline_r)
    if mount_proc:
        mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    trainer = os.fork()
    if trainer == 0:
        os.close(status_w)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"harness launcher: cannot run {argv[0]!r}: {exc}\n")
            os._exit(127)

    forward_signals_to(trainer)
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(1)
        except InterruptedError:
            continue
        if pid == trainer:
            os.write(status_w, f"{status}\n".encode())
            os.close(status_w)
            # Exiting pid 1 makes the kernel SIGKILL everything left in the namespace.
            os._exit(0)


def run(args: argparse.Namespace) -> None:
    argv = args.argv
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.stderr.write("harness launcher: no command given\n")
        os._exit(2)
    if args.parent_pid:
        # If the harness itself dies (crash, SIGKILL), the seed must not live on holding
        # GPUs: die with it (and through the init's own PDEATHSIG, the whole namespace).
        check_libc_call(libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
        if os.getppid() != args.parent_pid:
            os._exit(137)
    if args.cgroup:
        with open(os.path.join(args.cgroup, "cgroup.procs"), "w") as f:
            f.write("0")
    flags = 0
    mount_ns = bool(args.private_tmp or args.private_shm or args.hide or args.pidns)
    if mount_ns:
        flags |= CLONE_NEWNS
    if args.netns:
        flags |= CLONE_NEWNET
    if args.pidns:
        flags |= CLONE_NEWPID
    if flags:
        _unshare(flags, args.userns)
    if args.netns:
        loopback_up("lo")
    if mount_ns:
        setup_mounts(args.private_tmp, args.private_shm, args.keep, args.hide, args.empty_file)
    if not args.pidns:
        try:
            os.execvp(argv[0], argv)
        except OSError as exc:
            sys.stderr.write(f"harness launcher: cannot run {argv[0]!r}: {exc}\n")
            os._exit(127)
    status_r, status_w = os.pipe()
    lifeline_r, lifeline_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(status_r)
        os.close(lifeline_w)
        try:
            _init_main(argv, status_w, lifeline_r, mount_proc=mount_ns)
        except BaseException as exc:  # noqa: BLE001 - the init must never return
            sys.stderr.write(f"harness launcher: seed init failed: {exc}\n")
        os._exit(1)
    os.close(status_w)
    os.close(lifeline_r)

    forward_signals_to(child)
    data = b""
    while True:
        try:
            chunk = os.read(status_r, 64)
        except InterruptedError:
            continue
        if not chunk:
            break
        data += chunk
    while True:
        try:
            os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break
    if not data.strip():
        sys.stderr.write("harness launcher: the seed's init died without a status\n")
        os._exit(125)
    _reraise_status(int(data.strip()))


def _probe_one(fn) -> dict:
    """Run fn() in a forked child; report ok or the error text."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            fn()
            msg = "ok"
        except BaseException as exc:  # noqa: BLE001 - reported, not raised
            msg = f"{type(exc).__name__}: {exc}"
        os.write(w, msg.encode()[:4000])
        os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 4096):
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    return {"ok": text == "ok", "detail": "" if text == "ok" else text}


_PROBE_USERNS = os.geteuid() != 0


def _probe_user() -> None:
    unshare_as_root(0)
    if os.geteuid() != 0:
        raise OSError("uid 0 not mapped in the new user namespace")


def _probe_pid() -> None:
    _unshare(CLONE_NEWPID | CLONE_NEWNS, _PROBE_USERNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    pid = os.fork()
    if pid == 0:
        try:
            mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            os._exit(0 if os.getpid() == 1 else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise OSError(f"child in new PID namespace failed (status {status})")


def _probe_net() -> None:
    _unshare(CLONE_NEWNET, _PROBE_USERNS)
    loopback_up("lo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        c = socket.create_connection(s.getsockname(), timeout=2)
        c.close()


def _probe_mount() -> None:
    _unshare(CLONE_NEWNS, _PROBE_USERNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=1m")
    if os.listdir("/tmp"):
        raise OSError("fresh tmpfs on /tmp is not empty")


def probe() -> dict:
    return {"user_namespace": _probe_one(_probe_user), "namespaces_via_user_namespace": _PROBE_USERNS,
            "pid_namespace": _probe_one(_probe_pid), "net_namespace": _probe_one(_probe_net),
            "mount_namespace": _probe_one(_probe_mount)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="netns_exec", description=__doc__.split("\n")[0])
    p.add_argument("--probe", action="store_true", help="print which namespaces work, as JSON")
    p.add_argument("--cgroup", help="cgroup v2 directory to join first")
    p.add_argument("--parent-pid", type=int, help="die (SIGKILL) when this parent process dies")
    p.add_argument("--userns", action="store_true",
                   help="create the namespaces inside a new user namespace (unprivileged users)")
    p.add_argument("--pidns", action="store_true")
    p.add_argument("--netns", action="store_true")
    p.add_argument("--private-tmp", help="directory to bind over /tmp")
    p.add_argument("--private-shm", action="store_true", help="fresh tmpfs on /dev/shm")
    p.add_argument("--keep", action="append", default=[], help="path under /tmp to keep visible")
    p.add_argument("--hide", action="append", default=[], help="path to hide from the trainer")
    p.add_argument("--empty-file", help="empty read-only file used to hide files")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if args.probe:
        print(json.dumps(probe()))
        return
    run(args)


if __name__ == "__main__":
    main()
