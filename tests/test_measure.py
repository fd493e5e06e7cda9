"""Measurement from disk and logs: counted code, artifact, byte denominator, coverage."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from harness.core import shards
from harness.manifest import Manifest
from harness.evidence import ArtifactProblem, artifact_snapshot, find_artifact, snapshot
from harness.measure import count_code, measure_seed, scored_bytes_from_data

ROOT = Path(__file__).resolve().parents[1]
TRAINER = ROOT / "submissions" / "reference" / "train_gpt.py"


def test_count_code_raw_and_recipe(tmp_path: Path) -> None:
    shutil.copy(TRAINER, tmp_path / "train_gpt.py")
    (tmp_path / "helper.py").write_text("X = 1\n")
    raw = count_code(tmp_path, ["train_gpt.py", "helper.py"], "raw")
    assert raw.counted_bytes == TRAINER.stat().st_size + 6
    assert raw.files == {"train_gpt.py": TRAINER.stat().st_size, "helper.py": 6}
    wrapped = count_code(tmp_path, ["train_gpt.py"], "lzma9-b85")
    assert 0 < wrapped.counted_bytes < TRAINER.stat().st_size
    assert wrapped.detail["train_gpt.py"]["recipe"] == "lzma9-b85"


def test_the_artifact_is_the_one_regular_file_the_pattern_matches(tmp_path: Path) -> None:
    top = tmp_path / "final_model.int6.ptz"
    deep = tmp_path / "sub" / "final_model.int8.ptz"
    deep.parent.mkdir()
    top.write_bytes(b"a")
    assert find_artifact(tmp_path, "final_model*.ptz") == "final_model.int6.ptz"  # a relative-path match first
    deep.write_bytes(b"bb")
    assert find_artifact(tmp_path, "sub/final_model*.ptz") == "sub/final_model.int8.ptz"
    with pytest.raises(ArtifactProblem, match="matches 2 files") as exc:
        find_artifact(tmp_path, "*final_model*.ptz")  # several matches: an error listing them, not the newest
    assert exc.value.rule == "artifact.ambiguous"
    with pytest.raises(ArtifactProblem) as exc:
        find_artifact(tmp_path, "nothing*.bin")
    assert exc.value.rule == "artifact.missing"


def test_a_symlinked_artifact_or_folder_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "final_model.ptz").write_bytes(b"x" * 100)
    work = tmp_path / "work"
    work.mkdir()
    (work / "final_model.ptz").symlink_to(outside / "final_model.ptz")
    with pytest.raises(ArtifactProblem, match="a symlink"):
        artifact_snapshot(work, "final_model.ptz")
    (work / "final_model.ptz").unlink()
    (work / "out").symlink_to(outside)  # a folder link: the walk does not enter it, the open refuses it
    with pytest.raises(ArtifactProblem):
        snapshot(work, "out/final_model.ptz")
    os.mkfifo(work / "final_model.ptz")  # a FIFO must not block the harness
    with pytest.raises(ArtifactProblem, match="FIFO"):
        artifact_snapshot(work, "final_model.ptz")


def test_lut_byte_rules_on_a_real_tokenizer(tmp_path: Path, tokenizers_dir: Path) -> None:
    import sentencepiece as spm

    model = tokenizers_dir / "fineweb_8192_bpe.model"
    sp = spm.SentencePieceProcessor(model_file=str(model))
    docs = ["Hello world, this is a test.", "Caf\u00e9 \u2603 and an emoji \U0001F600 here", "Plain"]
    bos = sp.bos_id() if sp.bos_id() >= 0 else 1
    stream = []
    for d in docs:
        stream += [bos] + sp.encode(d)
    shards.write_shard(tmp_path / "fineweb_val_000000.bin", stream)
    # BOS costs 0 bytes; every document starts with a non-space, so the scored bytes are its UTF-8 length.
    got, how = scored_bytes_from_data(tmp_path, model, len(stream) - 1)
    assert how == "sentencepiece byte tables"
    assert got == sum(len(d.encode("utf-8")) for d in docs)
    # A prefix of the range counts only its own targets.
    first = len(sp.encode(docs[0]))
    assert scored_bytes_from_data(tmp_path, model, first)[0] == len(docs[0].encode())


def test_sidecar_wins_when_every_val_shard_has_one(tmp_path: Path) -> None:
    shards.write_shard(tmp_path / "fineweb_val_000000.bin", [1, 5, 6, 7, 8])
    shards.write_shard(tmp_path / "fineweb_val_bytes_000000.bin", [0, 3, 4, 0, 2])
    assert scored_bytes_from_data(tmp_path, None, 4) == (9, "byte sidecar")
    assert scored_bytes_from_data(tmp_path, None, 2)[0] == 7


def test_measure_seed_on_a_real_run(supervised_reference_run) -> None:
    data, work, log = supervised_reference_run
    m = Manifest(name="reference", data="embedded", artifact="final_model.int8.ptz")
    r = measure_seed(seed=11, log_path=log, run_dir=work, code_dir=work, manifest=m, data_dir=data.data_dir,
                     tokenizer_path=data.tokenizer_path)
    assert r.ok and r.val_bpb is not None
    assert r.artifact_bytes_disk == (work / "final_model.int8.ptz").stat().st_size + (work / "train_gpt.py").stat().st_size
    assert r.artifact_bytes_agree is True
    assert r.under_cap
    assert abs(r.denominator_rel_error) < 1e-6
    assert 0.9 < r.coverage <= 1.0
    assert not [f for f in r.findings if f["severity"] == "error"]


def test_byte_denominator_bug_is_an_error(supervised_reference_run, tmp_path: Path) -> None:
    """Scale the sidecar by 4 % (the Scylla-type bug): the printed BPB no longer matches the data."""
    data, work, log = supervised_reference_run
    bad = tmp_path / "data"
    bad.mkdir()
    for p in shards.list_shards(data.data_dir, "val"):
        os.symlink(p, bad / p.name)
    for p in shards.list_shards(data.data_dir, "val_bytes"):
        vals = np.asarray(shards.read_tokens(p), dtype=np.int64)
        shards.write_shard(bad / p.name, np.round(vals * 1.04).astype(np.int64))
    m = Manifest(name="reference", data="embedded-local-copy", artifact="final_model.int8.ptz")
    r = measure_seed(seed=11, log_path=log, run_dir=work, code_dir=work, manifest=m, data_dir=bad,
                     tokenizer_path=data.tokenizer_path)
    assert any(f["rule"] == "bpb.byte_denominator" and f["severity"] == "error" for f in r.findings)


def test_missing_artifact_fails_the_seed(supervised_reference_run, tmp_path: Path) -> None:
    data, work, log = supervised_reference_run
    m = Manifest(name="reference", data="embedded", artifact="no_such_model.ptz")
    r = measure_seed(seed=11, log_path=log, run_dir=work, code_dir=work, manifest=m, data_dir=data.data_dir,
                     tokenizer_path=data.tokenizer_path)
    assert not r.ok and "no artifact" in r.failure


def test_plain_tokenizer_variants_count_bytes_with_lookup_tables(tmp_path: Path, tokenizers_dir: Path) -> None:
    """An sp8192 submission on smoke data that has a sidecar: the expected bytes follow the submission's
    convention (look-up tables), not the sidecar (raw UTF-8), which differ where whitespace is folded."""
    import sentencepiece as spm

    from harness.measure import byte_convention

    model = tokenizers_dir / "fineweb_8192_bpe.model"
    sp = spm.SentencePieceProcessor(model_file=str(model))
    ids = [1] + sp.encode("Hello   world.\n\n  Indented   text here.")
    shards.write_shard(tmp_path / "fineweb_val_000000.bin", ids)
    shards.write_shard(tmp_path / "fineweb_val_bytes_000000.bin", [0] + [7] * (len(ids) - 1))
    assert (byte_convention("sp8192"), byte_convention("caseops-sp8192")) == ("lut", "sidecar")
    side, how_side = scored_bytes_from_data(tmp_path, model, len(ids) - 1, "sidecar")
    lut, how_lut = scored_bytes_from_data(tmp_path, model, len(ids) - 1, "lut")
    assert side == 7 * (len(ids) - 1) and how_side == "byte sidecar"
    assert how_lut == "sentencepiece byte tables" and lut != side
    assert lut == len("Hello world. Indented text here.".encode())  # whitespace folded by the normaliser
