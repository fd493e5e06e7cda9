"""PR number -> the day it was opened (approximately), for judging a PR by the rules in force then.

    python bench/derive_pr_dates.py [MIRROR] > harness/core/pr_dates.json

Over a bare mirror of openai/parameter-golf with ``refs/pull/N/head``: the author date
(UTC day) of the oldest commit of the PR head that main does not contain; for a head that
main contains (merged by a merge commit or fast-forward), the oldest commit the merge brought
in (else the head commit's author date).
A PR is opened after its first commit is written, so the day is the opening day or earlier,
unless the branch was rebased (then its commits are re-dated, later). A running bound over
PR numbers is not used: one rebased low-numbered PR would push every later PR's day forward.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], capture_output=True, text=True).stdout


def utc_day(iso: str) -> str:
    return datetime.fromisoformat(iso.strip()).astimezone(timezone.utc).date().isoformat()


def main() -> None:
    repo = Path(sys.argv[1]) if len(sys.argv) > 1 else MIRROR
    heads = {}
    for line in git(repo, "for-each-ref", "--format=%(refname)", "refs/pull").split():
        m = re.fullmatch(r"refs/pull/(\d+)/head", line)
        if m:
            heads[int(m.group(1))] = line
    dates, methods = {}, {}
    for n in sorted(heads):
        own = git(repo, "log", "--format=%aI", "--reverse", heads[n], "^refs/heads/main").split()
        if own:
            dates[str(n)], methods[str(n)] = utc_day(own[0]), "oldest_own_commit"
            continue
        # merged by a merge commit or fast-forward: the PR's commits are those the merge brought in
        merges = git(repo, "rev-list", "--ancestry-path", "--first-parent", "--reverse",
                     f"{heads[n]}..refs/heads/main").split()
        brought = git(repo, "log", "--format=%aI", "--reverse", heads[n], f"^{merges[0]}^1").split() if merges else []
        if brought:
            dates[str(n)], methods[str(n)] = utc_day(brought[0]), "oldest_merged_commit"
            continue
        head = git(repo, "log", "-1", "--format=%aI", heads[n]).strip()
        if head:
            dates[str(n)], methods[str(n)] = utc_day(head), "head_commit"
    main_sha = git(repo, "rev-parse", "refs/heads/main").strip()
    doc = {"source": "openai/parameter-golf", "main_commit": main_sha,
           "derivation": __doc__.strip().split("\n\n")[2].replace("\n", " "),
           "method_counts": {m: list(methods.values()).count(m) for m in sorted(set(methods.values()))},
           "opened": dates}
    json.dump(doc, sys.stdout, indent=0, sort_keys=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
