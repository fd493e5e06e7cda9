"""First stage of a bubblewrap seed: the steps that need the harness's own privileges, then bwrap.

Run as ``python -I harness/sandbox_enter.py [options] -- bwrap ARGS... -- TRAINER...`` by
:mod:`harness.sandbox`. Standard library only (it runs before anything of the trainer's).
In order:

1. arm PR_SET_PDEATHSIG (``--parent-pid``): the seed dies with the harness;
2. join the seed's cgroups (``--cgroup DIR``, once per hierarchy: v2, v1 pids, v1 memory), so
   that kills and limits reach everything the trainer ever starts;
3. as root with ``--uid``: in a private mount namespace, bind every source that bwrap will
   bind into a world-traversable stage (``--stage DIR``), because the unprivileged uid that
   bwrap runs as cannot walk paths such as ``/root/.pyenv`` (mode 0700); bwrap's arguments are
   rewritten to the staged paths. Mounts made here belong to the initial user namespace, so
   inside the sandbox's own user namespace they are locked;
4. set resource limits (``--rlimit NAME=VALUE``: NPROC is the pids limit where no pids cgroup
   can be had; CORE=0 always);
5. drop to the sandbox uid/gid with no supplementary groups (root only), set no_new_privs,
   re-arm PDEATHSIG (a credential change clears it) and exec bwrap, which builds the view in a
   user namespace where the trainer holds no capability.

A failure before exec exits 126 with one line on stderr naming the step.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns_exec as ns  # noqa: E402  (stdlib-only sibling: the mount/unshare helpers)

PR_SET_DUMPABLE = 4
PR_SET_NO_NEW_PRIVS = 38
# bwrap options whose first operand is a host path to bind.
BIND_OPTS = ("--bind", "--ro-bind", "--dev-bind", "--bind-try", "--ro-bind-try", "--dev-bind-try")
RLIMITS = {"NPROC": resource.RLIMIT_NPROC, "CORE": resource.RLIMIT_CORE, "NOFILE": resource.RLIMIT_NOFILE}


def _fail(step: str, exc: BaseException) -> None:
    sys.stderr.write(f"harness sandbox: {step} failed: {exc}\n")
    os._exit(126)


def _pdeathsig(parent: int | None) -> None:
    if parent:
        ns.check_libc_call(ns.libc.prctl(ns.PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0), "prctl(PDEATHSIG)")
        if os.getppid() != parent:
            os._exit(137)


def reachable_by_others(path: str) -> bool:
    """True when every folder above ``path`` lets any uid through (o+x): the sandbox uid can then
    reach it without staging."""
    parts = os.path.abspath(path).split("/")[1:-1]
    cur = "/"
    for part in parts:
        cur = os.path.join(cur, part)
        try:
            if not os.stat(cur).st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


def stage_binds(bwrap_args: list[str], stage: str) -> list[str]:
    """Bind each bind source the sandbox uid cannot reach under ``stage`` (a private tmpfs) and
    return the rewritten arguments. Where every source is reachable (the image; most hosts) no
    mount namespace is needed, which a container without CAP_SYS_ADMIN could not make."""
    sources = [bwrap_args[i + 1] for i in range(len(bwrap_args) - 2) if bwrap_args[i] in BIND_OPTS]
    if all(reachable_by_others(src) for src in sources if os.path.lexists(src)):
        return list(bwrap_args)
    ns.unshare(ns.CLONE_NEWNS)
    ns.mount(None, "/", None, ns.MS_REC | ns.MS_PRIVATE)
    ns.mount("tmpfs", stage, "tmpfs", ns.MS_NOSUID | ns.MS_NODEV, "mode=0755")
    out = list(bwrap_args)
    n = 0
    i = 0
    while i < len(out):
        if out[i] in BIND_OPTS and i + 2 < len(out):
            src = out[i + 1]
            if os.path.lexists(src) and not reachable_by_others(src):
                target = os.path.join(stage, str(n))
                n += 1
                if stat.S_ISDIR(os.stat(src).st_mode):
                    os.mkdir(target)
                else:
                    open(target, "w").close()
                ns.mount(src, target, None, ns.MS_BIND | ns.MS_REC)
                out[i + 1] = target
            i += 3
            continue
        i += 1
    return out


def drop_privileges(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid or os.getgid() != gid:
        raise OSError("the uid/gid did not change")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="sandbox_enter", description=__doc__.split("\n")[0])
    p.add_argument("--parent-pid", type=int)
    p.add_argument("--cgroup", action="append", default=[], help="cgroup directory to join (repeatable)")
    p.add_argument("--uid", type=int, help="unprivileged uid to run bwrap as (root only)")
    p.add_argument("--gid", type=int)
    p.add_argument("--stage", help="empty directory for the staged bind sources (root only)")
    p.add_argument("--rlimit", action="append", default=[], help="NAME=VALUE, NAME in NPROC, CORE, NOFILE")
    p.add_argument("argv", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    cmd = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not cmd:
        sys.stderr.write("harness sandbox: no command given\n")
        os._exit(2)
    try:
        _pdeathsig(args.parent_pid)
    except OSError as exc:
        _fail("arming the parent-death signal", exc)
    for cg in args.cgroup:
        try:
            with open(os.path.join(cg, "cgroup.procs"), "w") as f:
                f.write("0")
        except OSError as exc:
            _fail(f"joining the cgroup {cg}", exc)
    if args.stage:
        try:
            cmd = stage_binds(cmd, args.stage)
        except OSError as exc:
            _fail("staging the bind sources", exc)
    for item in args.rlimit + ["CORE=0"]:
        name, _, value = item.partition("=")
        try:
            resource.setrlimit(RLIMITS[name], (int(value), int(value)))
        except (KeyError, ValueError, OSError) as exc:
            _fail(f"setting the limit {item}", exc)
    if args.uid is not None:
        try:
            drop_privileges(args.uid, args.gid if args.gid is not None else args.uid)
            # A credential change clears PDEATHSIG and makes the process non-dumpable (bwrap must
            # read its own /proc entries): set both again.
            ns.check_libc_call(ns.libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "prctl(DUMPABLE)")
            _pdeathsig(args.parent_pid)
        except OSError as exc:
            _fail(f"dropping to uid {args.uid}", exc)
    try:
        ns.check_libc_call(ns.libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    except OSError as exc:
        _fail("setting no_new_privs", exc)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as exc:
        _fail(f"running {cmd[0]!r}", exc)


if __name__ == "__main__":
    main()
