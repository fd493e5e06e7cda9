"""The local, trust-on-first-use data manifest ``harness-manifest.json``.

No upstream per-shard hashes are published for the challenge's datasets, so
the harness records what it saw the first time (sha256, size and header token
count of every file, the resolved hub revision) and later checks against that.
``fetch`` writes it after a download; ``lock`` writes it for data obtained any
other way; the embedded builder writes it for what it builds.

Hashing is parallel across files with threads: ``hashlib`` releases the GIL
while it digests buffers larger than 2 KiB, so N threads hash N files on N
cores (measured against ``sha256sum`` by bench/data_verify.py).
"""

from __future__ import annotations

import hashlib
import json
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from harness.core import shards
from harness.core.digest import sha256_file

MANIFEST_NAME = "harness-manifest.json"
SCHEMA = "harness-data-manifest/1"


def default_jobs() -> int:
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def sha256_files(
    paths: Iterable[Path], jobs: int | None = None, progress: Callable[[int], None] | None = None
) -> dict[Path, str | OSError]:
    """sha256 of many files in parallel; an unreadable file maps to its OSError."""
    paths = list(paths)
    # Biggest first so one large file does not start last and run alone.
    order = sorted(paths, key=lambda p: -(p.stat().st_size if p.exists() else 0))

    def one(p: Path) -> tuple[Path, str | OSError]:
        try:
            return p, sha256_file(p, progress)
        except OSError as exc:
            return p, exc

    with ThreadPoolExecutor(max_workers=jobs or default_jobs()) as pool:
        return dict(pool.map(one, order))


@dataclass
class FileEntry:
    size: int
    sha256: str
    kind: str  # "train" | "val" | "val_bytes" | "tokenizer" | "other"
    tokens: int | None = None  # header token count for shards
    remote_path: str | None = None
    upstream_sha256: str | None = None  # the hub's LFS sha256 when it publishes one

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Manifest:
    variant: str | None
    files: dict[str, FileEntry] = field(default_factory=dict)  # key: path relative to the dataset dir
    source: dict = field(default_factory=dict)  # kind, repo_id, revision_requested, revision_resolved, endpoint
    created_at: str = ""
    observed: dict = field(default_factory=dict)  # val_shards, val_tokens, val_targets, val_bytes_sum ...
    figures: dict = field(default_factory=dict)  # builder-supplied figures (embedded variant)

    def to_json(self) -> dict:
        return {
            "schema": SCHEMA,
            "variant": self.variant,
            "created_at": self.created_at,
            "source": self.source,
            "observed": self.observed,
            "figures": self.figures,
            "files": {k: self.files[k].to_json() for k in sorted(self.files)},
        }

    @classmethod
    def from_json(cls, obj: dict) -> "Manifest":
        if obj.get("schema") != SCHEMA:
            raise ValueError(f"unknown manifest schema {obj.get('schema')!r} (expected {SCHEMA})")
        files = {k: FileEntry(**v) for k, v in obj.get("files", {}).items()}
        return cls(
            variant=obj.get("variant"),
            files=files,
            source=obj.get("source", {}),
            created_at=obj.get("created_at", ""),
            observed=obj.get("observed", {}),
            figures=obj.get("figures", {}),
        )


def content_sha256(manifest: Manifest) -> str:
    """sha256 of what the manifest vouches for: every field but its creation time. Two machines that
    fetched or built the same files agree on it, where the sha256 of the file itself differs."""
    body = {k: v for k, v in manifest.to_json().items() if k != "created_at"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def now_utc() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def manifest_path(dataset_dir: str | os.PathLike) -> Path:
    return Path(dataset_dir) / MANIFEST_NAME


def read_manifest(dataset_dir: str | os.PathLike) -> Manifest | None:
    """The manifest in ``dataset_dir``, None if absent; ValueError if unreadable."""
    p = manifest_path(dataset_dir)
    if not p.exists():
        return None
    try:
        return Manifest.from_json(json.loads(p.read_text()))
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise ValueError(f"{p}: unreadable manifest ({exc})") from None


def write_manifest(dataset_dir: str | os.PathLike, manifest: Manifest) -> Path:
    """Write atomically (a crash never leaves half a manifest that would vouch for nothing)."""
    p = manifest_path(dataset_dir)
    tmp = p.with_name(p.name + ".partial")
    tmp.write_text(json.dumps(manifest.to_json(), indent=2) + "\n")
    os.replace(tmp, p)
    return p


def classify(path: Path) -> str:
    name = shards.parse_name(path)
    if name is not None:
        return name.kind
    if path.suffix in (".model", ".vocab", ".json") and path.name != MANIFEST_NAME:
        return "tokenizer"
    return "other"


def entry_for(path: Path, sha256: str, **extra) -> FileEntry:
    kind = classify(path)
    tokens = shards.read_header(path).num_tokens if kind in ("train", "val", "val_bytes") else None
    return FileEntry(size=path.stat().st_size, sha256=sha256, kind=kind, tokens=tokens, **extra)


def observe_val(dataset_dir: str | os.PathLike) -> dict:
    """Validation totals as found on disk: shard count, raw tokens N, targets N-1, sidecar byte sum."""
    d = Path(dataset_dir)
    vals = shards.list_shards(d, "val")
    tokens = sum(shards.read_header(p).num_tokens for p in vals)
    out = {"val_shards": len(vals), "val_tokens": tokens, "val_targets": max(tokens - 1, 0)}
    sidecars = shards.list_shards(d, "val_bytes")
    if sidecars:
        out["val_bytes_sum"] = int(sum(int(shards.read_tokens(p).sum(dtype="u8")) for p in sidecars))
    train = shards.list_shards(d, "train")
    out["train_shards"] = len(train)
    out["train_tokens"] = sum(shards.read_header(p).num_tokens for p in train)
    return out
