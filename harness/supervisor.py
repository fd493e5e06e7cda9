"""Run one seed under the harness's clock: capture, stamp, track phases, enforce hard caps.

``run_seed(spec)`` starts ``spec.argv`` (normally ``torchrun --standalone --nproc_per_node N
ENTRY``) inside a :class:`harness.sandbox.SeedSandbox`, and:

- captures stdout and stderr through two pipes into the HARNESS's log file, which the harness
  opens itself, outside the trainer's view (stderr lines behind a mark: metrics count from
  stdout only);
- stamps every line ``"{t:.3f} {line}"`` with the harness's monotonic clock relative to
  launch. A reader thread does only that (read, stamp, append, enqueue), so a slow
  consumer never blocks the trainer on a full pipe;
- feeds lines to the phase tracker (:mod:`harness.phases`) and the caller's ``on_line``;
- kills the WHOLE seed (cgroup / PID namespace, see the sandbox) when a phase's hard cap,
  the end-to-end cap or the phase's silence limit is exceeded, and records why. Verdicts
  are computed later by the policy from the log; a kill happens only at hard caps.
"""

from __future__ import annotations

import os
import queue
import re
import select
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from harness.core.events import STDERR_MARK
from harness.limits import disk_usage
from harness.phases import LiveCaps, PhaseTracker
from harness.sandbox import SandboxOptions, SeedSandbox

OnLine = Callable[[float, str], None]

# A rank's stderr line may carry torchrun's "[rank0]: " prefix (--tee, --local-ranks-filter).
_RANK_PREFIX = re.compile(r"^\[(?:default)?rank\d+\]:\s?")
# The line that ends a traceback: the exception's dotted class name, then its message.
_EXCEPTION_LINE = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt))(?::\s.*)?$")


def root_cause(stderr_lines: list[str]) -> str | None:
    """The trainer's first uncaught exception, as its traceback's last line ("ModuleNotFoundError: No
    module named 'brotli'"), from the seed's stderr lines (stamps and marks removed).

    The first one, because the ranks that die after it die of it (a closed gloo connection), and
    torchrun's own ChildFailedError at the end only says that a rank failed."""
    in_traceback = False
    for raw in stderr_lines:
        line = _RANK_PREFIX.sub("", raw.rstrip())
        if line.startswith("Traceback (most recent call last):"):
            in_traceback = True
            continue
        if not in_traceback or not line or line[0].isspace():
            continue
        in_traceback = False
        m = _EXCEPTION_LINE.match(line)
        if m and "ChildFailedError" not in m.group("cls"):
            return line
    return None


def torchrun_argv(entry: str, nproc: int, args: list[str] | None = None, python: str | None = None) -> list[str]:
    """``torchrun --standalone --nproc_per_node N ENTRY [args]`` via the given interpreter.

    ``python -m torch.distributed.run`` is torchrun itself, without depending on which
    ``torchrun`` script PATH finds first.
    """
    return [python or sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc_per_node", str(nproc), entry, *(args or [])]


@dataclass
class SeedSpec:
    """One seed to run. `env` is the seed's own variables (SEED, DATA_PATH, RUN_ID, manifest
    env ...); the sandbox adds them to a minimal allow-listed environment."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    caps: LiveCaps = field(default_factory=LiveCaps)
    isolate_network: bool = True
    sandbox: SandboxOptions | None = None  # isolate_network above wins over sandbox.isolate_network
    state_dir: Path | None = None  # HOME, tmp, caches of the seed; default: <log>.sandbox/
    label: str = ""
    tick_s: float = 0.05  # how often caps are checked (kill precision)
    pid_note_s: float = 2.0  # how often the seed's pids are sampled (for the GPU check)
    # Real logs are a few MB; a flood past this is killed before it exhausts our memory.
    max_log_bytes: int = 256 << 20
    # How often the seed's writable folders are measured against the disk cap: often enough that a
    # writer at disk speed overshoots by a few GB at most, rarely enough to cost the trainer nothing.
    disk_poll_s: float = 2.0
    # Called (from run_seed's thread) with each new phase's name: the harness hashes the artifact
    # when the eval phase begins.
    on_phase: Callable[[str], None] | None = None


@dataclass
class SeedRun:
    """What happened to one seed. Times are on the harness's monotonic clock."""

    exit_code: int | None
    signal: int | None
    killed: bool
    kill_reason: str | None
    started_at: float
    ended_at: float
    lines: list[tuple[float, str]]
    isolation: dict[str, Any]
    orphans_left: int
    log_path: Path
    started_wall: float = 0.0  # epoch seconds at launch (for humans; the clock is monotonic)
    phase_starts: dict[str, float] = field(default_factory=dict)  # relative to launch
    transitions: list[Any] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    kill: dict[str, Any] | None = None  # deadline_t, signalled_t, late_s, settle report
    teardown: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return not self.killed and self.exit_code == 0 and self.orphans_left == 0

    @property
    def duration_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def failure(self) -> str | None:
        """One sentence on why the seed failed, or None."""
        if self.killed:
            return f"killed: {self.kill_reason}"
        if self.signal is not None:
            return f"terminated by signal {self.signal}"
        if self.exit_code not in (0, None):
            cause = root_cause([text[len(STDERR_MARK):] for _t, text in self.lines if text.startswith(STDERR_MARK)])
            return f"exited with code {self.exit_code}" + (f": {cause}" if cause else "")
        if self.orphans_left:
            return f"{self.orphans_left} process(es) of the seed survived teardown"
        return None


class _Reader(threading.Thread):
    """Reads the trainer's stdout and stderr pipes; stamps, appends to the harness log, enqueues.

    Nothing else. stderr lines are written behind :data:`STDERR_MARK`, so the log keeps them
    (tracebacks, warnings) while the parser and the live tracker count metrics from stdout only.
    """

    def __init__(self, fds: dict[int, str], t0: float, log, q: queue.Queue, lines: list):
        super().__init__(daemon=True, name="seed-reader")
        self.fds, self.t0, self.log, self.q, self.lines = fds, t0, log, q, lines
        self.last_activity = 0.0
        self.nbytes = 0
        self.stop = threading.Event()

    def _emit(self, raw: bytes, stream: str) -> None:
        t = time.monotonic() - self.t0
        text = raw.decode("utf-8", "replace")
        if stream == "stderr":
            text = STDERR_MARK + text
        self.log.write(f"{t:.3f} {text}\n")
        self.lines.append((t, text))
        self.q.put((t, text))

    def run(self) -> None:
        bufs = {fd: b"" for fd in self.fds}
        poller = select.poll()
        for fd in self.fds:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        open_fds = set(self.fds)
        try:
            while open_fds and not self.stop.is_set():
                # poll with a timeout so that a pipe held open by a process that survived
                # teardown cannot keep this thread (and run_seed) waiting forever.
                ready = poller.poll(200)
                for fd, _ in ready:
                    try:
                        chunk = os.read(fd, 1 << 16)
                    except InterruptedError:
                        continue
                    if not chunk:
                        poller.unregister(fd)
                        open_fds.discard(fd)
                        continue
                    self.last_activity = time.monotonic() - self.t0
                    self.nbytes += len(chunk)
                    bufs[fd] = self._split(bufs[fd] + chunk, self.fds[fd])
                if ready:
                    self.log.flush()
            for fd, buf in bufs.items():
                if buf:
                    self._emit(buf.rstrip(b"\r"), self.fds[fd])
        finally:
            self.log.flush()
            self.q.put(None)

    def _split(self, buf: bytes, stream: str) -> bytes:
        """Emit the complete lines of ``buf``; return the rest. Lines end at \\n, \\r\\n or a bare
        \\r (progress bars)."""
        while True:
            cuts = [i for i in (buf.find(b"\n"), buf.find(b"\r")) if i != -1]
            if not cuts:
                return buf
            cut = min(cuts)
            if buf[cut:cut + 1] == b"\r" and cut == len(buf) - 1:
                return buf  # a \\r\\n may be split across reads: wait for the next chunk
            step = 2 if buf[cut:cut + 2] == b"\r\n" else 1
            self._emit(buf[:cut], stream)
            buf = buf[cut + step:]


def _check_log_outside(log_path: Path, cwd: Path) -> None:
    log, work = log_path.resolve(), cwd.resolve()
    if log == work or work in log.parents:
        raise ValueError(f"the harness log {log} must live outside the trainer's working copy {work}")


def run_seed(spec: SeedSpec, on_line: OnLine | None = None, tracker: PhaseTracker | None = None) -> SeedRun:
    """Run one seed to completion or to a hard cap; return what happened.

    The log at ``spec.log_path`` holds every line as ``"<t_rel:.3f> <text>"``. On any
    exception in the caller's ``on_line`` (or Ctrl-C) the seed is killed before re-raising.
    """
    cwd = Path(spec.cwd).resolve()
    log_path = Path(spec.log_path).resolve()
    _check_log_outside(log_path, cwd)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    opts = SandboxOptions(**{**(spec.sandbox.__dict__ if spec.sandbox else {}),
                             "isolate_network": spec.isolate_network})
    state_dir = Path(spec.state_dir) if spec.state_dir else log_path.with_name(log_path.name + ".sandbox")
    sandbox = SeedSandbox(state_dir, opts)
    tracker = tracker or PhaseTracker()
    caps = spec.caps
    lines: list[tuple[float, str]] = []
    q: queue.Queue = queue.Queue()
    log = open(log_path, "w", encoding="utf-8")  # opened by us; the trainer never gets this fd
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    started_wall = time.time()
    t0 = time.monotonic()
    try:
        proc = sandbox.launch(spec.argv, cwd, dict(spec.env), log_path=log_path, stdout=out_w, stderr=err_w)
    except BaseException:
        for fd in (out_r, out_w, err_r, err_w):
            os.close(fd)
        log.close()
        raise
    os.close(out_w)
    os.close(err_w)
    reader = _Reader({out_r: "stdout", err_r: "stderr"}, t0, log, q, lines)
    reader.start()
    disk_cap = int(opts.limits.get("disk_max_bytes") or 0) if sandbox.disk_paths else 0
    next_disk = spec.disk_poll_s
    disk_peak = 0
    phase_seen = tracker.phase

    kill_reason: str | None = None
    kill_info: dict[str, Any] | None = None
    reader_done = False
    next_note = spec.pid_note_s

    def drain(block_s: float, budget_s: float = 0.25, live: bool = True) -> None:
        """Hand queued lines to the tracker and on_line; return after budget_s at most, so
        a slow consumer under a flood of lines never starves the cap checks."""
        nonlocal reader_done
        try:
            item = q.get(timeout=block_s) if block_s > 0 else q.get_nowait()
        except queue.Empty:
            return
        until = time.monotonic() + budget_s
        while True:
            if item is None:
                reader_done = True
            elif not item[1].startswith(STDERR_MARK):
                t, text = item
                tracker.feed(t, text)
                if on_line is not None and live:
                    on_line(t, text)
            if time.monotonic() > until:
                return
            try:
                item = q.get_nowait()
            except queue.Empty:
                return

    def breach(now: float) -> tuple[float, str] | None:
        deadline, desc = tracker.cap_deadline(caps)
        total_deadline = caps.total_s + caps.grace_s
        if now > total_deadline:
            return total_deadline, f"end-to-end cap {caps.total_s:g} s exceeded at t={now:.1f} s (phase {tracker.phase})"
        if now > deadline:
            began = tracker.started[tracker.phase]
            return deadline, f"{desc} exceeded at t={now:.1f} s (phase began at t={began:.1f} s)"
        limit = tracker.silence_limit(caps)
        quiet = now - reader.last_activity
        if quiet > limit:
            return reader.last_activity + limit, f"silent for {quiet:.0f} s in phase {tracker.phase} (limit {limit:g} s)"
        return None

    try:
        while proc.poll() is None:
            drain(spec.tick_s)
            now = time.monotonic() - t0
            if now >= next_note:
                sandbox.note_pids()
                next_note = now + spec.pid_note_s
            if tracker.phase != phase_seen:
                phase_seen = tracker.phase
                if spec.on_phase is not None:
                    spec.on_phase(phase_seen)
            hit = breach(now)
            if hit is None and reader.nbytes > spec.max_log_bytes:
                hit = (now, f"log flood: more than {spec.max_log_bytes} bytes of output at t={now:.1f} s")
            if hit is None and disk_cap and now >= next_disk:
                next_disk = now + spec.disk_poll_s
                used = disk_usage(sandbox.disk_paths)
                disk_peak = max(disk_peak, used)
                if used > disk_cap:
                    hit = (now, f"disk cap: the seed's folders hold {used:,} bytes, over the policy's "
                                f"{disk_cap:,} at t={now:.1f} s")
            if hit is not None and hit[1].startswith(f"{tracker.phase} cap"):
                # Lines already read may move the phase on: judge a phase cap on them too.
                drain(0, budget_s=0.25)
                hit = breach(time.monotonic() - t0)
            if hit is not None and proc.poll() is None:
                deadline, kill_reason = hit
                signalled = time.monotonic() - t0
                report = sandbox.kill()
                kill_info = {"deadline_t": round(deadline, 3), "signalled_t": round(signalled, 3),
                             "late_s": round(signalled - deadline, 3), "phase": tracker.phase,
                             **report.as_dict()}
                break
    except BaseException:
        sandbox.kill()
        reader.join(timeout=5)
        reader.stop.set()
        reader.join(timeout=2)
        log.close()
        raise

    teardown = sandbox.teardown()  # daemons the trainer left behind die here
    # Once every process of the seed is gone the pipe reaches EOF at once; a survivor may
    # hold it open, so the wait is bounded and the reader is then told to stop.
    reader.join(timeout=10 if not teardown.orphans_left else 1)
    reader.stop.set()
    reader.join(timeout=2)
    # The backlog (a flood read ahead of a slow consumer) still reaches on_line for a
    # couple of seconds; past that only the tracker sees it (phases must be complete).
    backlog_until = time.monotonic() + 2.0
    while not q.empty():
        drain(0, budget_s=0.25, live=time.monotonic() < backlog_until)
    ended = time.monotonic()
    if not reader.is_alive():
        log.close()
        os.close(out_r)
        os.close(err_r)
    rc = sandbox.returncode()
    orphans = len(teardown.orphans_left)  # teardown runs after any kill: the final state
    isolation = dict(sandbox.isolation)
    isolation["host_shared_with"] = sorted(sandbox.shared_with)
    if disk_cap:
        isolation["disk_peak_bytes"] = max(disk_peak, disk_usage(sandbox.disk_paths))
    return SeedRun(
        exit_code=rc if rc is not None and rc >= 0 else None,
        signal=-rc if rc is not None and rc < 0 else None,
        killed=kill_reason is not None,
        kill_reason=kill_reason,
        started_at=t0,
        ended_at=ended,
        lines=lines,
        isolation=isolation,
        orphans_left=orphans,
        log_path=log_path,
        started_wall=started_wall,
        phase_starts=dict(tracker.started),
        transitions=list(tracker.transitions),
        events=list(getattr(tracker.stream, "events", [])),
        kill=kill_info,
        teardown=teardown.as_dict(),
    )
