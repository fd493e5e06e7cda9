#!/usr/bin/env python3
"""Derive harness/core/pr_index.json (records folder -> the PR that added it) from a local mirror.

Needs a bare mirror of openai/parameter-golf with every PR head fetched as
``refs/pull/N/head`` (default: /work/.mirror/openai+parameter-golf/repo), so it
is a script, not a test.  It prints what it found and writes the JSON.

For every records folder on ``main`` (``records/<track>/<folder>``):

1. ``adding commit`` C = the oldest commit on main that added a file under the
   folder (``git log main --diff-filter=A``).
2. ``landing commit`` M = the first commit on main's first-parent line that
   contains C (C itself when it was pushed or squashed straight onto main).
3. Evidence, strongest first:
   a. ``merge_commit``: M's subject is "Merge pull request #N ..." -> N;
   b. ``squash_subject``: M's subject ends with "(#N)" (GitHub squash merge);
   c. ``pr_adding_folder``: a PR ADDS the folder when its head has the
      folder's submission.json (or first file) and its merge-base with main
      does not (heads that merged main later only inherited it).  This covers
      rebase, squash and fast-forward merges.  Among the adders, the ones that
      add the fewest records folders (the README asks for one per PR; bulk
      branches copy many), then the lowest number (GitHub numbers PRs in
      creation order).  Computed for every folder as a cross-check.
   d. C is main's root commit (the launch snapshot) -> null.
   The index keeps every method's answer and says which one was used.

``pr_order`` ranks the folders by PR number (= PR creation order); ``merge_order``
ranks them by the landing commit's position on main's first-parent line.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

DEFAULT_MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")
OUT = Path(__file__).resolve().parents[1] / "harness" / "core" / "pr_index.json"
EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
SQUASH_RE = re.compile(r"\(#(\d+)\)\s*$")  # GitHub's squash-merge subject ends with "(#N)"
MERGE_RE = re.compile(r"^Merge pull request #(\d+)\b")


def git(mirror: Path, *args: str, input: str | None = None) -> str:
    return subprocess.run(
        ["git", "-C", str(mirror), *args], check=True, capture_output=True, text=True, input=input
    ).stdout


def _present(mirror: Path, revs: list[str], path: str) -> list[bool]:
    """Whether ``rev:path`` exists, for many revs at once (one cat-file process)."""
    query = "".join(f"{r}:{path}\n" if r else "0" * 40 + "\n" for r in revs)
    out = git(mirror, "cat-file", "--batch-check", input=query).splitlines()
    return [not line.endswith("missing") for line in out]


_ADDED_CACHE: dict[tuple[int, str], int] = {}


def _folders_added(mirror: Path, pr: int, base: str) -> int:
    """How many records folders the PR's head adds relative to ``base``."""
    key = (pr, base)
    if key not in _ADDED_CACHE:
        names = git(mirror, "diff", "--name-only", "--diff-filter=A", base, f"refs/pull/{pr}/head", "--", "records")
        _ADDED_CACHE[key] = len({"/".join(n.split("/")[:3]) for n in names.splitlines() if n.count("/") >= 3})
    return _ADDED_CACHE[key]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    ap.add_argument("--ref", default="main")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    m = args.mirror
    if not (m / "HEAD").exists() and not (m / ".git").exists():
        print(f"no git mirror at {m}", file=sys.stderr)
        return 3
    main_sha = git(m, "rev-parse", args.ref).strip()
    first_parent = git(m, "rev-list", "--first-parent", "--reverse", main_sha).split()
    fp_index = {c: i for i, c in enumerate(first_parent)}
    heads = sorted(
        (int(r.split("/")[2]), r)
        for r in git(m, "for-each-ref", "--format=%(refname)", "refs/pull/*/head").split()
    )
    pr_numbers = [n for n, _ in heads]
    print(f"mirror {m}: main {main_sha[:12]}, {len(first_parent)} first-parent commits, {len(heads)} PR heads")

    folders: list[tuple[str, str]] = []
    for track in git(m, "ls-tree", "--name-only", f"{main_sha}:records").split("\n"):
        if not track:
            continue
        for name in git(m, "ls-tree", "--name-only", f"{main_sha}:records/{track}").split("\n"):
            if name:
                folders.append((track, name))

    entries: dict[str, dict] = {}
    for track, name in folders:
        path = f"records/{track}/{name}"
        adds = git(m, "log", main_sha, "--diff-filter=A", "--format=%H", "--", path).split()
        c = adds[-1]
        landing = c if c in fp_index else None
        if landing is None:
            for fc in first_parent:  # oldest first
                if subprocess.run(["git", "-C", str(m), "merge-base", "--is-ancestor", c, fc]).returncode == 0:
                    landing = fc
                    break
        subject = git(m, "log", "-1", "--format=%s", landing).strip()
        landed_at = git(m, "log", "-1", "--format=%cI", landing).strip()
        methods: dict[str, int | None] = {}

        mm = MERGE_RE.match(subject)
        methods["merge_commit"] = int(mm.group(1)) if mm else None
        sq = SQUASH_RE.search(subject)
        methods["squash_subject"] = int(sq.group(1)) if sq else None

        files = [f for f in git(m, "ls-tree", "-r", "--name-only", f"{main_sha}:{path}").split("\n") if f]
        probe = f"{path}/" + ("submission.json" if "submission.json" in files else files[0])
        present = _present(m, [f"refs/pull/{n}/head" for n in pr_numbers], probe)
        with_folder = [n for n, ok in zip(pr_numbers, present) if ok]
        pos = fp_index[landing]
        before = first_parent[pos - 1] if pos > 0 else None  # main just before the folder landed
        after = first_parent[pos + 1] if pos + 1 < len(first_parent) else None
        inherited = set()
        if after:  # heads that contain main's next commit after the landing got the folder from main
            inherited = {
                int(r.split("/")[2])
                for r in git(m, "for-each-ref", "--contains", after, "--format=%(refname)", "refs/pull/*/head").split()
            }
        counts: dict[int, int] = {}
        if before:
            for n in with_folder:
                if n in inherited:
                    continue
                mb = subprocess.run(["git", "-C", str(m), "merge-base", before, f"refs/pull/{n}/head"],
                                    capture_output=True, text=True).stdout.strip()
                base = mb or EMPTY_TREE  # unrelated history: everything in the head counts as added
                if mb and _present(m, [base], probe)[0]:
                    continue
                counts[n] = _folders_added(m, n, base)
        # The README asks a PR to add one folder: a head that merged main at the landing point adds
        # this folder plus its own, a bulk branch adds many, the author adds (usually) just this one.
        if counts:
            fewest = min(counts.values())
            methods["pr_adding_folder"] = min(n for n, k in counts.items() if k == fewest)
        else:
            methods["pr_adding_folder"] = None
        cand_note = {str(n): k for n, k in sorted(counts.items())[:12]}

        if c == first_parent[0]:
            used, pr = "launch_snapshot", None
        else:
            used, pr = next(((k, v) for k, v in methods.items() if v is not None), ("none", None))
        disagree = sorted({v for v in methods.values() if v is not None} - ({pr} if pr else set()))
        entries[name] = {
            "track": track,
            "pr": pr,
            "method": used,
            "methods": methods,
            "other_candidates": disagree,
            "adding_commit": c,
            "landing_commit": landing,
            "landing_subject": subject,
            "landed_at": landed_at,
            "merge_position": fp_index[landing],
            "adders_folders_added": cand_note,
        }
        print(f"{name[:60]:60} PR {pr!s:>5}  via {used:26} {('others ' + str(disagree)) if disagree else ''}")

    with_pr = sorted((e["pr"], n) for n, e in entries.items() if e["pr"] is not None)
    for rank, (_, n) in enumerate(with_pr, start=1):
        entries[n]["pr_order"] = rank
    for n, e in entries.items():
        e.setdefault("pr_order", 0)  # launch snapshot: before every PR
    for rank, n in enumerate(sorted(entries, key=lambda n: (entries[n]["merge_position"], n)), start=1):
        entries[n]["merge_order"] = rank

    doc = {
        "source": "openai/parameter-golf",
        "ref": args.ref,
        "ref_commit": main_sha,
        "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "derivation": (
            "bench/derive_pr_index.py over a bare mirror with refs/pull/N/head. Per records folder on main: "
            "adding commit = oldest 'git log main --diff-filter=A -- records/<track>/<folder>'; landing commit = "
            "first commit on main's first-parent line containing it. PR, strongest evidence first: "
            "(a) merge_commit: landing commit subject 'Merge pull request #N'; "
            "(b) squash_subject: landing commit subject ends with '(#N)'; "
            "(c) pr_adding_folder (rebase/squash/fast-forward merges): PR heads that hold the folder's submission.json "
            "while their merge-base with main does not (so the PR added it rather than inheriting it); among them the "
            "ones adding the fewest records folders, then the lowest number; "
            "null for folders of the launch snapshot. pr_order ranks by PR number (GitHub numbers PRs in creation "
            "order; 0 = launch snapshot); merge_order ranks by landing position on main."
        ),
        "folders": dict(sorted(entries.items())),
    }
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out} ({len(entries)} folders, {len(with_pr)} with a PR)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
