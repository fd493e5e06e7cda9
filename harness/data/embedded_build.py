"""Building an embedded dataset, or finding an up-to-date build (see :mod:`harness.data.embedded`)."""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from harness.core import shards
from harness.data import caseops as cops
from harness.data import texts
from harness.data.embedded import (BUILDER_VERSION, DEFAULT_SHARD_TOKENS, SMOKE_MIN_VAL_TOKENS, SMOKE_SHARD_TOKENS,
                                   SMOKE_TOKENIZER_TRAIN_BYTES, VAL_EVERY, VARIANT, BuildResult, build_lock,
                                   check_size, dataset_name, default_root, load_result, resolve_tokenizer,
                                   up_to_date, want_sidecar)
from harness.data.embedded_text import choose_documents, ids_key, piece_ends, train_tokenizer
from harness.data.lut import lut_bytes
from harness.data.verify import lock_dataset
from harness.errors import UsageError

BUILD_STEPS = 5  # documents, tokenizer, encode, write, hash: what a progress view counts to

# A build's progress: called with the steps done so far and what it does now.
BuildProgress = Callable[[int, str], None]


def _write_split(ds: Path, kind: str, tokens: np.ndarray, shard_tokens: int) -> list[Path]:
    out = []
    n = max(1, -(-tokens.size // shard_tokens))
    for i in range(n):
        p = ds / shards.shard_filename(kind, i)
        shards.write_shard(p, tokens[i * shard_tokens:(i + 1) * shard_tokens])
        out.append(p)
    return out


def build_embedded(
    dest: str | os.PathLike | None = None,
    *,
    tokenizer: str | os.PathLike | None = None,
    caseops: bool = False,
    size: str = "small",
    documents: Sequence[texts.Document] | None = None,
    val_documents: Sequence[texts.Document] | None = None,
    shard_tokens: int | None = None,
    name: str | None = None,
    echo: Callable[[str], None] | None = None,
    sidecar: bool | None = None,
    val_doc_count: int | None = None,
    progress: BuildProgress | None = None,
) -> BuildResult:
    """Build one embedded dataset under ``dest`` (default ``default_root()``) and return its figures.

    ``tokenizer``: a SentencePiece model to encode with (no training); None trains a
    1,024-piece BPE on the train documents, except with ``caseops`` where None means the
    CaseOps fixture model (pass ``tokenizer="train"`` to train one with the four controls
    reserved). ``documents``/``val_documents`` replace the built-in text (tests); with only
    ``documents`` the size's split rule applies. ``shard_tokens`` caps tokens per shard.
    ``sidecar``: write the validation byte sidecar. Default: yes for CaseOps and for a trained
    tokenizer (the ``embedded`` variant), no for a given plain tokenizer, because canonical
    plain exports have none and upstream scripts glob ``fineweb_val_*.bin``, which would read a
    sidecar as validation tokens (seen with #1894 on the lent GPU).
    ``val_doc_count`` (smoke only): this many validation documents instead of the smoke targets.
    ``progress`` is told each step as it starts (``BUILD_STEPS`` in all).
    """
    t0 = time.perf_counter()
    check_size(size, val_doc_count)
    root = Path(dest) if dest is not None else default_root()
    tok_path = resolve_tokenizer(tokenizer, caseops)
    sidecar = want_sidecar(sidecar, tok_path, caseops)
    name = name or dataset_name(size, tok_path, caseops)
    forced_shards = shard_tokens is not None
    shard_tokens = shard_tokens or (SMOKE_SHARD_TOKENS if size == "smoke" else DEFAULT_SHARD_TOKENS)

    import sentencepiece as spm

    step = progress or (lambda done, what: None)
    with build_lock(root, name):
        step(0, f"embedded {name}: documents")
        # 1. documents
        train_docs, val_docs, source = choose_documents(size, documents, val_documents, val_doc_count)
        prep = cops.encode if caseops else (lambda s: s)
        train_texts = [prep(d.text) for d in train_docs]
        val_texts = [prep(d.text) for d in val_docs]
        text_sha = texts.fingerprint([*train_docs, *val_docs])
        tok_sha = hashlib.sha256(tok_path.read_bytes()).hexdigest() if tok_path is not None else "trained"

        # 2. tokenizer
        step(1, f"embedded {name}: tokenizer")
        if tok_path is None:
            budget = SMOKE_TOKENIZER_TRAIN_BYTES if size == "smoke" else None
            feed, used = [], 0
            for t in train_texts:
                if budget is not None and used >= budget:
                    break
                feed.append(t)
                used += len(t.encode("utf-8"))
            model_bytes = train_tokenizer(feed, caseops=caseops)
            tok_name = f"{name}.model"
        else:
            model_bytes = tok_path.read_bytes()
            tok_name = tok_path.name
        sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        if caseops:
            bad = cops.check_tokenizer(sp)
            if bad:
                raise UsageError(f"tokenizer {tok_path or 'trained'} cannot encode CaseOps text: {bad[0]}.",
                                 hint="Use a CaseOps model (the U+E001..U+E004 controls as user-defined symbols).")
        bos = sp.bos_id()
        if bos < 0:
            raise UsageError(f"tokenizer {tok_path} has no BOS id")
        vocab = sp.get_piece_size()

        # 3. encode: train in bulk; validation piece by piece for the byte sidecar.
        step(2, f"embedded {name}: encode")
        train_ids = sp.encode(train_texts, num_threads=min(4, os.cpu_count() or 1))
        val_ids_plain = sp.encode(val_texts, num_threads=min(4, os.cpu_count() or 1))
        # Texts that differ only where the normaliser folds (whitespace runs, NFKC) tokenize
        # alike: drop training documents whose tokens equal a validation document's, so the
        # overlap audit (harness.data.audit) finds the embedded split clean by construction.
        val_keys = {ids_key(x) for x in val_ids_plain}
        keep = [i for i, x in enumerate(train_ids) if ids_key(x) not in val_keys]
        dropped_train = len(train_ids) - len(keep)
        train_docs = [train_docs[i] for i in keep]
        train_ids = [train_ids[i] for i in keep]
        del val_ids_plain, val_keys
        lens = np.fromiter((len(x) + 1 for x in train_ids), dtype=np.int64, count=len(train_ids))
        train_tokens = np.empty(int(lens.sum()), dtype=np.uint16)
        pos = 0
        for ids in train_ids:
            train_tokens[pos] = bos
            train_tokens[pos + 1:pos + 1 + len(ids)] = ids
            pos += len(ids) + 1
        del train_ids
        val_parts: list[np.ndarray] = []
        byte_parts: list[np.ndarray] = []
        val_bytes = 0
        for d, t in zip(val_docs, val_texts):
            ids, ends = piece_ends(sp, t)
            counts = cops.token_byte_counts(ends, cops.byte_weights(t, transformed=caseops))
            orig = len(d.text.encode("utf-8"))
            if int(counts.sum()) != orig:  # cannot happen by construction; a loud guard all the same
                raise RuntimeError(f"byte sidecar for {d.name} sums to {int(counts.sum())}, text has {orig}")
            if counts.size and int(counts.max()) >= 2**16:
                raise RuntimeError(f"a token of {d.name} covers {int(counts.max())} bytes (sidecar is uint16)")
            val_parts += [np.array([bos], dtype=np.uint16), np.asarray(ids, dtype=np.uint16)]
            byte_parts += [np.zeros(1, dtype=np.uint16), counts.astype(np.uint16)]
            val_bytes += orig
        val_tokens = np.concatenate(val_parts)
        val_byte_counts = np.concatenate(byte_parts)

        # 4. write into a scratch tree, lock (hash) it, then move it into place.
        step(3, f"embedded {name}: write")
        scratch = root / f".build-{name}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        ds_tmp = scratch / "datasets" / name
        tok_tmp = scratch / "tokenizers" / tok_name
        ds_tmp.mkdir(parents=True)
        tok_tmp.parent.mkdir(parents=True)
        tok_tmp.write_bytes(model_bytes)
        _write_split(ds_tmp, "train", train_tokens, shard_tokens)
        # Validation stays in one shard (as the canonical sets) unless shard_tokens is forced.
        val_shard_tokens = shard_tokens if forced_shards else DEFAULT_SHARD_TOKENS
        vals = _write_split(ds_tmp, "val", val_tokens, val_shard_tokens)
        for i, v in enumerate(vals if sidecar else []):
            shards.write_shard(shards.sidecar_for(v),
                               val_byte_counts[i * val_shard_tokens:(i + 1) * val_shard_tokens])

        import sentencepiece

        figures = {
            "val_docs": len(val_docs),
            "val_tokens": int(val_tokens.size),
            "val_targets": int(val_tokens.size) - 1,
            "val_bytes": int(val_bytes),
            "train_docs": len(train_docs),
            "train_tokens": int(train_tokens.size),
            "vocab_size": int(vocab),
        }
        if not caseops:  # the LUT would count CaseOps control pieces as 3 bytes each: meaningless
            figures["val_bytes_lut"] = lut_bytes(sp, val_tokens)
        source_info = {
            "kind": "embedded-builder",
            "builder_version": BUILDER_VERSION,
            "size": size,
            "caseops": caseops,
            "text_source": source,
            "text_sha256": text_sha,
            "python": texts.platform.python_version(),
            "python_key": texts.interpreter_key(),
            "sentencepiece": sentencepiece.__version__,
            "tokenizer": "trained here (exporter settings, vocab 1024)" if tok_path is None else str(tok_path),
            "tokenizer_file": tok_name,
            "tokenizer_sha256": tok_sha,
            "val_rule": f"document i (sorted order) to validation when i % {VAL_EVERY[size]} == 0"
                        + (f", the first {val_doc_count}" if val_doc_count else ""),
            "shard_tokens": shard_tokens,
            "train_docs_dropped_as_val_duplicates": dropped_train,
            "sidecar": sidecar,
            "val_doc_count": val_doc_count,
        }
        step(4, f"embedded {name}: hash")
        m = lock_dataset(ds_tmp, variant=VARIANT, tokenizer=tok_tmp, source=source_info, figures=figures)

        ds = root / "datasets" / name
        tok_final = root / "tokenizers" / tok_name
        tok_final.parent.mkdir(parents=True, exist_ok=True)
        ds.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tok_tmp, tok_final)
        if ds.exists():
            old = scratch / "old"
            os.replace(ds, old)
        os.replace(ds_tmp, ds)
        shutil.rmtree(scratch, ignore_errors=True)
        step(BUILD_STEPS, f"embedded {name}: done")

    res = BuildResult(root=root, dataset_dir=ds, tokenizer_path=tok_final, name=name, size=size, caseops=caseops,
                      vocab_size=int(vocab), tokenizer_trained=tok_path is None, figures=figures,
                      files={k: v.to_json() for k, v in m.files.items()}, seconds=time.perf_counter() - t0,
                      python=texts.platform.python_version())
    if (size == "smoke" and documents is None and val_doc_count is None
            and int(val_tokens.size) < SMOKE_MIN_VAL_TOKENS):
        # The targets are in bytes before tokenization; say so plainly if a tokenizer packs harder.
        if echo:
            echo(f"note: {name} has {val_tokens.size:,} validation tokens (target {SMOKE_MIN_VAL_TOKENS:,})")
    return res


def ensure_built(dest: str | os.PathLike | None = None, *, tokenizer: str | os.PathLike | None = None,
                 caseops: bool = False, size: str = "small", force: bool = False, name: str | None = None,
                 echo: Callable[[str], None] | None = None, sidecar: bool | None = None,
                 val_doc_count: int | None = None, progress: BuildProgress | None = None) -> BuildResult:
    """Build unless an up-to-date build is already there (``.built`` says which happened).

    Stale means: another builder version, interpreter, sentencepiece version, source text
    or tokenizer, or a file missing or of the wrong size (``harness data verify`` checks hashes).
    """
    import sentencepiece

    check_size(size, val_doc_count)
    root = Path(dest) if dest is not None else default_root()
    tok_path = resolve_tokenizer(tokenizer, caseops)
    name = name or dataset_name(size, tok_path, caseops)
    if "/" in name or name.startswith("."):
        raise UsageError(f"dataset name {name!r} must be a plain directory name.")
    ds = root / "datasets" / name

    def expected() -> dict:
        train, val, _ = choose_documents(size, val_doc_count=val_doc_count)
        return {
            "builder_version": BUILDER_VERSION,
            "python": texts.platform.python_version(),
            "sentencepiece": sentencepiece.__version__,
            "text_sha256": texts.fingerprint([*train, *val]),
            "tokenizer_sha256": hashlib.sha256(tok_path.read_bytes()).hexdigest() if tok_path else "trained",
            "caseops": caseops,
            "size": size,
            "sidecar": want_sidecar(sidecar, tok_path, caseops),
            "val_doc_count": val_doc_count,
        }

    if not force and up_to_date(ds, expected()):
        return load_result(ds)
    with build_lock(root, name + "-ensure"):
        if force or not up_to_date(ds, expected()):  # another process may have built it meanwhile
            return build_embedded(root, tokenizer=tok_path if tok_path else "train", caseops=caseops, size=size,
                                  name=name, echo=echo, sidecar=sidecar, val_doc_count=val_doc_count,
                                  progress=progress)
    return load_result(ds)


def ensure_embedded(dest: str | os.PathLike | None = None) -> Path:
    """The default embedded DATASET directory (``<root>/datasets/embedded_sp1024``, tokenizer in
    ``<root>/tokenizers/embedded_sp1024.model``), built first if missing or stale."""
    return ensure_built(dest).dataset_dir
