"""Prove a local dataset directory is intact, and lock one obtained otherwise.

``verify_dataset`` checks every shard header (magic, version, size agrees with
the count), that each validation byte sidecar has exactly as many entries as
its token shard, every file's sha256 against ``harness-manifest.json``, and the
validation token total against the registry's canonical figure. Each problem
is one line naming the file. ``lock_dataset`` writes the trust-on-first-use
manifest for data that did not come through ``harness data fetch``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import registry, shards
from harness.data import manifest as mf
from harness.data.progress import ProgressFactory, open_bar
from harness.errors import EnvironmentProblem, UsageError


@dataclass
class VerifyReport:
    directory: Path
    variant: str | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # informative lines (never a failure)
    val_shards: int = 0
    val_tokens: int = 0
    train_shards: int = 0
    train_tokens: int = 0
    val_bytes_sum: int | None = None
    files_hashed: int = 0
    bytes_hashed: int = 0
    hash_seconds: float = 0.0
    manifest_found: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def val_targets(self) -> int:
        return max(self.val_tokens - 1, 0)


def _figures_for(variant: registry.Variant | None, m: mf.Manifest | None) -> dict[str, registry.Figure]:
    """Registry figures, or for builder-made variants (embedded) the manifest's own."""
    if variant is not None and not variant.figures_from_manifest:
        return variant.figures
    if m is not None and m.figures:
        return {
            k: registry.Figure(value=v, exact=True, provenance="measured", source="the builder's manifest")
            for k, v in m.figures.items()
            if isinstance(v, (int, float))
        }
    return variant.figures if variant is not None else {}


def _hash(files: Any, total: int, jobs: int | None, progress: ProgressFactory | None) -> dict:
    """sha256 of ``files`` on ``jobs`` workers, reported to ``progress`` (harness.ui.byte_bar) if given."""
    with open_bar(progress, "sha256", total) as bar:
        return mf.sha256_files(files, jobs, bar.advance)


def _resolve_variant(name: str | None, m: mf.Manifest | None) -> registry.Variant | None:
    name = name or (m.variant if m else None)
    if not name:
        return None
    try:
        return registry.get_variant(name)
    except registry.UnknownVariant as exc:
        raise UsageError(str(exc)) from None


def _holds_a_dataset(d: Path) -> bool:
    return mf.manifest_path(d).is_file() or any(shards.parse_name(p) is not None for p in d.iterdir())


def datasets_under(directory: str | os.PathLike) -> list[Path]:
    """The dataset directories ``directory`` stands for: itself when it holds shards or a manifest,
    else every such folder in ``directory/datasets/`` (the data root that ``data fetch`` and
    ``data build-embedded --dest`` fill) or directly inside ``directory`` (that ``datasets/`` folder).
    Empty when there is none: the caller then checks ``directory`` itself and reports what is missing."""
    d = Path(directory)
    if not d.is_dir() or _holds_a_dataset(d):
        return [d] if d.is_dir() else []
    for parent in (d / "datasets", d):
        found = sorted(p for p in parent.iterdir() if p.is_dir() and _holds_a_dataset(p)) if parent.is_dir() else []
        if found:
            return found
    return []


def verify_dataset(
    directory: str | os.PathLike,
    variant: str | None = None,
    jobs: int | None = None,
    progress: ProgressFactory | None = None,
) -> VerifyReport:
    d = Path(directory)
    if not d.is_dir():
        raise EnvironmentProblem(f"dataset directory {d} does not exist",
                                 hint="Fetch it with `harness data fetch VARIANT` or build it with `harness data build-embedded`.")
    rep = VerifyReport(directory=d, variant=None)
    problem = rep.problems.append

    try:
        m = mf.read_manifest(d)
    except ValueError as exc:
        problem(f"{mf.MANIFEST_NAME}: {exc}")
        m = None
    rep.manifest_found = m is not None
    v = _resolve_variant(variant, m)
    rep.variant = v.name if v else None
    if m is not None and variant and m.variant and m.variant != variant:
        problem(f"{mf.MANIFEST_NAME}: records variant {m.variant!r} but {variant!r} was asked for")

    # 1. Names: anything that looks like a shard but is not canonically named is a trap for globs.
    for p in sorted(d.iterdir()):
        if p.name.startswith("fineweb_") and p.suffix == ".bin" and shards.parse_name(p) is None:
            problem(f"{p.name}: not a canonical shard name (fineweb_{{train,val,val_bytes}}_NNNNNN.bin)")

    # 2. Headers.
    counts: dict[Path, int] = {}
    for kind in ("train", "val", "val_bytes"):
        for p in shards.list_shards(d, kind):
            try:
                counts[p] = shards.read_header(p).num_tokens
            except shards.ShardError as exc:
                problem(f"{p.name}: {str(exc).removeprefix(str(p) + ': ')}")
    vals = shards.list_shards(d, "val")
    trains = shards.list_shards(d, "train")
    sidecars = shards.list_shards(d, "val_bytes")
    rep.val_shards, rep.train_shards = len(vals), len(trains)
    rep.val_tokens = sum(counts.get(p, 0) for p in vals)
    rep.train_tokens = sum(counts.get(p, 0) for p in trains)
    if not vals:
        problem(f"{d.name}: no validation shards (fineweb_val_NNNNNN.bin)")
    if v is not None and vals and len(vals) != v.val_shards and not v.figures_from_manifest:
        problem(f"{d.name}: {len(vals)} validation shards, variant {v.name} has {v.val_shards}")
    if v is not None and len(trains) > v.max_train_shards and not v.figures_from_manifest:
        rep.notes.append(f"{len(trains)} train shards exceed the registry's maximum {v.max_train_shards} for {v.name}")

    # 3. Sidecars: one per validation shard, same length.
    # A build that says it wrote no sidecar (an embedded build for a plain tokenizer) needs none.
    built_without = m is not None and m.source.get("sidecar") is False
    want_sidecars = bool(sidecars) or (v is not None and v.has_sidecars and not built_without)
    if want_sidecars:
        val_indices = {shards.parse_name(p).index for p in vals}
        for s in sidecars:
            if shards.parse_name(s).index not in val_indices:
                problem(f"{s.name}: byte sidecar without a validation shard {shards.shard_filename('val', shards.parse_name(s).index)}")
        total = 0
        for p in vals:
            s = shards.sidecar_for(p)
            if not s.exists():
                problem(f"{s.name}: missing byte sidecar for {p.name}")
                continue
            if p in counts and s in counts:
                if counts[p] != counts[s]:
                    problem(f"{s.name}: {counts[s]:,} byte entries but {p.name} has {counts[p]:,} tokens")
                total += int(shards.read_tokens(s).sum(dtype="u8"))
        rep.val_bytes_sum = total

    # 4. sha256 against the manifest, in parallel.
    if m is None:
        if not any(x.startswith(f"{mf.MANIFEST_NAME}:") for x in rep.problems):
            rep.notes.append(f"no {mf.MANIFEST_NAME}: sha256 not checked (record one with `harness data lock {d}`)")
    else:
        on_disk = {p.name for p in (*trains, *vals, *sidecars)}
        for name in sorted(on_disk - set(m.files)):
            problem(f"{name}: present but not in {mf.MANIFEST_NAME} (refresh it with `harness data lock {d}`)")
        to_hash: dict[Path, mf.FileEntry] = {}
        for rel, entry in sorted(m.files.items()):
            p = d / rel
            if not p.exists():
                problem(f"{rel}: listed in {mf.MANIFEST_NAME} but missing")
            elif p.stat().st_size != entry.size:
                problem(f"{rel}: {p.stat().st_size:,} bytes, the manifest recorded {entry.size:,}")
            else:
                to_hash[p] = entry
        rep.bytes_hashed = sum(e.size for e in to_hash.values())
        t0 = time.perf_counter()
        digests = _hash(to_hash, rep.bytes_hashed, jobs, progress)
        rep.hash_seconds = time.perf_counter() - t0
        rep.files_hashed = len(digests)
        for p, entry in sorted(to_hash.items()):
            got = digests[p]
            rel = os.path.relpath(p, d)
            if isinstance(got, OSError):
                problem(f"{rel}: unreadable ({got.strerror})")
            elif got != entry.sha256:
                problem(f"{rel}: sha256 {got[:16]}... differs from the manifest's {entry.sha256[:16]}... (the file changed)")
            elif entry.upstream_sha256 and got != entry.upstream_sha256:
                problem(f"{rel}: sha256 differs from the hub's published LFS sha256 {entry.upstream_sha256[:16]}...")

    # 5. Canonical figures.
    figs = _figures_for(v, m)
    if vals and "val_tokens" in figs:
        ok, msg = figs["val_tokens"].check(rep.val_tokens)
        if ok is False:
            problem(f"{d.name}: validation tokens {msg}")
        else:
            rep.notes.append(f"validation tokens {msg}")
    if rep.val_bytes_sum is not None and "val_bytes" in figs:
        ok, msg = figs["val_bytes"].check(rep.val_bytes_sum)
        if ok is False:
            problem(f"{d.name}: validation byte sidecar sum {msg}")
        else:
            rep.notes.append(f"validation byte sidecar sum {msg}")
    if v is None:
        rep.notes.append("variant unknown (no manifest, no --variant): canonical figures not checked")
    return rep


def lock_dataset(
    directory: str | os.PathLike,
    variant: str | None = None,
    tokenizer: str | os.PathLike | None = None,
    jobs: int | None = None,
    source: dict | None = None,
    figures: dict | None = None,
    progress: ProgressFactory | None = None,
) -> mf.Manifest:
    """Write (or refresh) ``harness-manifest.json``: the sha256 of every file, trusted from now on.

    Headers must be valid first: locking a broken shard would vouch for it.
    ``tokenizer`` (or the variant's tokenizer in the organiser's layout
    ``<dest>/tokenizers/``) is hashed too. Builders pass ``figures`` (e.g. the
    embedded variant's val_tokens/val_bytes) and ``source``.
    """
    d = Path(directory)
    if not d.is_dir():
        raise EnvironmentProblem(f"dataset directory {d} does not exist")
    inside = [p for p in datasets_under(d) if p != d]
    if inside:  # a data root: locking it would record no shard and vouch for nothing
        raise UsageError(f"{d} is a data root holding {len(inside)} dataset(s), not a dataset directory.",
                         hint="Lock one of: " + ", ".join(str(p) for p in inside) + ".")
    old = None
    try:
        old = mf.read_manifest(d)
    except ValueError:
        pass
    v = _resolve_variant(variant, old)
    files = [p for p in sorted(d.iterdir()) if p.is_file() and p.name != mf.MANIFEST_NAME
             and not p.name.endswith((".partial", ".incomplete"))]
    bad = []
    for p in files:
        if shards.parse_name(p) is not None:
            try:
                shards.read_header(p)
            except shards.ShardError as exc:
                bad.append(str(exc))
    if bad:
        raise UsageError(f"refusing to lock {d}: {'; '.join(bad)}", hint="Re-fetch the named files first.")
    tok = Path(tokenizer) if tokenizer else None
    if tok is None and v is not None:
        cand = d.parent.parent / "tokenizers" / v.tokenizer_file
        tok = cand if cand.exists() else None
    if tok is not None:
        if not tok.exists():
            raise UsageError(f"tokenizer {tok} does not exist")
        files.append(tok)
    total = sum(p.stat().st_size for p in files)
    digests = _hash(files, total, jobs, progress)
    m = mf.Manifest(variant=v.name if v else None, created_at=mf.now_utc())
    m.source = source or {"kind": "lock", "note": "trust on first use: hashes recorded from the files as found"}
    if old is not None and source is None and old.source:
        m.source = {**old.source, "relocked_at": m.created_at}
    for p in files:
        got = digests[p]
        if isinstance(got, OSError):
            raise EnvironmentProblem(f"cannot read {p}: {got.strerror}")
        rel = os.path.relpath(p, d).replace(os.sep, "/")
        prev = old.files.get(rel) if old else None
        m.files[rel] = mf.entry_for(p, got, remote_path=prev.remote_path if prev else None,
                                    upstream_sha256=prev.upstream_sha256 if prev else None)
        if m.files[rel].kind == "other":
            del m.files[rel]  # READMEs and the like are not data
    m.observed = mf.observe_val(d)
    m.figures = figures if figures is not None else (old.figures if old else {})
    mf.write_manifest(d, m)
    return m


__all__ = ["VerifyReport", "verify_dataset", "lock_dataset"]
