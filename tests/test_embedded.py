"""The embedded dataset builder: determinism, canonical format, byte sidecar, manifest, ensure, CLI."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import sentencepiece
import sentencepiece as spm
from click.testing import CliRunner

from harness.core import shards
from harness.data import embedded, manifest as mf
from harness.data.embedded_build import build_embedded, ensure_built, ensure_embedded
from harness.data.embedded_text import choose_documents
from harness.data.verify import verify_dataset

# Golden sha256 of the default build, keyed by (Python version, sentencepiece version): the pydoc
# text changes between Python releases and the trainer between sentencepiece releases.
GOLDEN = {
    ("3.11.7", "0.2.3"): {
        "embedded_sp1024.model": "abe6d60e780015c9da2704269c032fe56c9bfc0691bfc18f956d41b3bf32bf1e",
        "fineweb_train_000000.bin": "1f9de50f2afbedac4ad6799c2f9dba17cb3c05c935471a1e17edeebadd501535",
        "fineweb_val_000000.bin": "18afaf3e1b0d82d717ad888af39caced7c245b30b1322cea26027a1eb08ca2a8",
        "fineweb_val_bytes_000000.bin": "b8664d0856b649e35a854fdac6f1a97be446eeef12d574eda54243b8f68b37bb",
    },
}


def _sha_tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != mf.MANIFEST_NAME
            and not p.name.startswith(".")}


def _fold(s: str) -> str:
    """What the nmt_nfkc normaliser with remove_extra_whitespaces does, near enough for a check."""
    return " ".join(unicodedata.normalize("NFKC", s).split())


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> embedded.BuildResult:
    return build_embedded(tmp_path_factory.mktemp("emb"))


def test_layout_and_deterministic_twice(built, tmp_path) -> None:
    root = built.root
    assert built.dataset_dir == root / "datasets" / "embedded_sp1024"
    assert built.tokenizer_path == root / "tokenizers" / "embedded_sp1024.model"
    again = build_embedded(tmp_path)
    a, b = _sha_tree(root), _sha_tree(tmp_path)
    assert set(a) == {"tokenizers/embedded_sp1024.model", "datasets/embedded_sp1024/fineweb_train_000000.bin",
                      "datasets/embedded_sp1024/fineweb_val_000000.bin",
                      "datasets/embedded_sp1024/fineweb_val_bytes_000000.bin"}
    assert a == b
    assert built.files == again.files and built.figures == again.figures
    golden = GOLDEN.get((platform.python_version(), sentencepiece.__version__))
    if golden is not None:
        assert {k.rsplit("/", 1)[-1]: v for k, v in a.items()} == golden


def test_canonical_format_bos_no_eos(built) -> None:
    sp = spm.SentencePieceProcessor(model_file=str(built.tokenizer_path))
    assert sp.get_piece_size() == 1024
    assert (sp.pad_id(), sp.bos_id(), sp.eos_id(), sp.unk_id()) == (0, 1, 2, 3)
    train_docs, val_docs, _ = choose_documents("small")
    for kind, docs in (("val", val_docs), ("train", None)):
        (p,) = shards.list_shards(built.dataset_dir, kind)
        h = shards.read_header(p)
        assert (h.magic, h.version) == (20240520, 1)
        raw = np.fromfile(p, dtype="<i4", count=256)
        assert (raw[3:] == 0).all()
        toks = shards.read_tokens(p)
        assert toks[0] == 1 and not (toks == 2).any()  # BOS-prefixed documents, no EOS
        n_docs = int((toks == 1).sum())
        assert n_docs == built.figures[f"{kind}_docs"]
        if docs is not None:
            assert n_docs == len(docs)
            # decoding each document gives back its text up to the normaliser's whitespace folding
            bounds = list(np.flatnonzero(toks == 1)) + [toks.size]
            for i, d in enumerate(docs):
                text = sp.decode(toks[bounds[i] + 1:bounds[i + 1]].tolist())
                assert _fold(text) == _fold(d.text)
    assert len(val_docs) == 16 and built.figures["train_docs"] <= len(train_docs)


def test_sidecar_sums_to_validation_text_bytes(built) -> None:
    _, val_docs, _ = choose_documents("small")
    expect = sum(len(d.text.encode("utf-8")) for d in val_docs)
    (side,) = shards.list_shards(built.dataset_dir, "val_bytes")
    (val,) = shards.list_shards(built.dataset_dir, "val")
    s, t = shards.read_tokens(side), shards.read_tokens(val)
    assert s.size == t.size
    assert int(s.sum(dtype=np.int64)) == expect == built.figures["val_bytes"]
    assert (s[t == 1] == 0).all()  # BOS counts 0 bytes
    f = built.figures
    assert f["val_targets"] == f["val_tokens"] - 1
    assert 0 < f["val_bytes_lut"] <= f["val_bytes"]  # the LUT misses whitespace the normaliser folded


def test_manifest_and_verify(built, tmp_path) -> None:
    m = mf.read_manifest(built.dataset_dir)
    assert m.variant == "embedded"
    assert m.source["kind"] == "embedded-builder" and m.source["python"] == platform.python_version()
    assert m.figures["val_tokens"] == built.figures["val_tokens"]
    assert m.files["../../tokenizers/embedded_sp1024.model"].kind == "tokenizer"
    rep = verify_dataset(built.dataset_dir)
    assert rep.ok, rep.problems
    assert rep.val_tokens == built.figures["val_tokens"] and rep.val_bytes_sum == built.figures["val_bytes"]
    # and verify notices one flipped byte, naming the file
    import shutil

    copy = tmp_path / "datasets" / "embedded_sp1024"
    shutil.copytree(built.dataset_dir, copy)
    (tmp_path / "tokenizers").mkdir()
    shutil.copy(built.tokenizer_path, tmp_path / "tokenizers")
    p = copy / "fineweb_val_000000.bin"
    data = bytearray(p.read_bytes())
    data[2000] ^= 0xFF
    p.write_bytes(bytes(data))
    bad = verify_dataset(copy)
    assert not bad.ok and any("fineweb_val_000000.bin" in x for x in bad.problems)


def test_ensure_embedded_builds_once_and_rebuilds_when_stale(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_DATA", str(tmp_path))
    assert embedded.default_embedded_dir() == tmp_path / "embedded" / "datasets" / "embedded_sp1024"
    ds = ensure_embedded()
    assert ds == embedded.default_embedded_dir() and shards.list_shards(ds, "val")
    val = ds / "fineweb_val_000000.bin"
    stamp = val.stat().st_mtime_ns
    assert ensure_built().built is False
    assert val.stat().st_mtime_ns == stamp
    (ds / "fineweb_train_000000.bin").unlink()
    assert ensure_embedded() == ds
    assert (ds / "fineweb_train_000000.bin").exists()
    assert embedded.tokenizer_for(ds) == tmp_path / "embedded" / "tokenizers" / "embedded_sp1024.model"
    # a manifest from another builder version is stale
    m = json.loads((ds / mf.MANIFEST_NAME).read_text())
    m["source"]["builder_version"] = -1
    (ds / mf.MANIFEST_NAME).write_text(json.dumps(m))
    assert ensure_built().built is True


def test_given_tokenizer_no_training(tmp_path, tokenizers_dir) -> None:
    model = tokenizers_dir / "fineweb_8192_bpe.model"
    res = build_embedded(tmp_path, tokenizer=model)
    assert res.name == "embedded_fineweb_8192_bpe" and res.vocab_size == 8192 and not res.tokenizer_trained
    assert res.tokenizer_path.read_bytes() == model.read_bytes()
    toks = shards.read_tokens(shards.list_shards(res.dataset_dir, "val")[0])
    assert int(toks.max()) < 8192 and toks[0] == 1
    assert res.figures["val_bytes"] == sum(len(d.text.encode()) for d in choose_documents("small")[1])


@pytest.mark.slow
def test_smoke_size_targets(tmp_path) -> None:
    res = build_embedded(tmp_path, size="smoke")
    f = res.figures
    assert f["val_docs"] >= 3000 and f["val_tokens"] >= 1_000_000
    assert len(shards.list_shards(res.dataset_dir, "train")) > 1  # documents straddle train shards
    assert len(shards.list_shards(res.dataset_dir, "val")) == 1
    side = shards.read_tokens(shards.list_shards(res.dataset_dir, "val_bytes")[0])
    assert int(side.sum(dtype=np.int64)) == f["val_bytes"]
    from harness.data.audit import audit_overlap

    assert audit_overlap(res.dataset_dir).clean


@pytest.mark.slow
def test_smoke_size_given_sp8192(tmp_path, tokenizers_dir) -> None:
    res = build_embedded(tmp_path, size="smoke", tokenizer=tokenizers_dir / "fineweb_8192_bpe.model")
    assert res.figures["val_docs"] >= 3000 and res.figures["val_tokens"] >= 1_000_000
    assert res.name == "embedded_smoke_fineweb_8192_bpe"


def test_cli_build_embedded(tmp_path) -> None:
    from harness.cli import cli

    r = CliRunner().invoke(cli, ["data", "build-embedded", "--dest", str(tmp_path)])
    assert r.exit_code == 0, r.output
    sha = hashlib.sha256((tmp_path / "datasets/embedded_sp1024/fineweb_val_000000.bin").read_bytes()).hexdigest()
    assert sha in r.output and "val_tokens" in r.output
    r2 = CliRunner().invoke(cli, ["data", "build-embedded", "--dest", str(tmp_path)])
    assert r2.exit_code == 0 and "up to date" in r2.output
    r3 = CliRunner().invoke(cli, ["data", "build-embedded", "--dest", str(tmp_path), "--tokenizer",
                                  str(tmp_path / "missing.model")])
    assert r3.exit_code == 2 and r3.stderr.startswith("error:"), r3.output
    r4 = CliRunner().invoke(cli, ["data", "verify", str(tmp_path / "datasets/embedded_sp1024")])
    assert r4.exit_code == 0, r4.output
    # The --dest folder is a data root: verify checks every dataset in it; lock refuses it (it would lock nothing).
    for root in (tmp_path, tmp_path / "datasets"):
        r5 = CliRunner().invoke(cli, ["data", "verify", str(root)])
        assert r5.exit_code == 0 and f"ok {tmp_path / 'datasets/embedded_sp1024'}:" in r5.stdout, r5.output
    r6 = CliRunner().invoke(cli, ["data", "lock", str(tmp_path)])
    assert r6.exit_code == 2 and "data root" in r6.stderr and "embedded_sp1024" in r6.stderr, r6.output


def test_build_time_bench_figure(tmp_path) -> None:
    """Not a timed assert (bench/embedded_build.py prints the figure): the build reports its time."""
    res = build_embedded(tmp_path)
    assert res.seconds > 0 and res.built


def test_caseops_without_model_is_environment_problem(tmp_path, monkeypatch) -> None:
    from harness.errors import EnvironmentProblem

    monkeypatch.setattr(embedded, "find_caseops_fixture", lambda: None)
    with pytest.raises(EnvironmentProblem):
        build_embedded(tmp_path, caseops=True)
    assert not os.listdir(tmp_path) or not (tmp_path / "datasets").exists()


@pytest.mark.slow
def test_smoke_size_caseops_fixture(tmp_path, tokenizers_dir) -> None:
    model = tokenizers_dir / "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"
    res = build_embedded(tmp_path, size="smoke", caseops=True, tokenizer=model)
    f = res.figures
    assert f["val_docs"] >= 3000 and f["val_tokens"] >= 1_000_000
    side = shards.read_tokens(shards.list_shards(res.dataset_dir, "val_bytes")[0])
    assert int(side.sum(dtype=np.int64)) == f["val_bytes"] == sum(len(d.text.encode()) for d in choose_documents("smoke")[1])
    toks = shards.read_tokens(shards.list_shards(res.dataset_dir, "val")[0])
    sp = spm.SentencePieceProcessor(model_file=str(model))
    assert int((toks == sp.piece_to_id("\ue001")).sum()) > 1000  # the transform really ran


def test_plain_given_tokenizer_gets_no_sidecar(tmp_path, tokenizers_dir):
    """Canonical plain exports have no byte sidecar, and upstream scripts glob fineweb_val_*.bin (a sidecar
    beside them was read as validation tokens by #1894 on the lent GPU): none by default, on request yes."""
    from harness.core import shards
    from harness.data.embedded_build import build_embedded
    from harness.data.verify import verify_dataset

    model = tokenizers_dir / "fineweb_8192_bpe.model"
    res = build_embedded(tmp_path / "a", tokenizer=model, name="fineweb10B_sp8192")
    assert shards.list_shards(res.dataset_dir, "val_bytes") == []
    assert verify_dataset(res.dataset_dir).ok
    res = build_embedded(tmp_path / "b", tokenizer=model, name="fineweb10B_sp8192", sidecar=True)
    assert len(shards.list_shards(res.dataset_dir, "val_bytes")) == 1
    res = build_embedded(tmp_path / "c")  # trained tokenizer: the embedded variant keeps its sidecar
    assert len(shards.list_shards(res.dataset_dir, "val_bytes")) == 1


@pytest.mark.slow
def test_smoke_val_doc_count(tmp_path, tokenizers_dir) -> None:
    """--val-docs N: exactly N validation documents (the first N the split rule picks), the rest of the
    smoke build unchanged in kind; a count without --size smoke is a usage error; the count is part of
    what 'up to date' means."""
    from harness.cli import cli

    train, val, _ = choose_documents("smoke", val_doc_count=200)
    _, full_val, _ = choose_documents("smoke")
    assert len(val) == 200 and [d.name for d in val] == [d.name for d in full_val[:200]]
    assert not {d.name for d in train} & {d.name for d in val}
    model = tokenizers_dir / "fineweb_8192_bpe.model"
    r = CliRunner().invoke(cli, ["data", "build-embedded", "--size", "smoke", "--val-docs", "200", "--tokenizer",
                                 str(model), "--dest", str(tmp_path), "--name", "fineweb10B_sp8192"])
    assert r.exit_code == 0, r.output
    ds = tmp_path / "datasets/fineweb10B_sp8192"
    m = mf.read_manifest(ds)
    assert m.figures["val_docs"] == 200 and m.source["val_doc_count"] == 200
    toks = shards.read_tokens(shards.list_shards(ds, "val")[0])
    assert int((toks == 1).sum()) == 200  # one BOS per document
    assert verify_dataset(ds).ok
    r2 = CliRunner().invoke(cli, ["data", "build-embedded", "--size", "smoke", "--tokenizer", str(model),
                                  "--dest", str(tmp_path), "--name", "fineweb10B_sp8192"])
    assert r2.exit_code == 0 and "up to date" not in r2.output  # without the count it is another build
    r3 = CliRunner().invoke(cli, ["data", "build-embedded", "--val-docs", "10", "--dest", str(tmp_path)])
    assert r3.exit_code == 2 and r3.stderr.startswith("error:"), r3.output
