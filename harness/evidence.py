"""Evidence the trainer cannot forge: the submission copies, the artifact, the counted code.

Everything here reads folders the trainer writes to, so nothing here trusts a path there:

- a submission is copied without following symlinks, and a symlink, FIFO, socket or device in it
  is a usage error naming it (a symlink to ``~/.netrc`` would otherwise be copied as the file);
- the artifact is the single regular file under the work directory that the manifest's relative
  pattern matches, reached component by component with ``O_NOFOLLOW`` (a symlinked folder or file
  is refused, several matches are an error listing them, a FIFO never blocks the harness);
- its size and sha256 are taken when the eval phase begins and again at the end: a change means
  the bytes that were scored are not the bytes that were measured;
- code bytes are counted from the pristine copy the harness made before the run, and the working
  copy's code files are compared with it afterwards.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

SKIP_NAMES = ("__pycache__", ".git")
_KINDS = {stat.S_IFLNK: "a symlink", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket",
          stat.S_IFCHR: "a character device", stat.S_IFBLK: "a block device"}


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


def copy_submission(src: Path, dst: Path) -> None:
    """Copy a submission folder: regular files and folders only, symlinks never followed."""
    src = Path(src)
    bad = []
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        dirnames[:] = [d for d in dirnames if d not in SKIP_NAMES]
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            mode = os.lstat(p).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                bad.append(f"{p.relative_to(src)} ({_kind(mode)})")
    if bad:
        raise UsageError(f"the submission holds {', '.join(sorted(bad)[:5])}"
                         f"{' and more' if len(bad) > 5 else ''}: a submission may hold only regular files and folders.",
                         hint="Replace links with the files themselves, or remove them.")
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(*SKIP_NAMES))


class ArtifactProblem(Exception):
    """The work directory does not hold exactly one regular artifact file; the message says why."""

    def __init__(self, rule: str, message: str):
        super().__init__(message)
        self.rule = rule


def find_artifact(work: Path, pattern: str) -> str:
    """The artifact's path relative to ``work``: the one regular file matching ``pattern``.

    The pattern is matched against each path relative to the work directory; where nothing
    matches that way, against file names anywhere below it (as ``rglob`` would). Folders are
    walked without following symlinks.
    """
    full, base = [], []
    for dirpath, dirnames, filenames in os.walk(work, followlinks=False):
        for name in dirnames + filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), work)
            if fnmatch.fnmatchcase(rel, pattern):
                full.append(rel)
            elif fnmatch.fnmatchcase(name, pattern):
                base.append(rel)
    hits = sorted(full or base)
    if not hits:
        raise ArtifactProblem("artifact.missing", f"no file matching {pattern!r} in the work directory")
    modes = {h: os.lstat(os.path.join(work, h)).st_mode for h in hits}
    odd = [f"{h} ({_kind(mode)})" for h, mode in modes.items() if not stat.S_ISREG(mode)]
    if odd:
        raise ArtifactProblem("artifact.not_regular", f"the artifact pattern {pattern!r} matches {', '.join(odd)}: "
                              "the artifact must be a regular file in the work directory")
    if len(hits) > 1:
        raise ArtifactProblem("artifact.ambiguous", f"the artifact pattern {pattern!r} matches {len(hits)} files "
                              f"({', '.join(hits[:8])}): exactly one must match")
    return hits[0]


def _open_below(root: Path, rel: str) -> int:
    """An fd for ``root/rel`` opened one component at a time, never through a symlink."""
    parts = Path(rel).parts
    if not parts or any(p in ("..", ".") for p in parts) or Path(rel).is_absolute():
        raise ArtifactProblem("artifact.not_regular", f"{rel!r} is not a plain path below the work directory")
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    except OSError as exc:
        raise ArtifactProblem("artifact.not_regular", f"{rel} cannot be opened without following a link "
                              f"({exc.strerror})") from None
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Snapshot:
    """An artifact's identity at one moment."""

    path: str      # relative to the work directory
    size: int
    sha256: str
    inode: int

    def to_dict(self) -> dict:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


def snapshot(work: Path, rel: str) -> Snapshot:
    """Size and sha256 of ``work/rel`` read through a no-follow fd (a regular file only)."""
    fd = _open_below(Path(work), rel)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ArtifactProblem("artifact.not_regular", f"{rel} is {_kind(st.st_mode)}")
        h = hashlib.sha256()
        size = 0
        while chunk := os.read(fd, 1 << 20):
            h.update(chunk)
            size += len(chunk)
        return Snapshot(rel, size, h.hexdigest(), st.st_ino)
    finally:
        os.close(fd)


def artifact_snapshot(work: Path, pattern: str) -> Snapshot:
    return snapshot(work, find_artifact(work, pattern))


def file_digests(folder: Path, files: list[str]) -> dict[str, str | None]:
    """sha256 of each named file (None: missing, a link or not a regular file)."""
    out: dict[str, str | None] = {}
    for rel in files:
        try:
            out[rel] = snapshot(folder, rel).sha256
        except (ArtifactProblem, OSError):
            out[rel] = None
    return out


def changed_code(pristine: Path, work: Path, files: list[str]) -> list[str]:
    """The counted code files whose working copy differs from the pristine copy after the run."""
    before, after = file_digests(pristine, files), file_digests(work, files)
    return [f for f in files if before.get(f) != after.get(f)]


class ArtifactWatch:
    """Hashes the artifact when the eval phase begins (``on_phase`` is the supervisor's hook)."""

    EVAL_PHASES = ("pre_eval", "eval", "done")

    def __init__(self, work: Path, pattern: str):
        self.work, self.pattern = Path(work), pattern
        self.snapshots: list[Snapshot] = []

    def on_phase(self, phase: str) -> None:
        if phase not in self.EVAL_PHASES:
            return
        try:
            snap = artifact_snapshot(self.work, self.pattern)
        except (ArtifactProblem, OSError):
            return  # not written yet (or not usable): the final measurement reports it
        if not self.snapshots or self.snapshots[-1] != snap:
            self.snapshots.append(snap)
