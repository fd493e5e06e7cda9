"""The rulings corpus (bench/rulings/cases.toml) and its benchmark (bench/verify_rulings.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import verify_rulings  # noqa: E402 - bench/ is a folder of scripts, not a package

MIRROR = verify_rulings.DEFAULT_MIRROR
LANDING_KINDS = ("merge_commit", "squash_commit", "landing_commit", "removal_commit")


@pytest.fixture(scope="module")
def doc() -> dict:
    return verify_rulings.load_cases()


@pytest.fixture(scope="module")
def mirror() -> Path:
    if not (MIRROR / "refs").exists() and not (MIRROR / "packed-refs").exists():
        pytest.skip(f"openai/parameter-golf mirror not found at {MIRROR}")
    return MIRROR


def _git_ok(mirror: Path, *args: str) -> bool:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True).returncode == 0


def test_corpus_matches_schema_and_covers_the_issue(doc: dict) -> None:
    cases = doc["case"]
    assert len(cases) >= 60
    assert len({(c["pr"], c["head"]) for c in cases}) == len(cases)
    classes = {v["class"] for c in cases for v in c.get("violation", [])}
    # issue 22's classes and PGOLF_FACTS/COMMUNITY's, each with at least one real PR
    for wanted in ("byte_denominator", "two_pass_rescoring", "val_calibrated_gptq", "train_shards",
                   "ngram_target_cache", "prequant_ttt_val", "slot", "eval_time", "train_time", "artifact_cap",
                   "coverage"):
        assert wanted in classes, wanted
    months = {c["opened"][:7] for c in cases if c["label"] == "clean"}
    assert {"2026-03", "2026-04"} <= months


def test_schema_rejects_a_broken_case(tmp_path: Path) -> None:
    text = verify_rulings.CASES_PATH.read_text(encoding="utf-8")
    broken = tmp_path / "cases.toml"
    broken.write_text(text.replace('label = "clean"', 'label = "maybe"', 1), encoding="utf-8")
    with pytest.raises(ValueError, match="label"):
        verify_rulings.load_cases(broken)
    unknown = tmp_path / "unknown.toml"
    unknown.write_text(text.replace('class = "slot"', 'class = "slotted"', 1), encoding="utf-8")
    with pytest.raises(ValueError, match="slotted"):
        verify_rulings.load_cases(unknown)


def test_every_case_is_in_the_mirror(doc: dict, mirror: Path) -> None:
    """Each head is the PR's head or one of its commits, holds the listed folders, and each cited
    landing or removal commit is on main."""
    problems = []
    for c in doc["case"]:
        head, ref = c["head"], f"refs/pull/{c['pr']}/head"
        if not _git_ok(mirror, "merge-base", "--is-ancestor", head, ref):
            problems.append(f"#{c['pr']}: {head[:10]} is not on {ref}")
            continue
        problems += [f"#{c['pr']}: {f} missing at {head[:10]}" for f in c["folders"]
                     if not _git_ok(mirror, "cat-file", "-e", f"{head}:{f}")]
        for s in c["source"]:
            if s["kind"] in LANDING_KINDS and not _git_ok(mirror, "merge-base", "--is-ancestor", s["commit"], "main"):
                problems.append(f"#{c['pr']}: {s['kind']} {s['commit'][:10]} is not on main")
            if s["kind"] == "pr_commit" and not _git_ok(mirror, "merge-base", "--is-ancestor", s["commit"], ref):
                problems.append(f"#{c['pr']}: pr_commit {s['commit'][:10]} is not on {ref}")
    assert not problems, problems


def test_benchmark_end_to_end(mirror: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two violations the logs decide (#1463 over the cap on the non-record track, #1557 eval over 600 s), a clean record (#42)
    and a PR whose mirror copy lacks a blob (#1972): every case yields a row, the run keeps going."""
    out = tmp_path / "rulings.json"
    assert verify_rulings.main(["--mirror", str(mirror), "--only", "1463,1557,42,1972", "-j", "2",
                                "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "artifact_cap" in printed and "Summary" in printed
    result = json.loads(out.read_text(encoding="utf-8"))
    assert sorted(r["pr"] for r in result["rows"]) == [42, 1463, 1557, 1972]
    outcome = {(v["pr"], v["class"]): v["outcome"] for v in result["violations"]}
    assert outcome[(1463, "artifact_cap")] == "warning"  # non-record track: #542 was listed over the cap
    assert outcome[(1557, "eval_time")] == "error"
    assert {v["outcome"] for v in result["violations"] if v["pr"] == 1972} <= set(verify_rulings.OUTCOMES)
    clean = [c for c in result["clean"] if c["pr"] == 42]
    assert clean and not clean[0]["failed"]
    assert result["summary"]["clean_records"] == 1 and result["summary"]["violations"] == 4
