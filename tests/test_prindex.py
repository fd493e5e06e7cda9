"""The committed folder -> PR index: complete for the fixtures and right on the facts we know."""

from __future__ import annotations

import json

from harness.core import prindex, records


def test_every_fixture_folder_is_indexed(records_dir):
    folders = {f.parent.name for f in records.find_submission_files([records_dir])}
    assert len(folders) == 55
    missing = [f for f in folders if not prindex.in_index(f)]
    assert missing == []
    # Only the launch snapshot's two folders have no PR.
    no_pr = sorted(f for f in folders if prindex.pr_for_folder(f) is None)
    assert no_pr == ["2026-03-17_NaiveBaseline", "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3"]
    assert all(prindex.pr_entry(f)["method"] == "launch_snapshot" for f in no_pr)


def test_known_prs_and_path_lookup(records_dir):
    known = {  # PGOLF_FACTS.md short names and the README leaderboard links
        "2026-04-18_PR1626_CaseOps_Taper": 1729,
        "2026-04-19_SP8192_CaseOps_GatedAttn_QuantGate_Loop45_PhasedTTT": 1736,
        "2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611": 1855,
        "2026-04-27_SmearGateBOSFix_PR1787Base_LQERAsym_PhasedTTT": 1851,
        "2026-04-29_SmearGateBOSFix_3Seed_1.06141": 1868,
        "2026-04-10_VarLenAttn": 1530,
        "2026-04-16_SmearGate_AttentionOutputGate_ScoreFirstTTT": 1667,
        "2026-03-19_10L_MixedPrecision": 39,
    }
    for folder, pr in known.items():
        assert prindex.pr_for_folder(folder) == pr, folder
    path = records_dir / "track_10min_16mb" / "2026-04-10_VarLenAttn"
    assert prindex.pr_for_folder(str(path)) == 1530
    assert prindex.pr_for_folder(str(path) + "/") == 1530
    assert prindex.pr_for_folder("no-such-folder") is None


def test_document_shape_and_orders():
    doc = prindex.load_pr_index()
    assert doc["source"] == "openai/parameter-golf" and len(doc["ref_commit"]) == 40
    assert "derive_pr_index.py" in doc["derivation"]
    entries = doc["folders"]
    with_pr = sorted((e["pr"], e["pr_order"]) for e in entries.values() if e["pr"] is not None)
    # pr_order is the rank of the PR number (folders that share a PR share neighbouring ranks).
    assert [o for _, o in with_pr] == list(range(1, len(with_pr) + 1))
    assert sorted(e["merge_order"] for e in entries.values()) == list(range(1, len(entries) + 1))
    for name, e in entries.items():
        assert e["method"] in ("merge_commit", "squash_subject", "pr_adding_folder", "launch_snapshot"), name
        if e["method"] != "launch_snapshot":
            assert e["methods"][e["method"]] == e["pr"]
    json.dumps(doc)
