"""Records folder -> the upstream PR that added it, and the day a PR was opened (committed data:
pr_index.json's and pr_dates.json's ``derivation``).

The challenge accepted records in PR creation order and the typed ``date``
of a submission.json is whatever its author wrote, so the leaderboard orders
by this index.  The JSON is produced by ``bench/derive_pr_index.py`` from a
mirror of openai/parameter-golf and committed, so nothing here needs git.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

PR_INDEX_FILE = "pr_index.json"  # package data of harness.core


@lru_cache(maxsize=1)
def load_pr_index() -> dict[str, Any]:
    """The whole index document (``source``, ``ref_commit``, ``derivation``, ``folders``)."""
    return json.loads(resources.files(__package__).joinpath(PR_INDEX_FILE).read_text(encoding="utf-8"))


def _entry(folder: str) -> dict[str, Any] | None:
    name = Path(str(folder).rstrip("/")).name  # accept a path or a bare folder name
    return load_pr_index()["folders"].get(name)


def pr_for_folder(folder: str) -> int | None:
    """PR number that added ``folder`` (a name or path); None when unknown or part of the launch snapshot."""
    e = _entry(folder)
    return e["pr"] if e else None


def pr_entry(folder: str) -> dict[str, Any] | None:
    """Full index entry: pr, method, other candidates, landing commit and date, pr_order, merge_order."""
    e = _entry(folder)
    return dict(e) if e else None


def in_index(folder: str) -> bool:
    return _entry(folder) is not None


# ----------------------------------------------------------------------------- opening days

PR_DATES_PATH = Path(__file__).resolve().parent / "pr_dates.json"
_FOLDER_DAY = re.compile(r"^(\d{4}-\d{2}-\d{2})_")


@lru_cache(maxsize=1)
def _pr_dates() -> dict[str, str]:
    return json.loads(PR_DATES_PATH.read_text(encoding="utf-8"))["opened"]


def pr_opened_on(pr: int) -> str | None:
    """ISO day PR ``pr`` was opened (``bench/derive_pr_dates.py``: its oldest own commit); None if unknown."""
    return _pr_dates().get(str(pr))


def opened_on(folder: str, pr: int | None = None) -> tuple[str | None, str]:
    """(ISO day, how it was found) on which the PR that added ``folder`` was opened.

    The PR's own day first (``pr`` given, or the index's PR for the folder); else the day the
    author typed into the folder name (``2026-03-19_Name``: written when the folder was made,
    so close to the opening); else (None, "unknown"): judged by every rule.
    """
    number = pr if pr is not None else pr_for_folder(folder)
    if number is not None:
        day = pr_opened_on(number)
        if day:
            return day, f"PR #{number} opened (pr_dates.json)"
    m = _FOLDER_DAY.match(Path(str(folder).rstrip("/")).name)
    if m:
        return m.group(1), "the day in the folder name"
    return None, "unknown"
