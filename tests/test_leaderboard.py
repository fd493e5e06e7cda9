"""Leaderboard from the fixture records: order, both policies' verdicts, and all five outputs."""

from __future__ import annotations

import csv
import json
import os
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import pytest

from harness.leaderboard import board as lbm
from harness.leaderboard import render as lbr
from harness.core.policy import PolicyError
from harness.core.records import write_record

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_V1 = ROOT / "harness/core/schemas/example-submission-v1.json"
CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

# Acceptance policies written by the test in the keys the leaderboard reads (AcceptancePolicy's
# docstring): the README rule, and a permissive "as practised" reading.
README_TOML = """id = "t-readme"
version = "1"
kind = "acceptance"
effective_from = "2026-03-19"
[acceptance]
margin_nats = 0.005
alpha = 0.01
"""
PRACTISED_TOML = """id = "t-practised"
version = "1"
kind = "acceptance"
[acceptance]
margin_nats = 0.0
alpha = 0.25
allow_single_run = true
use_support_packages = true
"""
LQER = "2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"
BOS51 = "2026-04-27_SmearGateBOSFix_PR1787Base_LQERAsym_PhasedTTT"
RR = "2026-04-29_SmearGateBOSFix_3Seed_1.06141"


@pytest.fixture(scope="module")
def policies(tmp_path_factory):
    d = tmp_path_factory.mktemp("pol")
    (d / "t-readme.toml").write_text(README_TOML)
    (d / "t-practised.toml").write_text(PRACTISED_TOML)
    return [str(d / "t-readme.toml"), str(d / "t-practised.toml")]


@pytest.fixture(scope="module")
def board(records_dir, policies):
    return lbm.build_leaderboard([records_dir], policies)


def _e(board, key):
    (e,) = [e for e in board.entries if e.key == key]
    return e


def test_policy_file_keys(policies):
    p = lbm.load_acceptance_policy(policies[1])
    assert (p.id, p.version, p.margin_nats, p.alpha, p.allow_single_run, p.use_support_packages) == (
        "t-practised", "1", 0.0, 0.25, True, True)
    assert len(p.sha256) == 64
    with pytest.raises(PolicyError, match="no acceptance policy 'no-such-policy'"):
        lbm.load_acceptance_policy("no-such-policy")
    with pytest.raises(PolicyError, match="'smoke' is a timing policy, not an acceptance policy"):
        lbm.load_acceptance_policy("smoke")
    bad = Path(policies[0]).with_name("bad.toml")
    bad.write_text('id = "bad"\nversion = "1"\nkind = "acceptance"\n[acceptance]\nthreshold = 0.5\n')
    with pytest.raises(ValueError, match="acceptance: Additional properties.*'threshold' was unexpected"):
        lbm.load_acceptance_policy(str(bad))


def test_order_is_pr_order_not_date(board):
    assert len(board.entries) == 55
    prs = [e.pr for e in board.entries if e.pr is not None]
    assert prs == sorted(prs)
    assert board.entries[0].order_note == "launch snapshot (no PR)"
    # LoRA_TTT types 2026-03-19 but its folder says 03-17 and its PR (#77) came after #39..#61.
    lora = _e(board, "2026-03-17_LoRA_TTT")
    assert lora.pr == 77 and lora.order > _e(board, "2026-03-19_WarmdownQuantization").order
    # BOS51 (#1851) comes before LQER (#1855) although both type 2026-04-27.
    assert _e(board, BOS51).order < _e(board, LQER).order


def test_verdicts_computed_with_reasons(board):
    r, o = "t-readme", "t-practised"
    base = board.entries[0]
    assert base.key == "2026-03-17_NaiveBaseline" and base.verdicts[r].status == "baseline"
    # README rule: single-run records cannot show significance.
    v = _e(board, "2026-03-18_LongContextSeq2048").verdicts[r]
    assert v.status == "rejected" and v.reasons[0] == "no per-seed values: significance cannot be computed"
    # ...but the first 3-seed record beats the baseline by far (one-sample test: the baseline has one run).
    v = _e(board, "2026-03-19_SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit").verdicts[r]
    assert v.status == "accepted" and v.test == "one_sample" and v.p < 1e-3
    # LQER: 0.00227 BPB better than BOS51-with-support seeds under practice, but p is far from 0.25;
    # under README the improvement over the frontier is below the CaseOps margin.
    lq = _e(board, LQER)
    assert lq.verdicts[o].status == "rejected" and lq.verdicts[o].reasons[0].startswith("not significant: p=0.324")
    assert lq.verdicts[r].margin_bpb == pytest.approx(0.002285, abs=2e-6)
    # BOS51 has one seed of its own; practice counts the support package's two extra seeds.
    b = _e(board, BOS51).verdicts[o]
    assert b.status == "accepted" and b.seeds_used == 3 and any(RR in x for x in b.reasons)
    assert _e(board, RR).verdicts[r].status == "not_ranked"
    # Worse than the SOTA at its point in PR order.
    v = _e(board, "2026-03-18_FP16Embed_WD3600").verdicts[o]
    assert v.status == "rejected" and v.reasons[0].startswith("worse than SOTA")
    # The over-cap non-record and all non-record entries are not ranked.
    assert all(e.verdicts[r].status == "not_ranked" for e in board.entries if e.track != "10min_16mb")
    fr = [e.key for e in board.frontier(r)]
    assert fr[0] == "2026-03-17_NaiveBaseline" and len(fr) == 11
    vals = [e.val_bpb for e in board.frontier(r)]
    assert vals == sorted(vals, reverse=True)  # a frontier only goes down


def test_own_v1_record_joins_by_date(records_dir, policies, tmp_path):
    rec = json.loads(EXAMPLE_V1.read_text())
    write_record(tmp_path / "ours" / "submission.json", rec)
    lb = lbm.build_leaderboard([records_dir, tmp_path / "ours"], policies)
    ours = [e for e in lb.entries if e.source == "v1"]
    assert len(ours) == 1 and ours[0].order == len(lb.entries)  # dated after every indexed record
    assert "placed by its typed date 2026-11-24" in ours[0].order_note
    assert ours[0].verdicts["t-readme"].reasons[0].startswith("worse than SOTA")
    assert any("smoke-mode record" in n for n in ours[0].notes)


def test_over_cap_and_unindexed_record(records_dir, policies, tmp_path):
    # A synthetic 10-minute record, not in the PR index, dated after LQER, far better but 200 kB over the cap.
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-04-28_Synthetic_OverCap"
    folder.mkdir(parents=True)
    seeds = {"1": 1.040, "2": 1.041, "3": 1.0405}
    (folder / "submission.json").write_text(json.dumps({
        "name": "synthetic", "author": "t", "github_id": "t", "date": "2026-04-28", "track": "10min_16mb",
        "val_bpb": 1.0405, "seeds": [1, 2, 3],
        "seed_results": {k: {"val_bpb": v, "val_loss": v * 3.1571 * 0.6931471805599453, "artifact_bytes": 16_200_000}
                         for k, v in seeds.items()},
        "p_value": 0.001,
    }))
    lb = lbm.build_leaderboard([records_dir, folder], policies)
    e = _e(lb, "2026-04-28_Synthetic_OverCap")
    assert e.pr is None and "placed by its typed date 2026-04-28" in e.order_note
    assert _e(lb, LQER).order < e.order < _e(lb, RR).order  # after #1855 landed (04-27), before #1868 (04-30)
    for pid in ("t-readme", "t-practised"):
        v = e.verdicts[pid]
        assert v.status == "rejected" and v.reasons[0] == "over the 16,000,000-byte cap (16,200,000 bytes)"
    assert any("claims p=0.001" in n for n in e.notes)


def _png_pixels(path: Path):
    """Decode the PNG for real (matplotlib's reader) after checking the signature and IHDR."""
    import matplotlib.image as mpimg

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    w, h = struct.unpack(">II", data[16:24])
    px = mpimg.imread(path)
    assert px.shape[:2] == (h, w)
    return w, h, px


def test_outputs(board, tmp_path):
    paths = lbr.write_outputs(board, tmp_path / "lb")
    assert {p.name for p in paths.values()} == {"leaderboard.md", "leaderboard.csv", "leaderboard.json", "progress.png", "index.html"}
    md = paths["markdown"].read_text()
    table_rows = [ln for ln in md.splitlines() if ln.startswith("| ") and not ln.startswith("| #")]
    assert len(table_rows) == 55
    assert "| #1855 | SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611 |" in md
    with paths["csv"].open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 55 and rows[0]["record"] == "2026-03-17_NaiveBaseline"
    assert {"t-readme.status", "t-practised.reason"} <= set(rows[0])
    doc = json.loads(paths["json"].read_text())
    assert [p["id"] for p in doc["policies"]] == ["t-readme", "t-practised"]
    assert len(doc["entries"]) == 55 and doc["entries"][-1]["verdicts"]["t-readme"]["status"]
    w, h, px = _png_pixels(paths["png"])
    assert (w, h) == (int(lbr.PLOT_SIZE_IN[0] * lbr.PLOT_DPI), int(lbr.PLOT_SIZE_IN[1] * lbr.PLOT_DPI))
    rgb = px[..., :3]
    non_white = (rgb < 0.95).any(axis=-1).mean()
    assert 0.01 < non_white < 0.6  # axes, points, lines and labels; not blank, not a filled block
    blue = ((rgb[..., 2] > 0.6) & (rgb[..., 0] < 0.3)).sum()  # the first frontier's step line (tab:blue)
    assert blue > 500
    page = paths["html"].read_text()
    assert page.count("<tr data-record=") == 55 and "data:image/png;base64," in page
    # each policy is named once in its list item (it used to read "t-readme v1: t-readme v1: margin ...")
    assert "<li><code>t-readme</code> v1: margin 0.005 nats, p &lt; 0.01</li>" in page
    assert "- `t-readme` v1 (sha256 " in md and "t-readme v1:" not in md.split("| #", 1)[0]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium); .ci/run must install it")
def test_html_in_headless_chromium(board, tmp_path):
    paths = lbr.write_outputs(board, tmp_path / "lb")
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    try:
        p = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--dump-dom", paths["html"].resolve().as_uri()],
            capture_output=True, text=True, timeout=90,
        )
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, p.stderr[-2000:]
    dom = p.stdout
    body = dom.split('<table id="leaderboard">', 1)[1].split("</table>", 1)[0]
    tbody = body.split("<tbody>", 1)[1]
    assert tbody.count("<tr ") == len(board.entries) == 55
    assert '<img alt="val_bpb progress"' in dom


def test_cli(harness_cli, records_dir, policies, tmp_path):
    out = tmp_path / "site"
    p = harness_cli("leaderboard", records_dir, "--out", out, "--policy", policies[0], "--policy", policies[1])
    assert p.exit_code == 0, p.stderr
    assert "Frontier under t-readme" in p.stdout and (out / "index.html").is_file()


@pytest.mark.parametrize("policy, says", [
    ("missing.toml", "no acceptance policy"),
    ("no-such-policy", "no acceptance policy 'no-such-policy'"),
    ("organizer-tda-v1", "'organizer-tda-v1' is a timing policy, not an acceptance policy"),
    ("reference-2026-04", "'reference-2026-04' is an env policy, not an acceptance policy"),
])
def test_cli_policy_that_is_no_acceptance_policy_is_a_usage_error(harness_cli, records_dir, tmp_path, policy, says):
    """README: exit 2 for an unknown policy (it was 3, as if the machine lacked something)."""
    res = harness_cli("leaderboard", records_dir, "--out", tmp_path / "site", "--policy", policy)
    assert res.exit_code == 2 and says in res.stderr, res.stderr


def test_repo_policies(records_dir, tmp_path):
    lb = lbm.build_leaderboard([records_dir])
    assert [p.id for p in lb.policies] == list(lbm.DEFAULT_POLICIES)
    for p in lb.policies:
        assert lb.frontier(p.id)[0].key == "2026-03-17_NaiveBaseline"


def test_seeds_from_logs_when_parser_present(records_dir, policies):
    lb = lbm.build_leaderboard([records_dir], policies, seeds_from_logs=True)
    e = _e(lb, "2026-03-18_LongContextSeq2048")  # three logs, seeds 1337/1338/1339, none in its submission.json
    assert e.per_seed_bpb == {"1337": 1.20576485, "1338": 1.2061746, "1339": 1.20715923}
    assert any("per-seed values from 3 logs" in n for n in e.notes)
    assert e.verdicts["t-readme"].reasons[0] != "no per-seed values: significance cannot be computed"


@pytest.mark.slow
def test_verify_flags_records_whose_logs_contradict_them(records_dir, policies):
    """--verify: the over-cap HessianSDClip record (logs print 16.05 MB) carries the verifier's errors."""
    lb = lbm.build_leaderboard([records_dir], policies, verify=True)
    e = _e(lb, "2026-04-06_SP8192_HessianSDClip_ProgressiveRecurrence")
    assert any(x.startswith("log.artifact_cap") for x in e.verifier_errors)
    assert _e(lb, "2026-03-17_NaiveBaseline").verifier_errors == []
    md = lbr.to_markdown(lb)
    assert "harness verify" in md and "log.artifact_cap" in md


def test_plot_point_labels_do_not_cover_each_other(board, tmp_path):
    """The early records sit close in PR order and val_bpb: their slanted labels covered each other. Labels
    now stand upright above their points and any that would still touch an earlier one is lifted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from harness.leaderboard import render

    assert render.plot_progress(board, tmp_path / "board.png") == 0
    assert (tmp_path / "board.png").stat().st_size > 10_000
    fig, ax = plt.subplots()
    twins = [ax.annotate("same place", (0.5, 0.5), textcoords="offset points", xytext=(0, 4)) for _ in range(2)]
    assert render.separate_labels(fig, twins) == 0 and twins[1].xyann[1] > twins[0].xyann[1]
    plt.close(fig)
