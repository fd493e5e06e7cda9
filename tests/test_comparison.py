"""harness.compare: fixture records as claims against synthetic reproductions built from their own logs.

Every reproduction here is a folder of real log files in tmp (copies of a fixture record's seed logs,
some lines edited the way a re-run drifts), read by the real parser, timeline and policy.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compare import report as cmp
from harness.compare import sides
from harness.compare.claims import load_side
from harness.compare.judge import compare_paths
from harness.compare.node import Node
from harness.compare.sides import load_timing_policy
from harness.core.records import validate_record
from harness.errors import UsageError

VOCAB = "track_10min_16mb/2026-04-01_Vocab4096_MLPMult4_WD085"  # 3 seeds, per-seed claims, H100 nvidia-smi, tok/s
LOWER_LR = "track_10min_16mb/2026-03-18_LowerLR"                  # headline-only claim, ran on 8x H200
FP16 = "track_10min_16mb/2026-03-18_FP16Embed_WD3600"             # headline-only claim, two seed logs
HEADLINE = re.compile(r"^(final_int6_sliding_window val_loss:\S+ val_bpb:)(\S+)", re.M)
EXAMPLE_V1 = Path(__file__).resolve().parents[1] / "harness" / "core" / "schemas" / "example-submission-v1.json"


def make_run(records_dir: Path, tmp: Path, folder: str = VOCAB, edits: dict[str, list] | None = None) -> Path:
    """A runs-like folder: seed-<n>/train.log copied from the record's seed logs, with per-seed edits."""
    run = tmp / "run"
    src = records_dir / folder
    for log in sorted(src.glob("train_seed*.log")):
        seed = re.search(r"seed(\d+)", log.name).group(1)
        text = log.read_text(encoding="utf-8")
        for pattern, repl in (edits or {}).get(seed, []):
            text, n = re.subn(pattern, repl, text, flags=re.M)
            assert n, f"edit {pattern!r} matched nothing in {log.name}"
        d = run / f"seed-{seed}"
        d.mkdir(parents=True)
        (d / "train.log").write_text(text, encoding="utf-8")
    return run


def checks(report, seed):
    return {c.name: c for c in report.comparison.seeds[seed]}


def mean_checks(report):
    return {c.name: c for c in report.comparison.mean}


def test_identical_logs_reproduce_their_claim(records_dir, tmp_path):
    rep = compare_paths(make_run(records_dir, tmp_path), records_dir / VOCAB)
    assert rep.verdict == "reproduces" and rep.exit_code == 0
    assert set(rep.comparison.seeds) == {"42", "1337", "2025"}
    c42 = checks(rep, "42")
    assert c42["val_bpb"].status == "ok"
    assert c42["bytes"].numbers["margin_to_cap"] == 16_000_000 - 15_915_268
    assert c42["steps"].numbers == {"reproduced": 5967, "claimed": 5967, "ratio": 1.0}
    assert c42["tok_per_s"].numbers["claimed"] == 7955783  # the claim's own log supplies tok/s
    assert c42["timing"].numbers == {"reproduced": "PASS", "claimed": "PASS"}
    # Both nodes come from the logs' nvidia-smi blocks.
    assert rep.run.node.key == rep.claim.node.key == "8x H100"
    assert rep.claim.node.form_factor == "SXM"
    assert rep.claim.timing_policy == "organizer-tda-v1"


def test_shifted_seed_does_not_reproduce(records_dir, tmp_path):
    shift = [(HEADLINE.pattern, lambda m: m.group(1) + f"{float(m.group(2)) + 0.01:.8f}")]
    rep = compare_paths(make_run(records_dir, tmp_path, edits={"1337": shift}), records_dir / VOCAB)
    assert rep.verdict == "does not reproduce" and rep.exit_code == 1
    c = checks(rep, "1337")["val_bpb"]
    assert c.status == "error"
    assert c.numbers["delta"] == pytest.approx(0.01, abs=1e-4)
    assert c.numbers["tolerance"] == pytest.approx(3 * 0.0005)  # claimed std 0.00036 < floor
    assert checks(rep, "42")["val_bpb"].status == "ok"
    # the mean moves by 0.01/3 = 0.0033, inside t(0.995,2) * 0.0005 * sqrt(2/3) = 0.00405
    assert mean_checks(rep)["mean_val_bpb"].status == "ok"
    assert any("seed 1337" in p for p in rep.summary()["problems"])


def test_seed_over_the_cap(records_dir, tmp_path):
    over = [(r"^Total submission size int6\+brotli: \d+ bytes", "Total submission size int6+brotli: 16000100 bytes")]
    rep = compare_paths(make_run(records_dir, tmp_path, edits={"2025": over}), records_dir / VOCAB)
    b = checks(rep, "2025")["bytes"]
    assert b.status == "error" and b.numbers["margin_to_cap"] == -100
    assert b.numbers["delta"] == 16_000_100 - 15_927_782
    m = mean_checks(rep)["all_seeds_under_cap"]
    assert m.status == "error" and "2025" in m.detail
    # the numbers match the claim; the run broke the cap: two verdicts, and the exit code says "not ok"
    assert rep.verdict == "reproduces" and rep.compliance == "does not comply" and rep.exit_code == 1


def test_a_record_s_own_logs_reproduce_it_even_when_they_fail_a_timing_policy(records_dir):
    """The April LQER record against its own logs: every seed FAILs organizer-tda-v1; that is compliance,
    and the logs still reproduce the claim (compare used to say "does not reproduce")."""
    folder = records_dir / "track_10min_16mb" / "2026-04-27_SP8192_LQER_SparseGate_BOSSmearFix_9HpStack_1.0611"
    rep = compare_paths(folder, folder)
    assert {checks(rep, s)["timing"].numbers["reproduced"] for s in ("0", "42", "1234")} == {"FAIL"}
    assert rep.verdict == "reproduces"
    assert rep.compliance == "does not comply" and rep.exit_code == 1
    assert rep.to_markdown().startswith("### ✅ `harness compare`: reproduces · ❌ does not comply")
    d = rep.to_dict()
    assert (d["verdict"], d["compliance"]) == ("reproduces", "does not comply") and cmp.validate_report_json(d) == []


def test_fewer_steps_and_slower_tokens_warn(records_dir, tmp_path):
    slow = [(r"step: 5967/20000", "step: 5200/20000"),
            (r"tok/s: (\d+)", lambda m: f"tok/s: {int(int(m.group(1)) * 0.87)}")]
    rep = compare_paths(make_run(records_dir, tmp_path, edits={"42": slow}), records_dir / VOCAB)
    c = checks(rep, "42")
    assert c["steps"].status == "warning" and c["steps"].numbers["reproduced"] == 5200
    assert c["tok_per_s"].status == "warning" and c["tok_per_s"].numbers["ratio"] == pytest.approx(0.87, abs=1e-3)
    assert c["val_bpb"].status == "ok"
    assert rep.verdict == "reproduces with warnings" and rep.exit_code == 0


def test_h200_reproduction_names_both_nodes(records_dir, tmp_path):
    h200 = [(r"NVIDIA H100 80GB HBM3", "NVIDIA H200          ")]
    rep = compare_paths(make_run(records_dir, tmp_path, edits={s: h200 for s in ("42", "1337", "2025")}),
                        records_dir / VOCAB)
    node = mean_checks(rep)["node"]
    assert node.status == "warning"
    assert "8x H200" in node.detail and "8x H100" in node.detail
    assert rep.run.node.key == "8x H200"
    assert rep.verdict == "reproduces with warnings"


def test_h200_claim_is_flagged(records_dir, tmp_path):
    # LowerLR claims only a headline; its one log (seed 1337, nvidia-smi shows 8x H200) becomes the per-seed claim.
    shutil.copy(records_dir / LOWER_LR / "train.log", tmp_path / "train.log")
    rep = compare_paths(tmp_path / "train.log", records_dir / LOWER_LR)
    assert [s.seed for s in rep.claim.seeds] == ["1337"]
    assert rep.claim.seeds[0].val_bpb == pytest.approx(1.22296644)
    assert any("no per-seed results" in n for n in rep.claim.notes)
    flag = mean_checks(rep)["claim_node"]
    assert flag.status == "warning" and "H200" in flag.detail and "official 8x H100" in flag.detail
    assert "node" not in mean_checks(rep)  # same node on both sides: no mismatch
    assert rep.verdict == "reproduces with warnings"


def test_headline_only_claim_with_two_seed_logs(records_dir, tmp_path):
    rep = compare_paths(records_dir / FP16, records_dir / FP16)
    assert {s.seed for s in rep.claim.seeds} == {"1337", "42"}
    assert all(checks(rep, s)["val_bpb"].status == "ok" for s in ("1337", "42"))
    # seed 1337 trained 600.008 s: within the 0.5 s grace of organizer-tda-v1, shown as a warning
    assert checks(rep, "1337")["timing"].numbers["reproduced"] == "PASS_GRACE"
    assert rep.verdict == "reproduces" and rep.compliance == "complies with warnings" and rep.exit_code == 0


def test_v1_record_as_run_side(records_dir, tmp_path):
    rec = json.loads(EXAMPLE_V1.read_text())
    assert validate_record(rec) == []
    (tmp_path / "submission.json").write_text(json.dumps(rec))
    side = load_side(tmp_path, "run", policy=load_timing_policy(None))
    assert side.kind == "harness-run" and side.timing_policy == rec["verification"]["policy"]["id"]
    assert {s.seed for s in side.seeds} == set(rec["seed_results"])
    s1 = next(s for s in side.seeds if s.seed == "1")
    assert s1.val_bpb == rec["seed_results"]["1"]["val_bpb"] and s1.timing == "PASS"
    assert side.node is None or side.node.family == "cpu"  # the example ran on CPU
    # The qualification a GPU run records is where the node comes from.
    rec["verification"]["environment"]["node"] = {
        "gpus": [{"index": str(i), "name": "NVIDIA H100 80GB HBM3"} for i in range(8)], "gpu_count": 8,
        "gpu_names": ["NVIDIA H100 80GB HBM3"], "driver": "570.124.06", "topology": "GPU0 X NV18 ...",
        "gemm": {"gemm": [{"gpu": 0, "bf16_gemm_tflops": 712.4}]}, "allreduce": {"skipped": "one rank"}}
    assert validate_record(rec) == []
    (tmp_path / "submission.json").write_text(json.dumps(rec))
    node = load_side(tmp_path, "run", policy=None).node
    assert (node.key, node.driver, node.is_official()) == ("8x H100", "570.124.06", True)
    assert node.source == "hardware qualification at the run's start"
    # A v1 record is also accepted as the claim (one of our runs against another).
    rep = compare_paths(tmp_path, tmp_path / "submission.json")
    assert rep.claim.kind == "harness-run"
    assert all(c.status in ("ok", "n/a", "warning") for cs in rep.comparison.seeds.values() for c in cs)


def test_manifest_claim_takes_steps_and_node_from_logs_beside_it(records_dir, tmp_path):
    entry = tmp_path / "submissions" / "vocab"
    entry.mkdir(parents=True)
    (entry / "train_gpt.py").write_text("print('stand-in entry')\n")
    shutil.copy(records_dir / VOCAB / "train_seed42.log", entry / "train_seed42.log")
    (entry / "harness.toml").write_text(
        '[submission]\nname = "vocab"\nnproc = 8\n\n[claim]\nreproducible_from_shipped_code = false\n'
        'reason = "the logged run used other defaults"\n\n'
        '[[claim.seeds]]\nseed = 42\nval_bpb = 1.09744\nbytes_total = 15915268\n')
    rep = compare_paths(make_run(records_dir, tmp_path), entry)
    assert rep.claim.kind == "manifest"
    c = checks(rep, "42")
    assert c["steps"].numbers["claimed"] == 5967 and c["tok_per_s"].status == "ok"
    assert checks(rep, "1337")["val_bpb"].status == "n/a"  # not claimed by the manifest
    assert mean_checks(rep)["claim_reproducible"].status == "warning"
    assert rep.claim.node.key == "8x H100"


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_pr_reference_resolved_from_a_local_mirror(records_dir, tmp_path, monkeypatch):
    """A real git repo with a PR head ref, resolved by harness.resolve (git archive), no network."""
    work = tmp_path / "upstream"
    work.mkdir()
    _git(work, "init", "-q", "-b", "main")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "base")
    folder = work / "records" / "track_10min_16mb" / "2026-04-01_Vocab"
    folder.mkdir(parents=True)
    for name in ("submission.json", "train_seed42.log", "train_seed1337.log"):
        shutil.copy(records_dir / VOCAB / name, folder / name)
    (folder / "train_gpt.py").write_text("print('x')\n")
    _git(work, "checkout", "-q", "-b", "pr")
    _git(work, "add", "records")
    _git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "add record")
    _git(work, "update-ref", "refs/pull/7/head", "pr")
    _git(work, "checkout", "-q", "main")
    monkeypatch.setenv("PGOLF_HARNESS_CACHE", str(tmp_path / "cache"))
    rep = compare_paths(make_run(records_dir, tmp_path), "github:openai/parameter-golf#7", source_repo=str(work))
    assert rep.claim.kind == "pr"
    assert any("records/track_10min_16mb/2026-04-01_Vocab" in n for n in rep.claim.notes)
    assert set(rep.claim.logs) == {"42", "1337"}
    # seed 2025 has no log in the PR: steps come from its submission.json, tok/s from nowhere
    assert checks(rep, "2025")["steps"].numbers["claimed"] == 5961
    assert checks(rep, "2025")["tok_per_s"].status == "n/a"
    assert any("no log beside the claim for seed(s) 2025" in n for n in rep.claim.notes)
    assert rep.verdict == "reproduces"


SP4096 = "track_10min_16mb/2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"


def test_reproduction_is_scored_on_the_claimed_metric_line(records_dir, tmp_path):
    # Seed 42 of this record claims its sliding-window value although its log also ran a (worse) TTT eval.
    sliding = r"^(final_int6_sliding_window val_loss:\S+ val_bpb:)(\S+)"
    run = make_run(records_dir, tmp_path, folder=SP4096)
    rep = compare_paths(run, records_dir / SP4096)
    assert rep.claim.metrics["42"] == "final_int6_sliding_window"
    assert rep.run.metrics["42"] == "final_int6_sliding_window"
    assert any("seed 42: compared on final_int6_sliding_window (line 133)" in n for n in rep.run.notes)
    assert checks(rep, "42")["val_bpb"].status == "ok"
    # ...and it is that line that is judged: moving it breaks seed 42.
    shutil.rmtree(run)
    shift = [(sliding, lambda m: m.group(1) + f"{float(m.group(2)) + 0.01:.8f}")]
    rep = compare_paths(make_run(records_dir, tmp_path, folder=SP4096, edits={"42": shift}), records_dir / SP4096)
    assert checks(rep, "42")["val_bpb"].status == "error"


def test_renderers_agree_with_the_report(records_dir, tmp_path):
    shift = [(HEADLINE.pattern, lambda m: m.group(1) + f"{float(m.group(2)) - 0.02:.8f}")]
    rep = compare_paths(make_run(records_dir, tmp_path, edits={"42": shift}), records_dir / VOCAB)
    d = json.loads(rep.to_json())
    assert cmp.validate_report_json(d) == []
    assert cmp.validate_report_json({**d, "verdict": "maybe"}) != []
    assert d["verdict"] == "does not reproduce" and d["exit_code"] == 1 and d["kind"] == "compare"
    assert d["comparison"]["seeds"]["42"][0]["status"] == "error"
    assert d["run"]["node"]["key"] == "8x H100"
    md = rep.to_markdown()
    assert md.startswith("### ❌ `harness compare`: does not reproduce · ")
    assert "| 42 | 1.077438 | 1.097440 | -0.02000 |" in md
    assert "t(0.995, df)" in md and "df = 2" in md
    text = rep.render("text")
    assert "does not reproduce" in text and "8x H100" in text and "-0.02000" in text
    assert rep.summary()["seeds"]["42"]["val_bpb"] == "error"


def test_claim_node_has_driver_and_cuda_from_nvidia_smi(records_dir):
    side = load_side(records_dir / LOWER_LR, "claim", policy=load_timing_policy(None))
    assert (side.node.key, side.node.driver, side.node.cuda) == ("8x H200", "580.95.05", "13.0")


def test_the_organizers_compliance_rerun_reproduces_the_claim(records_dir, tmp_path):
    """A real reproduction: the record ships its original logs and a compliance re-run (GPTQ reserve 8 s)."""
    folder = records_dir / "track_10min_16mb" / "2026-04-29_SmearGateBOSFix_3Seed_1.06141"
    for log in folder.glob("*_rerun_*.log"):
        shutil.copy(log, tmp_path / log.name)
    rep = compare_paths(tmp_path, folder)
    assert rep.verdict == "reproduces"
    assert set(rep.claim.logs) == {"42", "314", "1234"}
    assert all("original" in Path(p).name for p in rep.claim.logs.values())  # the claimed value picks the log
    c42 = checks(rep, "42")
    assert c42["val_bpb"].numbers["delta"] == pytest.approx(1.06083288 - 1.06128183, abs=1e-7)
    assert c42["timing"].numbers == {"reproduced": "PASS", "claimed": "FAIL"}  # the re-run fixed the budget
    assert mean_checks(rep)["mean_val_bpb"].numbers["delta"] == pytest.approx(-0.0000416, abs=1e-6)


def test_non_record_claim_over_the_budget_is_a_warning(records_dir):
    folder = records_dir / "track_non_record_16mb" / "2026-03-18_Quasi10Bfrom50B_SP1024_9x512_KV4_4h_pgut3"
    rep = compare_paths(folder, folder)  # a 4-hour run: FAIL under organizer-tda-v1
    t = checks(rep, rep.run.seeds[0].seed)["timing"]
    assert t.numbers["reproduced"] == "FAIL"
    assert t.status == "warning" and "non-record track" in t.detail
    assert rep.verdict == "reproduces" and rep.compliance == "complies with warnings" and rep.exit_code == 0


def test_node_normalisation():
    assert Node.from_name("8xH100 80GB SXM", None, "t").key == "8x H100"
    assert Node.from_name("NVIDIA H100 80GB HBM3", 8, "t").is_official()
    assert not Node.from_name("NVIDIA H100 PCIe", 8, "t").is_official()
    assert Node.from_name("NVIDIA GeForce RTX 5090", 1, "t").key == "1x RTX 5090"
    assert Node.from_name("2x A100-80GB", None, "t").key == "2x A100"
    assert Node.from_name("cpu (gloo) x2 ranks", None, "t").family == "cpu"
    assert Node.from_name(None, None, "t") is None


def test_usage_errors(records_dir, tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        compare_paths(tmp_path / "nope", records_dir / VOCAB)
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="neither a submission.json nor training logs"):
        compare_paths(tmp_path / "empty", records_dir / VOCAB)
    with pytest.raises(UsageError, match="not a timing policy"):
        compare_paths(records_dir / VOCAB, records_dir / VOCAB, policy="acceptance-readme")


def test_timing_summary_words():
    ts = sides.timing_summary
    assert ts([{"name": "train", "status": "PASS"}, {"name": "eval", "status": "PASS"},
               {"name": "artifact_production", "status": "REPORTED"}]) == "PASS"
    assert ts([{"name": "train", "status": "PASS_GRACE"}, {"name": "eval", "status": "FAIL"}]) == "FAIL"
    assert ts([{"name": "train", "status": "UNDETERMINED"}, {"name": "eval", "status": "PASS"}]) == "UNDETERMINED"
    assert ts([]) is None


def test_comparison_runs_without_torch(records_dir):
    """The library half of `harness compare` reads files only: it must work where torch is absent."""
    # a meta-path finder that refuses torch (sys.modules["torch"] = None breaks scipy.stats' torch probe)
    code = ("import sys\n"
            "class B:\n"
            "    def find_spec(self, n, p=None, t=None):\n"
            "        if n == 'torch' or n.startswith('torch.'): raise ImportError('no torch')\n"
            "sys.meta_path.insert(0, B())\n"
            "from harness.compare.judge import compare_paths\n"
            f"r = compare_paths({str(records_dir / VOCAB)!r}, {str(records_dir / VOCAB)!r})\n"
            "assert 'torch' not in sys.modules\n"
            "print(r.verdict)\n")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       cwd=Path(__file__).resolve().parents[1])
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "reproduces"
