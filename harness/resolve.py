"""Turn what the user typed into a folder of code plus a manifest.

Three kinds of reference:

- a local records folder (no manifest): entry ``train_gpt.py``, the dataset
  variant guessed from its logs/README, claims from its submission.json;
- a registry entry ``submissions/NAME/`` (or just ``NAME``) with a
  ``harness.toml``; its ``source`` may itself point at a PR. The registry is
  package data (``harness/submissions`` links to the checkout's
  ``submissions/``; a wheel carries a copy), so a bare name resolves from any
  folder, a non-editable install included;
- a PR ``github:openai/parameter-golf#N[@sha]``, fetched with git from
  ``--source-repo`` (a local mirror with ``refs/pull/N/head`` or a URL), and
  the PR's own records folder exported with ``git archive`` into a cache.

Picking the PR's folder: a PR may add copies of other people's folders (PR
#107 adds four folders, three of them copies), so "every added folder" is
wrong. We keep folders the PR adds under ``records/``, drop those identical to
the base branch, and if several remain take the ones touched by the newest
commit that touches any of them, preferring the one whose submission.json
changed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.records import MISSING_BLOBS_FILE
from harness.errors import EnvironmentProblem, UsageError
from harness.manifest import MANIFEST_NAME, Manifest, SeedClaim, load_manifest

PR_REF = re.compile(r"^(?:github:)?(?P<repo>[\w.-]+/[\w.-]+)#(?P<num>\d+)(?:@(?P<sha>[0-9a-fA-F]{7,40}))?$")
DEFAULT_MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")
REPO_ROOT = Path(__file__).resolve().parents[1]
# The registry of submissions/NAME entries, found wherever the package lands (a wheel installs a copy).
REGISTRY = Path(__file__).resolve().parent / "submissions"


@dataclass
class ResolvedSubmission:
    name: str
    folder: Path  # local directory holding the code to run
    manifest: Manifest
    origin: dict = field(default_factory=dict)  # kind, path / pr / sha / records_folder
    notes: list[str] = field(default_factory=list)

    @property
    def entry_path(self) -> Path:
        return self.folder / self.manifest.entry


def registry_entry(ref: str) -> Path | None:
    """The registry folder that ``NAME`` or ``submissions/NAME`` names, if it holds a manifest."""
    parts = Path(ref).parts
    if parts[:1] == ("submissions",):
        parts = parts[1:]
    if len(parts) != 1 or parts[0] in (".", ".."):
        return None
    entry = REGISTRY / parts[0]
    return entry if (entry / MANIFEST_NAME).is_file() else None


def is_registry_entry(folder: Path) -> bool:
    """Whether ``folder`` is an entry of the packaged registry (compared after resolving links)."""
    return folder.resolve().parent == REGISTRY.resolve()


def cache_root() -> Path:
    base = os.environ.get("PGOLF_HARNESS_CACHE") or os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / ("" if os.environ.get("PGOLF_HARNESS_CACHE") else "pgolf-harness")


# ----------------------------------------------------------------------------- git

def run_git(git_dir: Path | str, *args: str, binary: bool = False) -> str | bytes:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], capture_output=True)
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"git {' '.join(args[:2])} failed in {git_dir}: {proc.stderr.decode(errors='replace').strip()[:300]}",
            hint="Check --source-repo (a mirror with refs/pull/N/head, or a URL).",
        )
    return proc.stdout if binary else proc.stdout.decode()


def _git_dir_of(path: Path) -> Path:
    """A mirror may be bare (the path is the git dir) or a work tree with .git."""
    return path / ".git" if (path / ".git").exists() else path


def open_source_repo(source_repo: str | None, pr: int, repo_name: str) -> Path:
    """A git dir that has refs/pull/<pr>/head and a base branch."""
    src = source_repo or (str(DEFAULT_MIRROR) if DEFAULT_MIRROR.exists() else None)
    if src is None:
        src = f"https://github.com/{repo_name}.git"
    if Path(src).exists():
        return _git_dir_of(Path(src))
    # A URL: fetch just the PR head and main into a cached bare repo.
    safe = re.sub(r"[^\w.-]+", "_", src)
    git_dir = cache_root() / "git" / safe
    if not git_dir.exists():
        git_dir.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], check=True)
    proc = subprocess.run(
        ["git", "--git-dir", str(git_dir), "fetch", "-q", "--no-tags", src,
         f"+refs/pull/{pr}/head:refs/pull/{pr}/head", "+refs/heads/main:refs/heads/main"],
        capture_output=True)
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"could not fetch PR #{pr} from {src}: {proc.stderr.decode(errors='replace').strip()[:200]}",
            hint="Pass --source-repo with a local mirror that has refs/pull/N/head, or check the network.",
        )
    return git_dir


def _base_ref(git_dir: Path) -> str:
    for ref in ("refs/heads/main", "refs/remotes/origin/main", "main", "HEAD"):
        if subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "-q", "--verify", ref + "^{commit}"],
                          capture_output=True).returncode == 0:
            return ref
    raise EnvironmentProblem(f"{git_dir} has no main branch to compare the PR against.")


def _records_folder(path: str) -> str | None:
    parts = path.split("/")
    if len(parts) >= 4 and parts[0] == "records":
        return "/".join(parts[:3])
    return None


def pr_folders(git_dir: Path, head: str, base: str | None = None) -> tuple[list[str], list[str], str]:
    """Every records folder a PR head adds that is not a verbatim copy of the base branch's, notes, and the
    merge base they were compared with (``harness verify`` reports on each of them)."""
    base = base or _base_ref(git_dir)
    mb = str(run_git(git_dir, "merge-base", base, head)).strip()
    head_sha = str(run_git(git_dir, "rev-parse", f"{head}^{{commit}}")).strip()
    notes: list[str] = []
    if mb == head_sha:
        # A merged PR: its head is already on the base branch. Compare with the base as it was just
        # before the merge (the first parent of the first base commit that contains the head).
        merges = str(run_git(git_dir, "rev-list", "--ancestry-path", "--first-parent", "--reverse",
                          f"{head_sha}..{base}")).split()
        if merges:
            base = f"{merges[0]}^1"
            mb = str(run_git(git_dir, "merge-base", base, head_sha)).strip()
            notes.append(f"merged PR: compared with {merges[0][:9]}^1, the base branch before its merge")
    # -z: paths with spaces ("2026-03-19_int6_STE QAT_ MLP_bigram _U_Net", PR #65) stay whole
    added = [p for p in str(run_git(git_dir, "diff", "--name-only", "-z", "--diff-filter=A", mb, head)).split("\0") if p]
    folders = sorted({f for f in (_records_folder(p) for p in added) if f})
    if not folders:
        raise UsageError(f"the PR (head {head[:12]}) adds no folder under records/.",
                         hint="Pass the records folder explicitly via a manifest's folder key.")
    # Drop verbatim copies of folders that already exist on the base branch.
    distinct = []
    for f in folders:
        head_tree = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", f"{head}:{f}"],
                                   capture_output=True, text=True).stdout.strip()
        base_tree = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", f"{base}:{f}"],
                                   capture_output=True, text=True).stdout.strip()
        if base_tree and head_tree == base_tree:
            notes.append(f"ignored {f}: identical to the base branch")
        else:
            distinct.append(f)
    return distinct or folders, notes, mb


def find_pr_folder(git_dir: Path, head: str, base: str | None = None) -> tuple[str, list[str]]:
    """The records folder a PR head adds, and notes on what else it added."""
    candidates, notes, mb = pr_folders(git_dir, head, base)
    if len(candidates) == 1:
        return candidates[0], notes
    # The newest commit that touches any candidate names the PR's own folder.
    log = str(run_git(git_dir, "log", "--format=%x00%H", "--name-only", f"{mb}..{head}"))
    for chunk in log.split("\x00")[1:]:
        lines = [x for x in chunk.splitlines() if x.strip()]
        touched = [p for p in lines[1:]]
        hit = sorted({f for f in (_records_folder(p) for p in touched) if f in candidates})
        if not hit:
            continue
        if len(hit) > 1:
            with_json = [f for f in hit if f"{f}/submission.json" in touched]
            if len(with_json) == 1:
                hit = with_json
        if len(hit) == 1:
            others = [f for f in candidates if f != hit[0]]
            if others:
                notes.append(f"picked {hit[0]} (touched by the newest commit {lines[0][:9]}); "
                             f"the PR also adds {', '.join(others)}")
            return hit[0], notes
        break
    raise UsageError(f"the PR adds several records folders ({', '.join(candidates)}) and none stands out.",
                     hint="Write a manifest (submissions/NAME/harness.toml) whose folder key names the one to run.")


def export_folder(git_dir: Path, sha: str, folder: str, dest: Path) -> Path:
    """`git archive` one folder of one commit into dest (idempotent: reused when complete).

    A mirror may lack some blobs (large model files): then the folder is exported file by file, the
    missing paths are listed in ``MISSING_BLOBS_FILE`` inside it, and the caller reports them.
    """
    done = dest / ".harness-export-complete"
    target = dest / folder
    if done.exists() and target.is_dir():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "--git-dir", str(git_dir), "archive", "--format=tar", sha, folder],
                             capture_output=True)
    if archive.returncode == 0:
        proc = subprocess.run(["tar", "-x", "-C", str(dest)], input=archive.stdout, capture_output=True)
        if proc.returncode != 0:
            raise EnvironmentProblem(f"could not unpack {folder}: {proc.stderr.decode(errors='replace')[:200]}")
    else:
        _export_files(git_dir, sha, folder, dest)
    done.write_text(f"{sha} {folder}\n")
    return target


def _export_files(git_dir: Path, sha: str, folder: str, dest: Path) -> None:
    """Export the blobs of ``folder`` one by one; list those the mirror does not have."""
    listing = str(run_git(git_dir, "ls-tree", "-r", "-z", "--full-tree", sha, "--", folder)).split("\0")
    missing = []
    for entry in filter(None, listing):
        meta, path = entry.split("\t", 1)
        mode, kind, blob = meta.split()
        if kind != "blob":
            continue
        proc = subprocess.run(["git", "--git-dir", str(git_dir), "cat-file", "blob", blob], capture_output=True)
        if proc.returncode != 0:
            missing.append({"path": path[len(folder):].lstrip("/"), "blob": blob})
            continue
        out = dest / path
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(proc.stdout)
        if mode == "100755":
            out.chmod(0o755)
    if not (dest / folder).is_dir():
        raise EnvironmentProblem(f"{folder} at {sha[:12]}: no file of it could be read from {git_dir}")
    (dest / folder / MISSING_BLOBS_FILE).write_text(json.dumps({"commit": sha, "missing": missing}, indent=1) + "\n")


# ------------------------------------------------------------------ inference

_VARIANT_HINTS = [
    (re.compile(r"caseops|lossless_caps", re.I), "caseops-sp8192"),
    (re.compile(r"sp8192|vocab_size[:= ]+8192", re.I), "sp8192"),
    (re.compile(r"sp4096|vocab_size[:= ]+4096", re.I), "sp4096"),
    (re.compile(r"tokens:63779840"), "sp1024-legacy"),
    (re.compile(r"sp1024|vocab_size[:= ]+1024", re.I), "sp1024"),
]


def guess_variant(folder: Path) -> tuple[str, str]:
    """The dataset variant a records folder used, and why we think so."""
    texts = []
    for p in sorted(folder.iterdir()):
        if p.suffix in (".log", ".txt", ".md") and p.is_file():
            texts.append((p.name, p.read_text(errors="replace")[:400_000]))
    for pattern, variant in _VARIANT_HINTS:
        for name, text in texts:
            m = pattern.search(text)
            if m:
                return variant, f"{name} mentions {m.group(0)!r}"
    return "sp1024", "no hint in logs/README; the challenge default sp1024 assumed"


def claims_from_submission_json(folder: Path) -> list[SeedClaim]:
    """Per-seed claims from an upstream submission.json (via the CORE-REC normaliser when present)."""
    path = folder / "submission.json"
    if not path.exists():
        return []
    try:
        from harness.core.legacy_record import LegacyRecord
        rec = LegacyRecord.from_path(path)
        seeds = getattr(rec, "seeds", None) or []
        out = []
        for s in seeds:
            get = (lambda k: s.get(k)) if isinstance(s, dict) else (lambda k: getattr(s, k, None))
            if get("seed") is None:
                continue
            out.append(SeedClaim(seed=int(get("seed")), val_loss=get("val_loss"), val_bpb=get("val_bpb"),
                                 bytes_total=get("bytes_total") or get("artifact_bytes"), steps=get("steps")))
        if out:
            return out
    except Exception:  # noqa: BLE001 - the normaliser is optional here; fall back to the raw file
        pass
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    seeds = data.get("seed_results") if isinstance(data.get("seed_results"), dict) else data.get("seeds")
    out = []
    if isinstance(seeds, dict):
        for k, v in seeds.items():
            if isinstance(v, dict) and str(k).lstrip("-").isdigit():
                out.append(SeedClaim(seed=int(k), val_loss=v.get("val_loss"), val_bpb=v.get("val_bpb"),
                                     bytes_total=v.get("bytes_total") or v.get("artifact_bytes"), steps=v.get("steps")))
    elif isinstance(seeds, list) and all(isinstance(x, int) for x in seeds) and len(seeds) == 1:
        out.append(SeedClaim(seed=seeds[0], val_loss=data.get("val_loss"), val_bpb=data.get("val_bpb"),
                             bytes_total=data.get("bytes_total")))
    return out


def infer_manifest(folder: Path, name: str | None = None) -> tuple[Manifest, list[str]]:
    if not (folder / "train_gpt.py").exists():
        raise UsageError(f"{folder} has neither {MANIFEST_NAME} nor train_gpt.py.",
                         hint="Point at a records folder, a submissions/NAME entry or github:openai/parameter-golf#N.")
    variant, why = guess_variant(folder)
    m = Manifest(name=name or folder.name, folder=".", entry="train_gpt.py", data=variant, nproc=8,
                 claims=claims_from_submission_json(folder))
    notes = [f"no {MANIFEST_NAME}: entry train_gpt.py, nproc 8, default env; data variant {variant} ({why})"]
    return m, notes


# ------------------------------------------------------------------------ resolve

def _resolve_pr(repo_name: str, pr: int, sha: str | None, source_repo: str | None,
                folder_hint: str | None = None) -> tuple[Path, dict, list[str]]:
    git_dir = open_source_repo(source_repo, pr, repo_name)
    head_ref = f"refs/pull/{pr}/head"
    head = str(run_git(git_dir, "rev-parse", "--verify", (sha or head_ref) + "^{commit}")).strip()
    if sha and not head.startswith(sha.lower()):
        raise UsageError(f"{sha} is not a commit in {git_dir}.")
    notes: list[str] = []
    if folder_hint and folder_hint != ".":
        folder = folder_hint.strip("/")
    else:
        folder, notes = find_pr_folder(git_dir, head)
    dest = cache_root() / "sources" / f"pr{pr}-{head[:12]}"
    local = export_folder(git_dir, head, folder, dest)
    origin = {"kind": "pr", "repo": repo_name, "pr": pr, "sha": head, "records_folder": folder,
              "source_repo": str(source_repo or git_dir)}
    return local, origin, notes


def resolve(ref: str, source_repo: str | None = None) -> ResolvedSubmission:
    """Resolve a submission reference (see the module docstring)."""
    m = PR_REF.match(ref.strip())
    if m:
        pr = int(m.group("num"))
        local, origin, notes = _resolve_pr(m.group("repo"), pr, m.group("sha"), source_repo)
        manifest, inf_notes = infer_manifest(local, name=f"pr{pr}")
        manifest.source = ref
        manifest.folder = origin["records_folder"]
        return ResolvedSubmission(f"pr{pr}", local, manifest, origin, notes + inf_notes)

    path = Path(ref).expanduser()
    if not path.exists() and not path.is_absolute():
        path = registry_entry(ref) or path
    if not path.is_dir():
        raise UsageError(f"{ref!r} is neither a folder nor github:openai/parameter-golf#N[@sha].",
                         hint="Examples: submissions/reference, ./records/track_10min_16mb/X, github:openai/parameter-golf#2014.")
    path = path.resolve()
    manifest_path = path / MANIFEST_NAME
    if manifest_path.exists():
        manifest = load_manifest(manifest_path)
        pm = PR_REF.match(manifest.source) if manifest.source not in ("local", "") else None
        if pm:
            local, origin, notes = _resolve_pr(pm.group("repo"), int(pm.group("num")), pm.group("sha"),
                                               source_repo, folder_hint=manifest.folder)
            origin["manifest"] = str(manifest_path)
            return ResolvedSubmission(manifest.name, local, manifest, origin, notes)
        folder = (path / manifest.folder).resolve()
        if not (folder / manifest.entry).exists():
            raise UsageError(f"{manifest_path}: entry {manifest.entry} not found in {folder}.")
        return ResolvedSubmission(manifest.name, folder, manifest,
                                  {"kind": "registry", "path": str(path), "manifest": str(manifest_path)})
    manifest, notes = infer_manifest(path)
    return ResolvedSubmission(manifest.name, path, manifest, {"kind": "local", "path": str(path)}, notes)
