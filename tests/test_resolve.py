"""Resolving submissions: local folders, registry manifests and PR references on the real mirror."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.manifest import load_manifest, parse_manifest
from harness.resolve import DEFAULT_MIRROR, find_pr_folder, resolve

ROOT = Path(__file__).resolve().parents[1]


def test_reference_manifest_resolves() -> None:
    sub = resolve(str(ROOT / "submissions" / "reference"))
    assert sub.name == "reference"
    assert sub.entry_path.is_file()
    assert sub.manifest.data == "embedded"
    assert sub.manifest.artifact == "final_model.int8.ptz"
    assert sub.origin["kind"] == "registry"
    # A bare registry name works too.
    assert resolve("reference").folder == sub.folder


def test_registry_names_resolve_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`submissions/NAME` as the README types it, from a folder with no submissions/ of its own; a folder of
    the caller's by that name still wins."""
    from harness.resolve import registry_entry

    monkeypatch.chdir(tmp_path)
    sub = resolve("submissions/reference")
    assert sub.origin["kind"] == "registry" and sub.folder == resolve("reference").folder
    assert registry_entry("submissions/../reference") is None and registry_entry("submissions/nope") is None
    own = tmp_path / "submissions" / "reference"
    own.mkdir(parents=True)
    (own / "train_gpt.py").write_text("print('mine')\n")
    assert resolve("submissions/reference").folder == own.resolve()


def test_manifest_rejects_typos(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown"):
        parse_manifest({"submission": {"nprocs": 8}})
    with pytest.raises(UsageError, match="unknown section"):
        parse_manifest({"enviroment": {}})
    p = tmp_path / "harness.toml"
    p.write_text('[submission]\nname="x"\nnproc=2\n[[claim.seeds]]\nseed=42\nval_bpb=1.1\n[env]\nA=1\n')
    m = load_manifest(p)
    assert m.nproc == 2 and m.env == {"A": "1"} and m.claim_for(42).val_bpb == 1.1


def test_local_records_folder_without_manifest(records_dir: Path, tmp_path: Path) -> None:
    src = records_dir / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    if not src.is_dir():
        pytest.skip("NaiveBaseline fixture absent")
    folder = tmp_path / "nb"
    shutil.copytree(src, folder)
    (folder / "train_gpt.py").write_text("print('hi')\n")  # fixtures ship no code
    sub = resolve(str(folder))
    assert sub.origin["kind"] == "local"
    assert sub.manifest.entry == "train_gpt.py" and sub.manifest.nproc == 8
    # Its log reads the first sp1024 export (63,779,840 val tokens).
    assert sub.manifest.data == "sp1024-legacy"
    assert any("no harness.toml" in n for n in sub.notes)


def test_folder_without_code_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="train_gpt.py"):
        resolve(str(tmp_path))
    with pytest.raises(UsageError):
        resolve("no/such/folder")


mirror = pytest.mark.skipif(not (DEFAULT_MIRROR / "HEAD").exists(), reason="local parameter-golf mirror absent")


@mirror
def test_pr107_picks_its_own_folder_not_the_copies() -> None:
    head = "014814cee12d7b8814e687dc25c09ae70bc69981"
    folder, notes = find_pr_folder(DEFAULT_MIRROR, head)
    assert folder == "records/track_10min_16mb/2026-03-19_FA3_PostQAT"
    assert any("identical to the base branch" in n for n in notes)
    assert any("SlidingWindowEval" in n for n in notes)


@mirror
def test_pr2014_exported_with_claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGOLF_HARNESS_CACHE", str(tmp_path))
    sub = resolve("github:openai/parameter-golf#2014@fcd0b8357", source_repo=str(DEFAULT_MIRROR))
    assert sub.origin["records_folder"].endswith("2026-04-30_SP8192_CaseOps_Progressive3k_ShortDocTTT")
    assert sub.origin["sha"].startswith("fcd0b8357")
    assert (sub.folder / "train_gpt.py").stat().st_size == 191812
    assert str(sub.folder).startswith(str(tmp_path))
    assert sub.manifest.data == "caseops-sp8192"
    assert {c.seed for c in sub.manifest.claims} == {42, 314, 0}
    assert sub.manifest.claim_for(42).val_bpb == pytest.approx(1.05740567)
    # A second resolve reuses the export.
    again = resolve("github:openai/parameter-golf#2014@fcd0b8357", source_repo=str(DEFAULT_MIRROR))
    assert again.folder == sub.folder


@mirror
def test_merged_pr_finds_its_folder() -> None:
    """#1218 was merged: its head is on main, so the folder is found against main before the merge."""
    head = subprocess.run(["git", "--git-dir", str(DEFAULT_MIRROR), "rev-parse", "refs/pull/1218/head"],
                          capture_output=True, text=True).stdout.strip()
    folder, notes = find_pr_folder(DEFAULT_MIRROR, head)
    assert folder == "records/track_10min_16mb/2026-04-01_Vocab4096_MLPMult4_WD085"
    assert any("merged PR" in n for n in notes)
