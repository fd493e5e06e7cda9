"""Train/validation overlap audit: do validation documents also occur in the training shards?

Why: a data-preparation default once put 80% of the validation documents into
the training set (PGOLF_FACTS.md §1.6, §5.6) and reviewers settled it by
reading folder names. This checks it mechanically on the tokens themselves.

How: a document is the tokens after one BOS up to the next BOS (or the end of
the stream); the stream is the concatenation of a split's shards in index
order, so documents that straddle shard boundaries are joined. Each validation
document is keyed by (length, blake2b-128 of its little-endian uint16 tokens).
The training shards are then streamed through fixed-size memory-mapped chunks;
only training documents whose length equals some validation document's length
are hashed (vectorised filter), plus the one document per chunk boundary that
is still open. Memory: the validation keys plus one chunk.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from harness.core import shards
from harness.data.progress import ProgressFactory, open_bar
from harness.errors import EnvironmentProblem

DEFAULT_CHUNK_TOKENS = 1 << 24  # 32 MiB of uint16 per read
DIGEST_SIZE = 16


@dataclass(frozen=True)
class DocRef:
    shard: str  # file name of the shard holding the document's BOS
    offset: int  # token offset of that BOS inside the shard
    length: int  # tokens after the BOS


@dataclass
class OverlapExample:
    val: DocRef
    val_index: int  # 0-based document index in the validation stream
    train: DocRef


@dataclass
class AuditReport:
    data_dir: Path
    train_dir: Path
    bos_id: int
    min_tokens: int
    val_shards: int = 0
    val_tokens: int = 0
    val_docs: int = 0  # documents with at least min_tokens tokens (the ones audited)
    val_docs_short: int = 0  # shorter documents, not audited
    val_unique: int = 0  # distinct validation documents among the audited ones
    train_shards: int = 0
    train_tokens: int = 0
    train_docs: int = 0
    train_docs_hashed: int = 0
    overlap_docs: int = 0  # audited validation documents that also occur in training
    overlap_unique: int = 0
    examples: list[OverlapExample] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def fraction(self) -> float:
        return self.overlap_docs / self.val_docs if self.val_docs else 0.0

    @property
    def clean(self) -> bool:
        return self.overlap_docs == 0

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in (
            "val_shards", "val_tokens", "val_docs", "val_docs_short", "val_unique", "train_shards", "train_tokens",
            "train_docs", "train_docs_hashed", "overlap_docs", "overlap_unique", "bos_id", "min_tokens", "notes")}
        d.update(data_dir=str(self.data_dir), train_dir=str(self.train_dir), fraction=self.fraction,
                 clean=self.clean, seconds=round(self.seconds, 3),
                 examples=[{"val_index": e.val_index, "val": e.val.__dict__, "train": e.train.__dict__}
                           for e in self.examples])
        return d


@dataclass
class _Open:
    shard: str
    offset: int
    length: int
    hasher: "hashlib._Hash"


def _digest(arr: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(arr, dtype="<u2").tobytes(), digest_size=DIGEST_SIZE).digest()


def iter_documents(
    paths: list[Path],
    bos_id: int,
    *,
    want_lengths: np.ndarray | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    advance: Callable[[int], None] | None = None,
    headless: list[int] | None = None,
    counts: dict[str, int] | None = None,
) -> Iterator[tuple[DocRef, bytes | None]]:
    """Every document of the stream ``paths`` as (where, digest). With ``want_lengths`` only
    documents of those lengths are hashed and yielded (plus any that crossed a chunk edge);
    ``counts["docs"]`` counts all of them. Tokens before the stream's first BOS belong to no
    document; their count is appended to ``headless``."""
    if counts is not None:
        counts.setdefault("docs", 0)
    open_doc: _Open | None = None
    seen_bos = False
    for p in paths:
        toks = shards.read_tokens(p)
        n = int(toks.size)
        for c0 in range(0, n, chunk_tokens):
            chunk = np.asarray(toks[c0:c0 + chunk_tokens])
            pos = np.flatnonzero(chunk == bos_id)
            first = int(pos[0]) if pos.size else chunk.size
            if open_doc is not None:
                head = chunk[:first]
                open_doc.length += int(head.size)
                open_doc.hasher.update(head.tobytes())
                if pos.size:
                    if counts is not None:
                        counts["docs"] += 1
                    yield DocRef(open_doc.shard, open_doc.offset, open_doc.length), open_doc.hasher.digest()
                    open_doc = None
            elif not seen_bos and first and headless is not None:
                headless.append(first)
            if pos.size:
                seen_bos = True
                starts = pos + 1
                ends = np.append(pos[1:], chunk.size)
                lens = ends - starts
                complete = pos.size - 1  # the last document may continue in the next chunk
                if complete:
                    if counts is not None:
                        counts["docs"] += complete
                    if want_lengths is None:
                        picked = range(complete)
                    else:  # vectorised: most training documents match no validation length
                        picked = np.flatnonzero(np.isin(lens[:complete], want_lengths)).tolist()
                    for i in picked:
                        yield (DocRef(p.name, c0 + int(pos[i]), int(lens[i])),
                               _digest(chunk[starts[i]:ends[i]]))
                h = hashlib.blake2b(digest_size=DIGEST_SIZE)
                h.update(np.ascontiguousarray(chunk[starts[-1]:]).tobytes())
                open_doc = _Open(p.name, c0 + int(pos[-1]), int(lens[-1]), h)
            if advance is not None:
                advance(int(chunk.size))
    if open_doc is not None:
        if counts is not None:
            counts["docs"] += 1
        yield DocRef(open_doc.shard, open_doc.offset, open_doc.length), open_doc.hasher.digest()


def audit_overlap(
    data_dir: str | os.PathLike,
    *,
    train_dir: str | os.PathLike | None = None,
    bos_id: int = 1,
    min_tokens: int = 8,
    max_examples: int = 10,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    progress: ProgressFactory | None = None,
) -> AuditReport:
    """Count the validation documents of ``data_dir`` that also occur in the training shards
    (of ``train_dir``, default the same directory). Documents shorter than ``min_tokens``
    tokens (default 8: empty or one-word documents) are not audited: they match trivially."""
    t0 = time.perf_counter()
    d = Path(data_dir)
    td = Path(train_dir) if train_dir is not None else d
    for x in {d, td}:
        if not x.is_dir():
            raise EnvironmentProblem(f"dataset directory {x} does not exist")
    vals = shards.list_shards(d, "val")
    trains = shards.list_shards(td, "train")
    if not vals:
        raise EnvironmentProblem(f"no validation shards (fineweb_val_NNNNNN.bin) in {d}")
    if not trains:
        raise EnvironmentProblem(f"no training shards (fineweb_train_NNNNNN.bin) in {td}")
    for p in [*vals, *trains]:
        try:
            shards.read_header(p)
        except shards.ShardError as exc:
            raise EnvironmentProblem(f"{exc}.", hint="Run `harness data verify` on the directory first.") from None
    rep = AuditReport(data_dir=d, train_dir=td, bos_id=bos_id, min_tokens=min_tokens)
    rep.val_shards, rep.train_shards = len(vals), len(trains)
    rep.val_tokens = sum(shards.read_header(p).num_tokens for p in vals)
    rep.train_tokens = sum(shards.read_header(p).num_tokens for p in trains)

    prog = open_bar(progress, "audit: validation", rep.val_tokens + rep.train_tokens)  # harness.ui.token_bar
    advance = prog.advance

    # 1. validation keys -> the documents carrying them
    val_keys: dict[tuple[int, bytes], list[tuple[int, DocRef]]] = {}
    headless: list[int] = []
    with prog:
        idx = 0
        for ref, dig in iter_documents(vals, bos_id, chunk_tokens=chunk_tokens, advance=advance, headless=headless):
            if ref.length < min_tokens:
                rep.val_docs_short += 1
            else:
                rep.val_docs += 1
                val_keys.setdefault((ref.length, dig), []).append((idx, ref))
            idx += 1
        if headless:
            rep.notes.append(f"{sum(headless):,} validation tokens precede the first BOS (not a document)")
        rep.val_unique = len(val_keys)
        prog.describe("audit: training")

        # 2. stream the training documents, hashing only plausible ones
        want = np.unique(np.fromiter((k[0] for k in val_keys), dtype=np.int64, count=len(val_keys)))
        found: dict[tuple[int, bytes], DocRef] = {}
        headless = []
        counts: dict[str, int] = {}
        for ref, dig in iter_documents(trains, bos_id, want_lengths=want, chunk_tokens=chunk_tokens,
                                       advance=advance, headless=headless, counts=counts):
            rep.train_docs_hashed += 1
            key = (ref.length, dig)
            if key in val_keys and key not in found:
                found[key] = ref
        rep.train_docs = counts.get("docs", 0)
        if headless:
            rep.notes.append(f"{sum(headless):,} training tokens precede the first BOS (not a document)")

    rep.overlap_unique = len(found)
    rep.overlap_docs = sum(len(val_keys[k]) for k in found)
    ex = sorted(((idx, vref, found[k]) for k in found for idx, vref in val_keys[k]), key=lambda t: t[0])
    rep.examples = [OverlapExample(val=v, val_index=i, train=t) for i, v, t in ex[:max_examples]]
    rep.seconds = time.perf_counter() - t0
    return rep


__all__ = ["AuditReport", "OverlapExample", "DocRef", "audit_overlap", "iter_documents"]
