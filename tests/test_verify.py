"""verify_path end to end: reports (JSON schema, Markdown, text), CLI exit codes, torch-free import,
and every fixture record folder verified without a crashing rule."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from verifier.api import verify_path
from verifier.report import validate_report_json
from verifier.rules import catalogue

ROOT = Path(__file__).resolve().parents[1]


def test_catalogue_is_data():
    rules = catalogue()
    assert len({r.id for r in rules}) == len(rules) >= 20
    for r in rules:
        assert r.severity in ("error", "warning", "info") and r.group in ("code", "log", "record", "reproduction")
        assert r.source and r.title and callable(r.check)


def _bad_folder(tmp_path: Path) -> Path:
    d = tmp_path / "track_10min_16mb" / "2026-05-01_Bad"
    d.mkdir(parents=True)
    (d / "train_gpt.py").write_text(textwrap.dedent("""
        import os, urllib.request
        MAX = float(os.environ.get("MAX_WALLCLOCK_SECONDS", "900"))
        def main():
            urllib.request.urlopen("https://example.com/weights.bin")
    """), encoding="utf-8")
    return d


def test_report_formats_and_schema(tmp_path):
    rep = verify_path(_bad_folder(tmp_path))
    obj = json.loads(rep.to_json())
    assert validate_report_json(obj) == []
    assert obj["verdict"] == "errors" and obj["counts"]["error"] >= 2
    ids = {f["rule_id"] for f in obj["findings"] if f["severity"] == "error"}
    assert {"code.network", "code.budget_knobs"} <= ids
    md = rep.to_markdown()
    assert md.startswith("### ❌") and "`code.network`" in md and "train_gpt.py:" in md
    # heuristics never say "pass"
    outcomes = {o["id"]: o["outcome"] for o in obj["rules"]}
    assert outcomes["code.ttt_score_order"] == "needs_runtime_probe"


def test_schema_rejects_malformed_report(tmp_path):
    obj = json.loads(verify_path(_bad_folder(tmp_path)).to_json())
    obj["findings"][0]["severity"] = "fatal"
    assert validate_report_json(obj)


def test_cli_exit_codes(harness_cli, tmp_path, records_dir):
    bad = harness_cli("verify", _bad_folder(tmp_path), "--format", "json")
    assert bad.exit_code == 1 and json.loads(bad.stdout)["verdict"] == "errors"
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "train_gpt.py").write_text("import math\nprint(math.pi)\n", encoding="utf-8")
    ok = harness_cli("verify", clean, "--format", "markdown")
    assert ok.exit_code == 0, ok.stderr
    assert harness_cli("verify", tmp_path / "missing").exit_code == 2
    assert harness_cli("verify", clean, "--format", "yaml").exit_code == 2
    txt = harness_cli("verify", records_dir / "track_10min_16mb/2026-04-10_VarLenAttn")
    assert txt.exit_code in (0, 1) and "log.code_measured" in txt.stdout


def test_an_empty_folder_is_nothing_to_verify(harness_cli, tmp_path):
    """Exit 0 with "ok" on a folder without code, logs or claims would vouch for nothing."""
    (tmp_path / "notes.md").write_text("no code here\n", encoding="utf-8")
    res = harness_cli("verify", tmp_path)
    assert res.exit_code == 2 and "nothing to verify" in res.stderr, res.output


@pytest.mark.parametrize("policy", ["acceptance-readme", "reference-2026-04", "no-such-policy"])
def test_verify_refuses_a_policy_that_is_no_timing_policy(harness_cli, records_dir, policy):
    res = harness_cli("verify", records_dir / "track_10min_16mb/2026-03-17_NaiveBaseline", "--policy", policy)
    assert res.exit_code == 2 and "timing" in res.stderr, res.output


def test_verifier_runs_without_torch(tmp_path):
    # block torch imports entirely: the verifier and harness.core must not need it
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch blocked")
        sys.meta_path.insert(0, Block())
        sys.path.insert(0, {str(ROOT)!r})
        from verifier.api import verify_path
        rep = verify_path({str(_bad_folder(tmp_path))!r})
        assert "torch" not in sys.modules
        print(rep.verdict)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "errors"


def test_single_log_and_single_claims(records_dir):
    log = records_dir / "track_10min_16mb/2026-04-10_VarLenAttn/logs/train0.txt"
    rep = verify_path(log)
    assert rep.kind == "log" and rep.inputs["logs"] == ["train0.txt"]
    assert any(f.rule_id == "log.code_measured" and f.severity == "warning" for f in rep.findings)
    sub = records_dir / "track_10min_16mb/2026-04-10_VarLenAttn/submission.json"
    rep = verify_path(sub)
    assert rep.kind == "claims" and validate_report_json(json.loads(rep.to_json())) == []


def test_every_fixture_folder_verifies(records_dir):
    folders = [p for t in sorted(records_dir.iterdir()) if t.is_dir() for p in sorted(t.iterdir()) if p.is_dir()]
    assert len(folders) >= 50
    for folder in folders:
        rep = verify_path(folder)
        crashed = [o.rule.id for o in rep.outcomes if o.outcome == "crashed"]
        assert crashed == [], (folder.name, [f.message for f in rep.findings if f.message.startswith("rule crashed")])
        assert validate_report_json(json.loads(rep.to_json())) == [], folder.name
        # code is not in the fixtures: code rules say so rather than guessing
        code = [o for o in rep.outcomes if o.rule.group == "code"]
        assert all(o.outcome == "not_available" for o in code), folder.name


def test_fixture_over_cap_record_is_flagged(records_dir):
    rep = verify_path(records_dir / "track_10min_16mb/2026-04-06_SP8192_HessianSDClip_ProgressiveRecurrence")
    over = [f for f in rep.findings if f.rule_id == "log.artifact_cap" and f.severity == "error"]
    assert over and all(f.data["artifact_bytes"] > 16_000_000 for f in over)
    assert rep.has_errors


def test_auto_baseline_in_pr_order(records_dir):
    from verifier.api import auto_baseline

    folder = records_dir / "track_10min_16mb/2026-04-10_VarLenAttn"
    assert auto_baseline(folder).name == "2026-04-09_A2_Muon097_3Seed"
    rep = verify_path(folder, baseline="auto", groups=["record"])
    sig = [f for f in rep.findings if f.rule_id == "record.significance"][0]
    assert sig.status == "observation" and sig.data["p"] < 0.01  # BPB-space Welch with the sp8192 margin
    rep = verify_path(records_dir / "track_10min_16mb/2026-04-13_VarLenAttn_PhasingTTT2000", baseline="auto",
                      groups=["record"])
    sig = [f for f in rep.findings if f.rule_id == "record.significance"][0]
    assert sig.status == "violation" and sig.severity == "warning" and sig.data["p"] > 0.5


def test_the_library_refuses_a_policy_that_is_no_timing_policy(records_dir):
    """verify_path used to run with it and report each timing rule as "crashed"."""
    from harness.core.policy import PolicyError

    with pytest.raises(PolicyError, match="is an acceptance policy, not a timing policy"):
        verify_path(records_dir / "track_10min_16mb/2026-03-17_NaiveBaseline", policy="acceptance-readme")
