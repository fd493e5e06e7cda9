"""The text and the tokenizer of an embedded dataset: documents chosen and split, a BPE trained.

Documents come from text shipped with Python (:mod:`harness.data.texts`), deduplicated and
split by a fixed rule; the tokenizer is trained with the exporter's settings, deterministically.
"""

from __future__ import annotations

import hashlib
import io
from typing import Iterable, Iterator, Sequence

import numpy as np

from harness.data import caseops as cops
from harness.data import texts
from harness.data.embedded import (SMOKE_MIN_VAL_DOCS, SMOKE_TRAIN_BYTES, SMOKE_VAL_BYTES, VAL_EVERY, VOCAB_SIZE)


def _split(docs: Iterable[texts.Document], size: str, *, bytes_per_token: float | None = None,
           val_doc_count: int | None = None) -> tuple[list[texts.Document], list[texts.Document]]:
    """Deterministic split: document i to validation when i % k == 0 (smoke: until the targets hold).

    ``val_doc_count`` (smoke only) replaces the validation targets by a document count: a smaller
    validation set for GPUs where a full smoke eval takes too long (eager-mode TTT evals)."""
    k = VAL_EVERY[size]
    val: list[texts.Document] = []
    train: list[texts.Document] = []
    if size == "small":
        for i, d in enumerate(docs):
            (val if i % k == 0 else train).append(d)
        return train, val
    val_bytes = train_bytes = 0
    for i, d in enumerate(docs):
        n = len(d.text.encode("utf-8"))
        if val_doc_count is not None:
            val_full = len(val) >= val_doc_count
        else:
            val_full = len(val) >= SMOKE_MIN_VAL_DOCS and val_bytes >= SMOKE_VAL_BYTES
        if i % k == 0 and not val_full:
            val.append(d)
            val_bytes += n
        elif train_bytes < SMOKE_TRAIN_BYTES:
            train.append(d)
            train_bytes += n
        elif val_full:
            break
    return train, val


def choose_documents(size: str, documents: Sequence[texts.Document] | None = None,
               val_documents: Sequence[texts.Document] | None = None, val_doc_count: int | None = None
               ) -> tuple[list[texts.Document], list[texts.Document], str]:
    """(train, validation, source description) for a build."""
    if documents is None:
        source = "pydoc_data.topics" if size == "small" else f"stdlib *.py under {texts.stdlib_root()}"
        all_docs = texts.pydoc_documents() if size == "small" else texts.stdlib_documents()
    else:
        source = "given documents"
        all_docs = [texts.Document(d.name, texts.clean(d.text)) for d in documents]
    if val_documents is not None:
        return list(all_docs), [texts.Document(d.name, texts.clean(d.text)) for d in val_documents], source
    train, val = _split(_unique(all_docs), size, val_doc_count=val_doc_count)
    return train, val, source


def _unique(docs: Iterable[texts.Document]) -> Iterator[texts.Document]:
    """Drop exact repeats (pydoc's 'if' and 'else' topics share one text; the stdlib repeats
    boilerplate), so a repeat can never land on both sides of the split."""
    seen: set[bytes] = set()
    for d in docs:
        h = hashlib.blake2b(d.text.encode("utf-8"), digest_size=16).digest()
        if h not in seen:
            seen.add(h)
            yield d


def train_tokenizer(train_texts: Iterable[str], *, vocab_size: int = VOCAB_SIZE, caseops: bool = False) -> bytes:
    """Train a SentencePiece BPE model with the exporter's settings; return the serialised model.

    Deterministic: one thread, no input shuffling, every sentence used, written to
    memory (``model_writer``) so the trainer spec records no path. Documents are
    whole sentences as in the exporter, but with a larger ``max_sentence_length``
    (the exporter's default 4,192 bytes would silently skip long documents).
    """
    import sentencepiece as spm

    buf = io.BytesIO()
    kwargs = dict(
        sentence_iterator=iter(list(train_texts)),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.999,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="nmt_nfkc",
        add_dummy_prefix=False,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        hard_vocab_limit=False,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        max_sentence_length=1 << 17,
        minloglevel=2,
    )
    if caseops:
        kwargs["user_defined_symbols"] = list(cops.CONTROLS)
    spm.SentencePieceTrainer.train(**kwargs)
    return buf.getvalue()


def ids_key(ids: Sequence[int]) -> tuple[int, bytes]:
    return len(ids), hashlib.blake2b(np.asarray(ids, dtype="<u2").tobytes(), digest_size=16).digest()


def piece_ends(sp, text: str) -> tuple[list[int], list[int]]:
    """Token ids and each piece's end offset (UTF-8 bytes into ``text``)."""
    try:  # sentencepiece 0.1.99-0.2.0 (0.2.2 keeps the name but raises: "no longer supported")
        proto = sp.encode_as_immutable_proto(text)
    except (AttributeError, ValueError):  # 0.2.1+: a parsed SentencePieceText (needs protobuf)
        proto = sp.encode(text, out_type="proto")
    ids = [p.id for p in proto.pieces]
    ends = [p.end for p in proto.pieces]
    return ids, ends
