"""Our CaseOps transform: exact inverse, the described behaviour, and the byte sidecar through a
real SentencePiece model (trained here with the controls reserved, and the upstream fixture)."""

from __future__ import annotations

import random

import numpy as np
import pytest
import sentencepiece as spm

from harness.core import shards
from harness.data import caseops as c
from harness.data.embedded_build import build_embedded
from harness.data.texts import Document

T, A, N, E = c.TITLE, c.ALLCAPS, c.CAPNEXT, c.ESC

TRICKY = [
    "The NASA Launch",
    "I",
    "I am",
    "McDonald",
    "iPhone",
    "HTTPServer and XMLHttpRequest",
    "ABc aBC AbC",
    "A1B2 c3D4 x_Y z-Z",
    "Ünïcödé ÉCOLE straße Ωmega ＡＢＣ ﬁne",
    "emoji 🙂 OK 🙂ok",
    "literal controls \ue001\ue002\ue003\ue004 and \ue004\ue001 kept",
    "\ue001The",
    "",
    " ",
    "a",
    "Z",
    "ALL CAPS SENTENCE.",
    "tabs\tand\nnewlines\r\nStay",
    "private use \ue000\ue005\uf8ff",
]


def test_described_examples() -> None:
    assert c.encode("The NASA Launch") == f"{T}the {A}nasa {T}launch"
    assert c.encode("I") == f"{T}i"  # one-letter upper case: TITLE, not ALLCAPS
    assert c.encode("McDonald") == f"{T}mc{N}donald"
    assert c.encode("iPhone") == f"i{N}phone"
    assert c.encode("plain words stay") == "plain words stay"
    assert c.encode("é É") == "é É"  # non-ASCII untouched
    assert c.encode("x\ue001y") == f"x{E}\ue001y"  # literal control escaped


@pytest.mark.parametrize("text", TRICKY)
def test_roundtrip_tricky(text: str) -> None:
    enc = c.encode(text)
    assert c.decode(enc) == text
    assert not any("A" <= ch <= "Z" for ch in enc)
    assert sum(c.char_weights(enc)) == len(text.encode("utf-8"))


def test_roundtrip_random_strings() -> None:
    rng = random.Random(1234)
    alphabet = list("aAbBzZqQ  .,1\n") + list(c.CONTROLS) + ["é", "Ω", "🙂", "\ue000", "ß"]
    for _ in range(3000):
        s = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))
        enc = c.encode(s)
        assert c.decode(enc) == s, (s, enc)
        assert sum(c.char_weights(enc)) == len(s.encode("utf-8"))
        # the transformed text never holds an ASCII capital
        assert not any("A" <= ch <= "Z" for ch in enc)


@pytest.mark.parametrize("bad", [f"{T} x", f"x{T}", f"{N}abc", f"ab{T}c", f"{A}{T}ab", "Abc", f"{A}ab{N}c", f"a{E}"])
def test_strict_decode_rejects_what_encode_never_writes(bad: str) -> None:
    with pytest.raises(c.CaseOpsError):
        c.decode(bad)
    c.decode(bad, strict=False)  # lenient mode never raises


def test_token_byte_counts_cover_gaps() -> None:
    w = np.ones(10, dtype=np.int64)
    # pieces end at 3, 3 (byte-fallback, empty), 7 and 9; the last token absorbs the tail
    assert c.token_byte_counts([3, 3, 7, 9], w).tolist() == [3, 0, 4, 3]
    enc = c.encode("The NASA")
    weights = c.byte_weights(enc, transformed=True)
    assert int(weights.sum()) == len("The NASA")
    assert int(c.token_byte_counts([3, len(enc.encode())], weights).sum()) == len("The NASA")


def _docs(lines: list[str]) -> list[Document]:
    return [Document(f"d{i}", t) for i, t in enumerate(lines)]


# Single-line, single-spaced, NFKC-stable text: the tokenizer round-trips it exactly.
SAFE = [
    "The NASA Launch was on Monday",
    "I think McDonald sold an iPhone to IBM",
    "HTTPServer handles GET and POST for XMLHttpRequest clients",
    "Literal controls \ue001 and \ue004 survive",
    "Ünïcödé ÉCOLE straße Ωmega 🙂 OK",
    "Zebra, Yak; eXtra cAsE mIxEd",
]


def _check_dataset(res, docs: list[Document]) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(res.tokenizer_path))
    ds = res.dataset_dir
    tokens = np.concatenate([shards.read_tokens(p) for p in shards.list_shards(ds, "val")])
    sidecar = np.concatenate([shards.read_tokens(p) for p in shards.list_shards(ds, "val_bytes")])
    assert tokens.size == sidecar.size
    bos = np.flatnonzero(tokens == sp.bos_id())
    assert bos.size == len(docs) and bos[0] == 0
    assert (sidecar[bos] == 0).all()
    bounds = list(bos) + [tokens.size]
    assert int(sidecar.sum(dtype=np.int64)) == sum(len(d.text.encode()) for d in docs)
    for i, d in enumerate(docs):
        ids = tokens[bounds[i] + 1:bounds[i + 1]].tolist()
        assert int(sidecar[bounds[i]:bounds[i + 1]].sum(dtype=np.int64)) == len(d.text.encode("utf-8"))
        text = c.decode(sp.decode(ids))
        if d.text in SAFE:
            assert text == d.text
        else:  # the tokenizer's normaliser folds whitespace runs and newlines
            assert " ".join(text.split()) == " ".join(d.text.split())


def test_trained_caseops_tokenizer_roundtrip_and_sidecar(tmp_path) -> None:
    val = _docs(SAFE + [t for t in TRICKY if t.strip() and "\uf8ff" not in t and "ﬁ" not in t and "ＡＢＣ" not in t])
    train = _docs(SAFE * 3 + [x.text for x in texts_small()])
    res = build_embedded(tmp_path, caseops=True, tokenizer="train", documents=train, val_documents=val)
    assert res.caseops and res.tokenizer_trained and res.vocab_size > 256
    sp = spm.SentencePieceProcessor(model_file=str(res.tokenizer_path))
    assert c.check_tokenizer(sp) == []
    _check_dataset(res, val)


def test_fixture_caseops_model_roundtrip_and_sidecar(tmp_path, tokenizers_dir) -> None:
    model = tokenizers_dir / "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"
    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert c.check_tokenizer(sp) == []
    plain = spm.SentencePieceProcessor(model_file=str(tokenizers_dir / "fineweb_8192_bpe.model"))
    assert c.check_tokenizer(plain)  # the plain sp8192 lacks the controls
    val = _docs(SAFE + ["tabs\tand\nnewlines  Stay"])
    res = build_embedded(tmp_path, caseops=True, tokenizer=model, documents=_docs(SAFE * 2), val_documents=val)
    assert res.vocab_size == 8192 and not res.tokenizer_trained
    _check_dataset(res, val)


def test_caseops_pydoc_sidecar_sums(tmp_path, tokenizers_dir) -> None:
    res = build_embedded(tmp_path, caseops=True, tokenizer=tokenizers_dir /
                         "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model")
    side = shards.read_tokens(shards.list_shards(res.dataset_dir, "val_bytes")[0])
    assert int(side.sum(dtype=np.int64)) == res.figures["val_bytes"]
    from harness.data.embedded_text import choose_documents

    _, val, _ = choose_documents("small")
    assert res.figures["val_bytes"] == sum(len(d.text.encode()) for d in val)
    assert "val_bytes_lut" not in res.figures  # meaningless for CaseOps


def texts_small() -> list[Document]:
    from harness.data.texts import pydoc_documents

    return pydoc_documents()[:20]
