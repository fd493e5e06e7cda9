"""The dataset registry: every variant loads, figures carry provenance, lookups work."""

from __future__ import annotations

import pytest

from harness.core import registry
from harness.core.registry import Figure, RegistryError, expected_scored_bytes, get_variant, load_registry

NAMES = {"sp1024", "sp1024-legacy", "sp4096", "sp8192", "caseops-sp8192", "byte260", "embedded"}


def test_all_variants_load_with_provenance():
    reg = load_registry()
    assert NAMES <= set(reg)
    for v in reg.values():
        assert v.max_train_shards >= v.default_train_shards >= 0 and v.val_shards >= 1
        for name, f in v.figures.items():
            assert f.provenance in registry.PROVENANCES and f.source, (v.name, name)
        if v.fetchable:
            # No pins are known offline: the branch is stored and fetch records the resolved sha.
            assert v.hf_repo_id and v.hf_revision == "main" and not v.revision_pinned
            assert v.remote_dataset_dir() == f"datasets/datasets/{v.dataset_dir}"
    assert not reg["sp1024-legacy"].fetchable and "lock" in reg["sp1024-legacy"].fetch_note
    assert not reg["embedded"].fetchable and reg["embedded"].figures_from_manifest


def test_caseops_figures_are_the_logged_ones():
    v = get_variant("caseops-sp8192")
    assert v.hf_repo_id == "romeerp/parameter-golf-caseops-v1" and v.has_sidecars
    assert v.dataset_dir == "fineweb10B_sp8192_lossless_caps_caseops_v1_reserved"
    assert v.remote_tokenizer_files() == ["datasets/tokenizers/fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"]
    assert v.figures["val_targets"] == Figure(47_853_343, True, "observed in logs", v.figures["val_targets"].source)
    assert v.figures["val_tokens"].value == 47_853_344 and v.figures["val_tokens"].exact
    assert not v.figures["val_bytes"].exact and v.figures["val_bytes"].value == 151_080_644
    assert "P2014" in v.figures["val_targets"].source


def test_sp1024_interval_and_legacy_differ():
    v, legacy = get_variant("sp1024"), get_variant("sp1024-legacy")
    assert v.hf_repo_id == "willdepueoai/parameter-golf"
    f = v.figures["val_targets"]
    assert not f.exact and (f.low, f.high) == (62_021_632, 62_022_655)
    assert f.check(62_022_000)[0] is True and f.check(62_022_656)[0] is False
    assert abs(v.figures["val_bytes"].value - 151.08e6) < 0.01e6
    assert abs(legacy.figures["val_bytes"].value - 155.77e6) < 0.01e6
    assert legacy.figures["val_targets"].value == 63_779_840
    for name in ("sp4096", "sp8192"):
        assert get_variant(name).hf_repo_id == "kevclark/parameter-golf"


def test_figure_check_semantics():
    exact = Figure(10, True, "measured", "s")
    assert exact.check(10)[0] is True and exact.check(11)[0] is False
    rough = Figure(100, False, "derived", "s")
    ok, msg = rough.check(101)
    assert ok is None and "+1.0000%" in msg


def test_expected_scored_bytes_table():
    full = expected_scored_bytes("caseops-sp8192", 47_853_343)
    trunc = expected_scored_bytes("caseops-sp8192", 47_851_520)
    assert full.value == 151_080_644 and trunc.value == 151_074_498 and not full.exact
    assert expected_scored_bytes("caseops-sp8192", 123) is None
    assert expected_scored_bytes("sp8192", 40_540_160).value == 151_078_221


def test_unknown_variant_lists_the_names():
    with pytest.raises(registry.UnknownVariant) as err:
        get_variant("sp9999")
    assert "caseops-sp8192" in str(err.value) and "sp9999" in str(err.value)


BASE = """
[variants.x]
hf_repo_id = "a/b"
hf_revision = "main"
remote_root = "datasets"
dataset_dir = "d"
tokenizer_file = "t.model"
vocab_size = 8
default_train_shards = 1
max_train_shards = 2
val_shards = 1
has_sidecars = false
"""


def test_extra_registry_from_env_and_malformed_files(tmp_path, monkeypatch):
    p = tmp_path / "r.toml"
    p.write_text(BASE)
    monkeypatch.setenv(registry.ENV_EXTRA, str(p))
    reg = load_registry()
    assert "x" in reg and NAMES <= set(reg)
    for extra, what in (
        ('[variants.x.figures.val_tokens]\nvalue = 1\nexact = true\nprovenance = "guessed"\nsource = "s"\n', "provenance"),
        ('[variants.x.figures.val_tokens]\nvalue = 1\nexact = true\nsource = "s"\n', "missing field 'provenance'"),
        ('[variants.x.figures.val_tokens]\nvalue = 9\nlow = 1\nhigh = 5\nexact = false\nprovenance = "derived"\nsource = "s"\n', "outside"),
    ):
        p.write_text(BASE + extra)
        with pytest.raises(RegistryError, match=what):
            load_registry()
    p.write_text(BASE.replace("default_train_shards = 1", "default_train_shards = 3"))
    with pytest.raises(RegistryError, match="default_train_shards"):
        load_registry()
    p.write_text(BASE.replace('hf_revision = "main"\n', ""))
    with pytest.raises(RegistryError, match="hf_revision"):
        load_registry()


def test_fixture_tokenizers_load_and_match_the_registry(tokenizers_dir):
    spm = pytest.importorskip("sentencepiece")
    for variant in ("sp8192", "caseops-sp8192"):
        v = get_variant(variant)
        path = tokenizers_dir / v.tokenizer_file
        sp = spm.SentencePieceProcessor(model_file=str(path))
        assert sp.vocab_size() == v.vocab_size == 8192
        assert sp.bos_id() == 1 and sp.piece_to_id("\u2581") != sp.unk_id()
    caseops = spm.SentencePieceProcessor(model_file=str(tokenizers_dir / get_variant("caseops-sp8192").tokenizer_file))
    # CaseOps reserves its private-use control characters as whole pieces.
    for ch in ("\ue001", "\ue002", "\ue003", "\ue004"):
        assert caseops.piece_to_id(ch) != caseops.unk_id()


def test_a_typo_in_a_nested_table_is_an_error_in_policies_and_the_registry(tmp_path):
    """One TOML reader validates policies and the registry against their JSON Schemas: a misspelt key in
    a nested table names its place instead of being ignored."""
    from harness.core.policy import PolicyError, load_policy
    from harness.core.registry import RegistryError, load_registry
    from harness.core.policy import policy_source

    text = policy_source("smoke").read_text(encoding="utf-8")
    assert "[timing.train]\ncap_s" in text
    bad = tmp_path / "bad-policy.toml"
    bad.write_text(text.replace("[timing.train]\ncap_s", "[timing.train]\ncpa_s"), encoding="utf-8")
    with pytest.raises(PolicyError, match=r"timing/train.*cpa_s"):
        load_policy(str(bad))
    assert load_policy("smoke").id == "smoke"  # the shipped ones pass

    from importlib import resources
    reg = resources.files("harness.core").joinpath("datasets.toml").read_text(encoding="utf-8")
    bad_reg = tmp_path / "datasets.toml"
    bad_reg.write_text(reg.replace("default_train_shards", "default_train_shard", 1), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"variants/\S+.*default_train_shard"):
        load_registry(bad_reg)
