"""Submission records: the strict schema for records we write, and finding record files.

Records the harness writes are validated against
``schemas/submission-v1.schema.json`` (draft 2020-12, strict, with a required
``verification`` block); :func:`check_legacy_subset` checks the minimal
fields every upstream record is expected to carry. Upstream records are read
through :class:`harness.core.legacy_record.LegacyRecord`.

Torch-free and independent of the rest of ``harness`` (it lives in core).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from harness.core import schema

SCHEMA_PACKAGE = "harness.core.schemas"  # package data, read by harness.core.schema
RECORD_SCHEMA_V1 = "submission-v1.schema.json"
RECORD_SCHEMA_LEGACY = "submission-legacy.schema.json"

# Written into a records folder exported from a mirror that lacks some of its blobs: {"commit", "missing": [{path}]}
MISSING_BLOBS_FILE = ".harness-missing-blobs.json"
TRACK_RECORD = "10min_16mb"
TRACK_NON_RECORD = "non_record_16mb"


class RecordInvalid(ValueError):
    """A record we were asked to write does not meet the v1 schema."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors[:5]) + (f" (+{len(errors) - 5} more)" if len(errors) > 5 else ""))
        self.errors = errors


def validate_record(obj: Any) -> list[str]:
    """Errors of ``obj`` against the strict v1 schema (empty list = valid)."""
    return schema.errors(schema.packaged_validator(SCHEMA_PACKAGE, RECORD_SCHEMA_V1), obj)


def check_legacy_subset(obj: Any) -> list[str]:
    """Errors of ``obj`` against the minimal upstream subset (name, author, github_id, date, val_bpb...)."""
    return schema.errors(schema.packaged_validator(SCHEMA_PACKAGE, RECORD_SCHEMA_LEGACY), obj)


def is_v1(obj: Any) -> bool:
    """Records we write carry a ``verification`` block; upstream ones never do."""
    return isinstance(obj, dict) and "verification" in obj


def _umask() -> int:
    mask = os.umask(0)  # the only way to read it; set back at once
    os.umask(mask)
    return mask


def write_record(path: str | os.PathLike, obj: dict[str, Any]) -> Path:
    """Validate against v1, then write atomically (temp file in the same dir + rename)."""
    errors = validate_record(obj)
    if errors:
        raise RecordInvalid(errors)
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    try:
        # mkstemp makes the file 0600; a record is for reviewers, so it gets the mode open() would give it
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, indent=2, sort_keys=False)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return dest


def find_submission_files(paths: list[str | os.PathLike]) -> list[Path]:
    """Expand files/folders into submission*.json files (folders searched recursively), sorted."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("submission*.json") if q.is_file()))
        else:
            out.append(p)
    seen: set[Path] = set()
    uniq = []
    for q in out:
        if q not in seen:
            seen.add(q)
            uniq.append(q)
    return uniq
