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
    empty = tmp_path / "empty"
    empty.mkdir()
    res = harness_cli("verify", empty)
    assert res.exit_code == 2 and "nothing to verify" in res.stderr, res.output
    assert "nothing to" in harness_cli("verify", "--help").stdout  # the exit code is documented


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


@pytest.mark.slow
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
        assert all(o.outcome in ("not_available", "not_in_force") for o in code), folder.name


def test_rules_are_dated_and_a_pr_is_judged_by_the_rules_of_its_day(tmp_path):
    """Every rule carries the day it took effect; requirements.txt became a rule on 2026-03-20 (README
    commit 9a60d1676), so a folder of a PR opened on 2026-03-19 importing FA3 without one is not judged by it."""
    assert all(len(r.since) == 10 and r.since >= "2026-03-18" for r in catalogue())
    d = tmp_path / "track_10min_16mb" / "2026-03-19_FA3_Early"
    d.mkdir(parents=True)
    (d / "train_gpt.py").write_text("from flash_attn_interface import flash_attn_func\n", encoding="utf-8")
    early = verify_path(d)
    assert early.ruleset["opened_on"] == "2026-03-19" and "code.dependencies" in early.ruleset["not_in_force"]
    assert not [f for f in early.findings if f.rule_id == "code.dependencies" and f.status == "violation"]
    assert validate_report_json(json.loads(early.to_json())) == []
    late = verify_path(d, opened_on="2026-03-21")
    assert [f for f in late.findings if f.rule_id == "code.dependencies" and f.status == "violation"]
    assert late.ruleset["version"] == early.ruleset["version"] and "code.dependencies" not in late.ruleset["not_in_force"]


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


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def _pr_repo(tmp_path: Path) -> tuple[Path, str]:
    """A repo with main and refs/pull/7/head adding two records folders (one with a space in its name, as in
    PR #65) and a model file; returns (repo, the model blob's path in .git/objects)."""
    repo = tmp_path / "pg"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "t@t")
    _git(repo, "config", "user.name", "t")
    (repo / "README.md").write_text("x\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    for name in ("2026-04-01_A", "2026-04-01_B two"):
        d = repo / "records" / "track_10min_16mb" / name
        d.mkdir(parents=True)
        (d / "train_gpt.py").write_text("import os\n")
        (d / "submission.json").write_text(json.dumps({"author": "a", "github_id": "a", "name": name,
                                                       "date": "2026-04-01", "val_bpb": 1.1}))
    model = repo / "records" / "track_10min_16mb" / "2026-04-01_A" / "final_model.ptz"
    model.write_bytes(b"weights only the PR head has")
    blob = _git(repo, "hash-object", str(model))
    _git(repo, "checkout", "-q", "-b", "pr")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "two records")
    _git(repo, "update-ref", "refs/pull/7/head", "pr")
    _git(repo, "checkout", "-q", "main")
    return repo, str(repo / ".git" / "objects" / blob[:2] / blob[2:])


def test_pr_with_several_folders_and_a_missing_blob(tmp_path, monkeypatch, harness_cli):
    """Issue 22: a PR adding several records folders yields one report per folder (was exit 2); a model blob the
    mirror lacks is a finding (record.files), not an abort (was exit 3)."""
    repo, blob_path = _pr_repo(tmp_path)
    Path(blob_path).unlink()  # the mirror lacks the model blob
    monkeypatch.setenv("PGOLF_HARNESS_CACHE", str(tmp_path / "cache"))
    out = harness_cli("verify", "github:openai/parameter-golf#7", "--source-repo", repo, "--format", "json")
    assert out.exit_code in (0, 1), out.stderr
    reports = json.loads(out.stdout)
    assert [r["inputs"]["resolved_from"].rsplit("/", 1)[-1] for r in reports] == ["2026-04-01_A", "2026-04-01_B two"]
    missing = [f for f in reports[0]["findings"] if f["rule_id"] == "record.files"]
    assert missing and missing[0]["data"]["path"] == "final_model.ptz" and missing[0]["severity"] == "info"
    assert all(validate_report_json(r) == [] for r in reports)


def test_the_library_refuses_a_policy_that_is_no_timing_policy(records_dir):
    """verify_path used to run with it and report each timing rule as "crashed"."""
    from harness.core.policy import PolicyError

    with pytest.raises(PolicyError, match="is an acceptance policy, not a timing policy"):
        verify_path(records_dir / "track_10min_16mb/2026-03-17_NaiveBaseline", policy="acceptance-readme")
def test_claims_without_logs_are_an_error(harness_cli, tmp_path):
    """A submission.json whose figures no log backs is a claim nothing supports: exit 1, not 0."""
    (tmp_path / "train_gpt.py").write_text("import math\nprint(math.pi)\n", encoding="utf-8")
    (tmp_path / "submission.json").write_text('{"val_bpb": 1.1, "seeds": [1], "seed_results": {"1": {"val_bpb": 1.1}}}',
                                              encoding="utf-8")
    res = harness_cli("verify", tmp_path, "--format", "json")
    assert res.exit_code == 1, res.output
    claims = [f for f in json.loads(res.stdout)["findings"] if f["rule_id"] == "record.claims"]
    assert claims and claims[0]["severity"] == "error" and "without logs" in claims[0]["message"]


def test_verify_reads_a_harness_run_as_one_log_per_seed(claimed_reference_run, harness_cli):
    """`verify runs/<id>`: the harness's stamped harness.log per seed (not also the trainer's copy under
    work/), the pristine code copy as the entry, the run's own policy, and the embedded dataset's byte
    sidecar not read as CaseOps (no FineWeb coverage or byte-count errors)."""
    res, _ = claimed_reference_run
    out = harness_cli("verify", res.run_dir, "--format", "json")
    rep = json.loads(out.stdout)
    assert rep["inputs"]["logs"] == ["seed-1/harness.log", "seed-2/harness.log"]
    assert rep["inputs"]["entry"] == "seed-1/code/train_gpt.py"
    assert rep["policy"] == "smoke"
    by_rule = {f["rule_id"]: f for f in rep["findings"] if f["rule_id"] in ("log.coverage", "log.byte_denominator")}
    assert set(by_rule) == {"log.coverage", "log.byte_denominator"}
    assert all(f["severity"] == "info" and "locally built dataset" in f["message"] for f in by_rule.values())
    assert not [f for f in rep["findings"] if f["severity"] == "error"], out.stdout
    # judged by the run's own 3 s budget, not the smoke policy's 60 s default
    assert any(f["rule_id"] == "log.timing" and "vs cap 3.0 s" in f["message"] for f in rep["findings"])


def test_text_summary_counts_notes_apart_from_findings(claimed_reference_run, harness_cli):
    """The summary line said "0 info" above a table of info rows: notes (observations, inputs not
    available) are counted on their own."""
    res, _ = claimed_reference_run
    out = harness_cli("verify", res.run_dir)
    rep = json.loads(harness_cli("verify", res.run_dir, "--format", "json").stdout)
    notes = sum(1 for f in rep["findings"] if f["status"] in ("observation", "not_available"))
    assert notes > 0 and f"and {notes} note(s)" in out.stdout


def test_a_lone_submission_json_is_checked_for_its_own_sake(records_dir, harness_cli):
    """Claims without logs are an error for a records folder, not for a submission.json given alone."""
    res = harness_cli("verify", records_dir / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "submission.json",
                      "--format", "json")
    assert res.exit_code == 0, res.output
    claims = [f for f in json.loads(res.stdout)["findings"] if f["rule_id"] == "record.claims"]
    assert claims and claims[0]["severity"] == "info"
