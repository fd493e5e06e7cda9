"""Records folder -> the upstream PR that added it (committed data, see pr_index.json's ``derivation``).

The challenge accepted records in PR creation order and the typed ``date``
of a submission.json is whatever its author wrote, so the leaderboard orders
by this index.  The JSON is produced by ``bench/derive_pr_index.py`` from a
mirror of openai/parameter-golf and committed, so nothing here needs git.
"""

from __future__ import annotations

import json
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
