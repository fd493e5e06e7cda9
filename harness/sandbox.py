"""Per-seed containment: what the trainer can see, reach and leave behind.

Why this module exists: torchrun starts each rank in its own session, so killing the
launcher's process group leaves ranks alive holding GPU memory (seen on the lent H100:
9.4 GB held by a reparented rank). A seed is therefore killed as a whole:

1. through its own cgroup v2 (``cgroup.kill``) where the cgroup2 tree is writable;
2. else through a PID namespace: the seed's init (pid 1) dies with our launcher
   (PR_SET_PDEATHSIG), and the kernel kills everything left in a namespace whose init died;
3. ``killpg`` plus a /proc scan for the seed's marker variable only as the last fallback.

After every kill (and after every normal exit) the sandbox checks that no process of the
seed survives and, where ``nvidia-smi`` exists, that none of its processes still holds GPU
memory; whatever survives is reported as an orphan.

The seed also gets: a fresh network namespace with ``lo`` up (no route to anything, not
even the host's 127.0.0.1), a private ``/tmp`` (a fresh per-seed directory bound over it, so a
reused RUN_ID never finds a killed seed's rank-coordination files) and ``/dev/shm``, a fresh
HOME, per-seed Inductor/Triton caches (or a shared warm one, recorded), the harness's log
hidden by an empty read-only file, and an environment built from a small allow-list with
secrets dropped. The launcher that sets this up is :mod:`harness.netns_exec`.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.errors import EnvironmentProblem
from harness.sandbox_bwrap import cleanup as bwrap_cleanup
from harness.sandbox_bwrap import launch_bwrap
from harness.sandbox_detect import detect_isolation
from harness.sandbox_fallback import launch_fallback
from harness.bwrap_view import bwrap_path
from harness.procs import MARKER_VAR, alive, env_values, gpu_memory_used, gpu_pids, other_ids, pids_holding, pids_with_env


# Host variables a trainer may inherit; everything else is dropped (then secrets are
# filtered again, in case an allowed pattern or the caller's env carries one).
ENV_ALLOW = (
    "PATH", "LANG", "LANGUAGE", "TZ", "TERM", "USER", "LOGNAME", "SHELL",
    "LD_LIBRARY_PATH", "LIBRARY_PATH", "CPATH", "CUDA_HOME", "CUDA_PATH", "CUDA_VISIBLE_DEVICES",
    "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES", "NVIDIA_DRIVER_CAPABILITIES",
    "VIRTUAL_ENV", "CONDA_PREFIX", "CONDA_DEFAULT_ENV", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
    "TORCH_CUDA_ARCH_LIST", "TRITON_PTXAS_PATH",
)
# Node-level communication/runtime settings a machine may require (multi-GPU hosts that must keep
# NVLink multicast off set NCCL_NVLS_ENABLE, TORCH_SYMM_MEM_DISABLE_MULTICAST, NVSHMEM_DISABLE_NVLS);
# secrets are still filtered out of these by name.
ENV_ALLOW_PREFIX = ("LC_", "NCCL_", "NVSHMEM_", "TORCH_SYMM_MEM_")

_SECRET_WORDS = {"TOKEN", "SECRET", "SECRETS", "KEY", "KEYS", "APIKEY", "PASSWORD", "PASSWD",
                 "CREDENTIAL", "CREDENTIALS", "AUTH", "COOKIE"}
_SECRET_PREFIX = ("AWS_", "AZURE_", "GCP_", "GOOGLE_", "GH_", "GITHUB_", "GITLAB_", "HF_TOKEN",
                  "HUGGING_FACE_HUB_TOKEN", "WANDB_", "NETRC", "SSH_", "DOCKER_", "KUBE")
_SECRET_SUFFIX = ("TOKEN", "SECRET", "KEY", "PASSWORD", "PASSWD", "CREDENTIALS")

# NCCL's collective timeout is an argument of init_process_group (not settable from the
# environment); these make a stuck communicator abort the process instead of hanging
# forever, and the harness's own silence watchdog covers the rest.
NCCL_ENV = {
    "TORCH_NCCL_ASYNC_ERROR_HANDLING": "3",   # tear the process down on a NCCL error/timeout
    "TORCH_NCCL_ENABLE_MONITORING": "1",      # abort when the NCCL watchdog itself is stuck
    "TORCH_NCCL_HEARTBEAT_TIMEOUT_SEC": "600",
    "TORCH_NCCL_DUMP_ON_TIMEOUT": "0",
}


def is_secret_name(name: str) -> bool:
    """True for names that look like credentials (HF_TOKEN, AWS_*, *_SECRET, *KEY ...).

    Matching is by underscore-separated word, so TOKENIZER_PATH or TRAIN_BATCH_TOKENS are kept.
    """
    up = name.upper()
    if up.startswith(_SECRET_PREFIX) or up.endswith(_SECRET_SUFFIX):
        return True
    return any(w in _SECRET_WORDS for w in re.split(r"[^A-Z0-9]+", up))


# Whole families that `harness reproduce` removes from its OWN environment at start: it needs no
# network and no token, so nothing a trainer might reach holds one.
SCRUB_PREFIXES = ("HF_", "HUGGING_FACE_", "AWS_", "GITHUB_", "GH_", "GITLAB_", "AZURE_", "GOOGLE_", "GCP_",
                  "WANDB_", "KAGGLE_", "OPENAI_", "ANTHROPIC_", "SSH_", "DOCKER_", "KUBE")


def visible_env(extra: dict[str, str], host: dict[str, str] | None = None,
                passthrough: tuple[str, ...] = ()) -> dict[str, str]:
    """The host variables a trainer inherits (the allow-list, secrets dropped) with ``extra`` on top:
    what its interpreter sees, before the seed's own settings (HOME, caches, markers) are added."""
    host = dict(os.environ if host is None else host)
    allow = set(ENV_ALLOW) | set(passthrough)
    env = {k: v for k, v in host.items() if k in allow or k.startswith(ENV_ALLOW_PREFIX)}
    env.update({k: str(v) for k, v in extra.items()})
    env = {k: v for k, v in env.items() if not is_secret_name(k)}
    env.setdefault("PATH", os.defpath)
    return env


def scrub_secrets(environ: Any = None) -> list[str]:
    """Remove credentials (and whole credential families) from ``environ`` (default: this
    process's own); return the names removed, never the values."""
    environ = os.environ if environ is None else environ
    names = sorted(k for k in list(environ) if is_secret_name(k) or k.upper().startswith(SCRUB_PREFIXES))
    for k in names:
        environ.pop(k, None)
    return names


@dataclass
class SandboxOptions:
    """What containment a seed asks for. "auto" picks the strongest the machine offers."""

    isolate_network: bool = True
    kill_mode: str = "auto"  # auto | cgroup | pidns | killpg
    # Namespaces inside a user namespace: "auto" = only when not root (how an unprivileged
    # user gets them), "on" / "off" to force.
    user_namespace: str = "auto"
    private_tmp: bool = True
    private_shm: bool = True
    fresh_home: bool = True
    compile_cache_dir: Path | None = None  # shared (warm) cache; None = fresh per-seed (cold)
    require_network_isolation: bool = False  # raise instead of running with the network on
    hide_paths: list[Path] = field(default_factory=list)  # more harness files to hide
    keep_paths: list[Path] = field(default_factory=list)  # more /tmp paths the trainer needs
    env_passthrough: tuple[str, ...] = ()  # extra host variable names to allow
    settle_s: float = 10.0  # how long to wait for killed processes to disappear
    # Also SIGKILL anything carrying the seed's marker variable. On by default (a belt over
    # the braces); tests turn it off to prove each kill method on its own.
    marker_sweep: bool = True
    gpu_settle_s: float = 15.0  # how long to wait for their GPU memory to be released
    # "bwrap": bubblewrap builds the view (the trust boundary); "fallback": the hand-written
    # namespaces of netns_exec (containment of a runaway, not of an adversary); "auto": bwrap
    # when installed, else the fallback, labelled as such in the record.
    engine: str = "auto"
    read_only: list[Path] = field(default_factory=list)  # inputs the trainer reads (data, tokenizer)
    limits: dict[str, int] = field(default_factory=dict)  # pids/memory/disk/shm (harness.limits)


def pick_engine(engine: str) -> str:
    """The sandbox engine for an option value: bwrap when asked or when installed, else the fallback."""
    if engine == "auto":
        return "bwrap" if bwrap_path() else "fallback"
    if engine == "bwrap" and not bwrap_path():
        raise EnvironmentProblem("The bubblewrap sandbox was asked for but `bwrap` is not installed.",
                                 hint="Install it (Debian: apt-get install bubblewrap) or use the image.")
    if engine not in ("bwrap", "fallback"):
        raise ValueError(f"unknown sandbox engine {engine!r}")
    return engine


# ---------------------------------------------------------------------------------- processes


def seed_pids(seed_id: str) -> list[int]:
    """Live processes whose environment carries this seed's marker (zombies excluded)."""
    return pids_with_env(MARKER_VAR, seed_id)


def compile_cache_is_warm(folder: Path) -> bool:
    """A compile cache folder is warm when an earlier seed or run left entries in it."""
    return folder.is_dir() and any(folder.iterdir())


def other_seed_ids(own: str) -> set[str]:
    """Marker ids of harness seeds other than ``own`` that are alive on this machine now.

    Seeds that share a machine share its GPUs and CPU cores: timings, throughput and CPU-bound
    phases are then not the machine's own (two seeds with 16 CPU threads each on 16 cores made a
    CPU GPTQ of #2014 take 263 s on an H200 host instead of tens of seconds).
    """
    return other_ids(env_values(MARKER_VAR), own)


@dataclass
class KillReport:
    """What a kill or teardown did and what it left."""

    method: str
    requested_at: float  # harness monotonic
    settled_at: float  # when no process of the seed was left (or we gave up)
    stragglers: int  # processes still alive when the kill/teardown began
    orphans_left: list[int]  # still alive after it: the failure this module exists to prevent
    gpu: dict[str, Any] | None  # {"checked", "released", "leftover": {pid: MiB}} or None

    def as_dict(self) -> dict[str, Any]:
        return {"method": self.method, "seconds": round(self.settled_at - self.requested_at, 3),
                "stragglers": self.stragglers, "orphans_left": self.orphans_left, "gpu": self.gpu}


# ---------------------------------------------------------------------------------- sandbox


class SeedSandbox:
    """One seed's containment: build its environment, launch it, kill or tear it down."""

    def __init__(self, state_dir: Path, options: SandboxOptions | None = None, seed_id: str | None = None):
        self.options = options or SandboxOptions()
        self.seed_id = seed_id or uuid.uuid4().hex[:16]
        self.state_dir = Path(state_dir).resolve()
        self.avail = detect_isolation()
        self.proc: subprocess.Popen | None = None
        self.cgroup: Path | None = None
        self.engine = pick_engine(self.options.engine)
        self.cgroups = None  # harness.limits.SeedCgroups of a bwrap seed
        self.disk_paths: list[Path] = []  # the seed's writable folders (the disk cap's scope)
        self.stage_dir: Path | None = None
        self.kill_method = self._pick_kill_method()
        self.isolation: dict[str, Any] = {}
        self._known_pids: set[int] = set()
        self.shared_with: set[str] = set()  # other harness seeds seen alive while this one ran
        self.gpu_baseline: list[int] | None = None

    def _pick_kill_method(self) -> str:
        mode = self.options.kill_mode
        if mode == "auto":
            return self.avail["kill_method"]
        key = {"cgroup": "cgroup_v2", "pidns": "pid_namespace"}.get(mode)
        if key and not self.avail[key]["ok"]:
            raise EnvironmentProblem(f"Kill mode {mode!r} is not available here ({self.avail[key]['detail']}).",
                                     hint="Run `harness sandbox check` to see what this machine offers.")
        if mode not in ("cgroup", "pidns", "killpg"):
            raise ValueError(f"unknown kill mode {mode!r}")
        return mode

    # -- environment ---------------------------------------------------------------------

    def fresh_dir(self, name: str) -> Path:
        d = self.state_dir / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d

    def build_env(self, extra: dict[str, str], host: dict[str, str] | None = None) -> tuple[dict[str, str], list[str]]:
        """Minimal allow-listed host env + caller's env + injected settings; secrets dropped.

        Returns (env, names of dropped secret variables). Values are never recorded.
        """
        host = dict(os.environ if host is None else host)
        env = visible_env(extra, host, self.options.env_passthrough)
        dropped = sorted({k for k in host if is_secret_name(k)}
                         | {k for k in extra if is_secret_name(k)})
        env["PYTHONUNBUFFERED"] = "1"
        env[MARKER_VAR] = self.seed_id
        env.update(NCCL_ENV)
        for k in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            env.setdefault(k, "1")
        if self.options.fresh_home:
            home = self.fresh_dir("home")
            env["HOME"] = str(home)
            env["XDG_CACHE_HOME"] = str(home / ".cache")
        if self.options.compile_cache_dir is not None:
            cache = Path(self.options.compile_cache_dir).resolve()
            warm = compile_cache_is_warm(cache)
            cache.mkdir(parents=True, exist_ok=True)
            self.isolation["compile_cache"] = "warm" if warm else "cold"
            self.isolation["compile_cache_shared"] = str(cache)
        else:
            cache = self.fresh_dir("compile-cache")
            self.isolation["compile_cache"] = "cold"
        env["TORCHINDUCTOR_CACHE_DIR"] = str(cache / "inductor")
        env["TRITON_CACHE_DIR"] = str(cache / "triton")
        return env, dropped

    # -- launch --------------------------------------------------------------------------

    def launch(self, argv: list[str], cwd: Path, env: dict[str, str], log_path: Path | None = None,
               stdout: int | IO = subprocess.PIPE, stderr: int | IO | None = None) -> subprocess.Popen:
        """Start argv in the sandbox (stdout to `stdout`, stderr to `stderr`, or to `stdout` when None).
        Records what is in force."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        cwd = Path(cwd).resolve()
        env, dropped = self.build_env(env)
        if self.engine == "bwrap":
            self.proc = launch_bwrap(self, argv, cwd, env, dropped, stdout,
                                     subprocess.STDOUT if stderr is None else stderr)
            return self.proc
        self.proc = launch_fallback(self, argv, cwd, env, dropped, log_path, stdout,
                                    subprocess.STDOUT if stderr is None else stderr)
        return self.proc

    def returncode(self) -> int | None:
        """The trainer's exit status as Popen reports it (negative: killed by that signal). bwrap's
        init reports a trainer killed by signal N as exit code 128+N; the fallback launcher
        re-creates the signal itself."""
        rc = self.proc.returncode if self.proc is not None else None
        if self.engine == "bwrap" and rc is not None and 128 < rc < 128 + 65:
            return -(rc - 128)
        return rc

    @staticmethod
    def env_allow() -> tuple[str, ...]:
        """Host variables a trainer may inherit (the allow-list, before secrets are filtered)."""
        return ENV_ALLOW

    # -- kill ----------------------------------------------------------------------------

    def _members(self, markers: dict[int, str] | None = None) -> set[int]:
        """The seed's live processes; ``markers`` is a /proc marker scan already made (else one is)."""
        markers = env_values(MARKER_VAR) if markers is None else markers
        pids = set(pids_holding(markers, self.seed_id))
        pids |= self._cgroup_pids()
        if self.proc is not None and self.proc.poll() is None:
            pids.add(self.proc.pid)
        return {p for p in pids if alive(p)}

    def _cgroup_pids(self) -> set[int]:
        """Processes in the seed's cgroups (the kill cgroup, and a bwrap seed's limit cgroups)."""
        dirs = [self.cgroup] if self.cgroup is not None else []
        if self.cgroups is not None:
            dirs += self.cgroups.dirs
        pids: set[int] = set()
        for d in dirs:
            try:
                pids |= {int(x) for x in (d / "cgroup.procs").read_text().split()}
            except OSError:
                pass
        return pids

    def _signal_all(self) -> None:
        if self.cgroup is not None:
            try:
                (self.cgroup / "cgroup.kill").write_text("1")
            except OSError:
                pass
        if self.proc is not None and self.proc.poll() is None:
            # In PID-namespace mode this alone takes the whole namespace down.
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.cgroups is not None and self.cgroup is None:
            # v1 limit cgroups have no cgroup.kill: signal their members one by one.
            for pid in self._cgroup_pids():
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        if not self.options.marker_sweep:
            return
        # Last resort, and a belt for the other modes: anything still carrying our marker.
        for pid in seed_pids(self.seed_id):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def kill(self) -> KillReport:
        """SIGKILL the whole seed, reap, and report what (if anything) survived."""
        t0 = time.monotonic()
        members = self._members()
        self._known_pids |= members
        self._signal_all()
        return self._settle(t0, len(members))

    def teardown(self) -> KillReport:
        """After the launcher exited on its own: kill stragglers (daemons the trainer left)."""
        t0 = time.monotonic()
        members = self._members()
        self._known_pids |= members
        if members:
            self._signal_all()
        return self._settle(t0, len(members))

    def note_pids(self) -> None:
        """Remember the seed's current processes (for the GPU check after they die) and any other
        harness seed running on this machine meanwhile (``shared_with``)."""
        markers = env_values(MARKER_VAR)  # one /proc scan serves both
        self._known_pids |= self._members(markers)
        self.shared_with |= other_ids(markers, self.seed_id)

    def _settle(self, t0: float, stragglers: int) -> KillReport:
        deadline = t0 + self.options.settle_s
        left = self._members()
        while left and time.monotonic() < deadline:
            if self.proc is not None:
                self.proc.poll()
            time.sleep(0.02)
            self._signal_all()
            left = self._members()
        if self.proc is not None:
            try:
                self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        settled = time.monotonic()
        gpu = self._gpu_check()
        if not left:
            self._remove_cgroups()
        return KillReport(self.kill_method, t0, settled, stragglers, sorted(left), gpu)

    def _remove_cgroups(self) -> None:
        """Remove the seed's (now empty) cgroups; an emptied cgroup can take a moment to go."""
        if self.cgroup is not None:
            for _ in range(50):
                try:
                    self.cgroup.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        bwrap_cleanup(self)

    def _gpu_check(self) -> dict[str, Any] | None:
        """Wait (bounded) until none of the seed's pids holds GPU memory and each GPU's used
        memory is back near its launch value; report what was seen."""
        if gpu_pids() is None:
            return None
        deadline = time.monotonic() + self.options.gpu_settle_s
        base = self.gpu_baseline
        while True:
            apps = gpu_pids() or {}
            ours = {p: m for p, m in apps.items() if p in self._known_pids}
            # A process hidden from nvidia-smi's process list still shows in memory.used.
            used = gpu_memory_used()
            grew = None
            if used is not None and base is not None and len(used) == len(base):
                grew = [max(0, u - b) for u, b in zip(used, base)]
            back = grew is None or max(grew, default=0) <= 64
            if (not ours and back) or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
        return {"checked": True, "released": not ours, "memory_back_to_launch_level": back,
                "leftover_mib": {str(p): m for p, m in ours.items()},
                "memory_used_at_launch_mib": base, "memory_used_after_mib": used, "growth_mib": grew}
