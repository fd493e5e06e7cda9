"""Record rules on synthetic submission.json + log summaries (LogSummary contract)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace as NS

import pytest

from verifier.api import verify_path
from verifier.rules import get_rule
from verifier.subject import LogInput, load_subject


def _problems(fs):
    return [f for f in fs if f.status in ("violation", "needs_runtime_probe") and f.severity != "info"]


def _record(tmp_path: Path, sub: dict | str, logs: dict[str, tuple[float, int, int]] | None = None,
            track: str = "track_10min_16mb"):
    d = tmp_path / track / "2026-04-01_Test"
    d.mkdir(parents=True, exist_ok=True)
    (d / "submission.json").write_text(sub if isinstance(sub, str) else json.dumps(sub, indent=2), encoding="utf-8")
    for seed, (bpb, nbytes, steps) in (logs or {}).items():
        (d / f"train_seed{seed}.log").write_text(
            f"step:{steps}/20000 val_loss:2.0 train_time:599000ms\nTotal submission size: {nbytes} bytes\n"
            f"final_int8_zlib_roundtrip_exact val_loss:2.00000000 val_bpb:{bpb:.8f}\n", encoding="utf-8")
    s = load_subject(d)
    for lg in s.logs:
        seed = lg.path.stem.replace("train_seed", "")
        bpb, nbytes, steps = logs[seed]
        lg.__dict__["events"] = []
        lg.__dict__["summary"] = NS(seed=int(seed), steps=steps, artifact_bytes=nbytes, code_bytes=None,
                                    train_time_s=599.0, headline=NS(name="final_int8_zlib_roundtrip_exact",
                                                                     val_loss=2.0, val_bpb=bpb, line_no=3))
    return s


SUB = {"name": "t", "author": "a", "github_id": "a", "date": "2026-04-01", "track": "10min_16mb",
       "val_loss": 2.0, "val_bpb": 1.10123456, "seeds": [1, 2, 3],
       "seed_results": {"1": {"val_bpb": 1.10123456, "artifact_bytes": 15_000_000, "steps": 100},
                        "2": {"val_bpb": 1.10123456, "artifact_bytes": 15_000_001, "steps": 101},
                        "3": {"val_bpb": 1.10123456, "artifact_bytes": 15_000_002, "steps": 102}}}
LOGS = {"1": (1.10123456, 15_000_000, 100), "2": (1.10123456, 15_000_001, 101), "3": (1.10123456, 15_000_002, 102)}


def test_schema(tmp_path):
    bad = _record(tmp_path / "a", "{not json")
    fs = _problems(get_rule("record.schema").check(bad))
    assert fs and fs[0].severity == "error" and "does not parse" in fs[0].message
    ok = _record(tmp_path / "b", SUB)
    assert [f for f in get_rule("record.schema").check(ok) if f.severity == "error"] == []


def test_claims_match_and_mismatch(tmp_path):
    assert _problems(get_rule("record.claims").check(_record(tmp_path / "ok", SUB, LOGS))) == []
    logs = dict(LOGS)
    logs["2"] = (1.10153456, 15_000_999, 90)  # bpb, bytes and steps all disagree with the claim for seed 2
    fs = [f for f in get_rule("record.claims").check(_record(tmp_path / "bad", SUB, logs)) if f.status == "violation"]
    sev = {f.data["field"]: f.severity for f in fs if f.data.get("seed") == "2"}
    # the score is what is judged; byte and step counts typed into submission.json are bookkeeping (merged records
    # differ by a few steps or bytes), unless the claim hides an artifact over the cap
    assert sev == {"artifact_bytes": "info", "steps": "info", "val_bpb": "error"}
    logs["2"] = (1.10123456, 16_000_001, 101)
    over = _problems(get_rule("record.claims").check(_record(tmp_path / "over", SUB, logs)))
    assert [(f.data["field"], f.severity) for f in over] == [("artifact_bytes", "warning")]


def test_a_claim_of_the_model_bytes_alone_is_not_a_disagreement(tmp_path):
    """#1412 claims each seed's "Serialized model" bytes; its logs' totals add the code (the cap is judged
    by log.artifact_cap, not here)."""
    logs = dict(LOGS)
    logs["2"] = (1.10123456, 16_000_001, 101)
    s = _record(tmp_path, SUB, logs)
    for lg in s.logs:
        lg.summary.model_bytes = SUB["seed_results"][str(lg.summary.seed)]["artifact_bytes"]
    assert _problems(get_rule("record.claims").check(s)) == []


def test_claims_within_printed_precision(tmp_path):
    sub = json.loads(json.dumps(SUB))
    sub["seed_results"]["1"]["val_bpb"] = 1.1012  # same value rounded to 4 decimals in the claim
    sub["val_bpb"] = 1.10123  # the mean, printed with 5 decimals
    assert _problems(get_rule("record.claims").check(_record(tmp_path, sub, LOGS))) == []


def test_claimed_seed_without_log(tmp_path):
    logs = {k: v for k, v in LOGS.items() if k != "3"}
    fs = get_rule("record.claims").check(_record(tmp_path, SUB, logs))
    assert any("seed 3 is claimed but no log" in f.message and f.severity == "info" for f in fs)


def test_seeds(tmp_path):
    one = json.loads(json.dumps(SUB))
    one["seeds"] = [1]
    one["seed_results"] = {"1": SUB["seed_results"]["1"]}
    # the organizers merged single-run records: said, as info
    fs = [f for f in get_rule("record.seeds").check(_record(tmp_path / "a", one, {"1": LOGS["1"]}))
          if f.status == "violation"]
    assert fs and "1 seed(s)" in fs[0].message and fs[0].severity == "info"
    assert [f for f in get_rule("record.seeds").check(_record(tmp_path / "b", SUB, LOGS)) if f.status == "violation"] == []
    nr = json.loads(json.dumps(one))
    nr["track"] = "non_record_16mb"
    assert _problems(get_rule("record.seeds").check(_record(tmp_path / "c", nr, {"1": LOGS["1"]},
                                                            track="track_non_record_16mb"))) == []


def _with_bpbs(vals):
    sub = json.loads(json.dumps(SUB))
    sub["seed_results"] = {str(i + 1): {"val_bpb": v, "val_loss": v * 1.7, "artifact_bytes": 15_000_000}
                           for i, v in enumerate(vals)}
    sub["val_bpb"] = sum(vals) / len(vals)
    return sub


def test_significance_in_bpb_space(tmp_path):
    base_dir = tmp_path / "base"
    base = _record(base_dir, _with_bpbs([1.0700, 1.0710, 1.0705]))
    better = tmp_path / "cand"
    _record(better, _with_bpbs([1.0600, 1.0605, 1.0598]))
    rep = verify_path(better / "track_10min_16mb/2026-04-01_Test", baseline=base.submission_path,
                      groups=["record"])
    f = [x for x in rep.findings if x.rule_id == "record.significance"][0]
    assert f.status == "observation" and f.data["p"] < 0.01 and 0.002 < f.data["margin_bpb"] < 0.004
    close = tmp_path / "close"
    _record(close, _with_bpbs([1.0690, 1.0700, 1.0695]))
    rep = verify_path(close / "track_10min_16mb/2026-04-01_Test", baseline=base.submission_path, groups=["record"])
    f = [x for x in rep.findings if x.rule_id == "record.significance"][0]
    assert f.status == "violation" and f.data["p"] >= 0.01
    # without a baseline the rule says so instead of guessing
    rep = verify_path(close / "track_10min_16mb/2026-04-01_Test", groups=["record"])
    assert [x.status for x in rep.findings if x.rule_id == "record.significance"] == ["not_available"]


def test_track_times(tmp_path):
    sub = json.loads(json.dumps(SUB))
    sub["seed_results"]["1"]["train_time_s"] = 650.0
    fs = _problems(get_rule("record.track").check(_record(tmp_path / "a", sub, LOGS)))
    assert fs and fs[0].data["field"] == "train_time_s"
    assert _problems(get_rule("record.track").check(_record(tmp_path / "b", SUB, LOGS))) == []


def test_reproduction_rule(tmp_path):
    s = _record(tmp_path / "claim", SUB, LOGS)
    run = _record(tmp_path / "run", SUB, {"1": (1.10123456, 16_000_100, 100), "2": (1.1019, 15_000_001, 101)})
    rule = get_rule("reproduction.claimed_vs_reproduced")
    assert [f.status for f in rule.check(s)] == ["not_available"]  # no re-run given
    s.reproduction = run.logs
    fs = rule.check(s)
    errors = [f for f in fs if f.severity == "error"]
    assert any(f.data["check"] == "bytes" and f.data["subject"] == "seed 1" for f in errors)
    # the numbers match the claim: the over-cap seed is a compliance error (above), not a failed reproduction
    assert fs[-1].data["verdict"] == "reproduces"
    ok = _record(tmp_path / "run2", SUB, LOGS)
    s.reproduction = ok.logs
    fs = rule.check(s)
    assert not [f for f in fs if f.severity == "error"] and fs[-1].data["verdict"].startswith("reproduces")


def test_claimed_mean_of_rounded_seed_claims_is_consistent(tmp_path):
    """A mean claimed from rounded per-seed claims (each within its log's precision) may differ from the mean
    of the logs' exact values by the seeds' rounding (as 2026-04-05_SP8192_GPTQ-Embeddings: 1.08563 from five
    5-decimal seeds vs 1.0856248 from the logs); a mean off by more than both roundings is still an error."""
    logs = {"1": (1.08483591, 15_000_000, 100), "2": (1.08661858, 15_000_001, 101),
            "3": (1.08640944, 15_000_002, 102)}
    sub = json.loads(json.dumps(SUB))
    for seed, (bpb, _, _) in logs.items():
        sub["seed_results"][seed]["val_bpb"] = round(bpb, 5)
    seed_mean = sum(round(b, 5) for b, _, _ in logs.values()) / 3  # 1.08595667 -> 1.08596
    log_mean = sum(b for b, _, _ in logs.values()) / 3  # 1.08595464, 5.4e-6 from the claim
    sub["val_bpb"] = round(seed_mean, 5)
    assert round(log_mean, 5) != sub["val_bpb"]  # the case: not the logs' mean rounded
    assert _problems(get_rule("record.claims").check(_record(tmp_path / "ok", sub, logs))) == []
    sub["val_bpb"] = round(seed_mean + 3e-5, 5)
    fs = _problems(get_rule("record.claims").check(_record(tmp_path / "bad", sub, logs)))
    assert [f.data["field"] for f in fs] == ["val_bpb"] and fs[0].severity == "error"


def _real_logs(tmp_path: Path, sub: dict, bpbs: dict[str, float]) -> Path:
    """A folder whose logs go through the real parser (seed line + exact metric line)."""
    d = tmp_path / "track_10min_16mb" / "2026-03-19_OneRun"
    d.mkdir(parents=True)
    (d / "submission.json").write_text(json.dumps(sub), encoding="utf-8")
    for name, bpb in bpbs.items():
        seed = name.replace("train_seed", "").replace(".log", "") if "seed" in name else "1337"
        (d / name).write_text(f"seed:{seed}\nstep:100/20000 train_loss:2.1 train_time:599000ms step_avg:1ms\n"
                              f"final_int8_zlib_roundtrip_exact val_loss:2.03588345 val_bpb:{bpb:.8f}\n",
                              encoding="utf-8")
    return d


def test_one_seed_claim_is_not_judged_as_a_mean(tmp_path):
    """2026-03-18_LongContextSeq2048 on main: the claim 1.20576485 is train.log's run; two more seeds beside it
    average higher. A single-run claim is that run's figure (info), not a mean over every log (was an error)."""
    sub = {"name": "t", "author": "a", "github_id": "a", "val_loss": 2.03588345, "val_bpb": 1.20576485}
    d = _real_logs(tmp_path, sub, {"train.log": 1.20576485, "train_seed1338.log": 1.20617460,
                                   "train_seed1339.log": 1.20715923})
    fs = get_rule("record.claims").check(load_subject(d))
    assert _problems(fs) == []
    assert any(f.severity == "info" and "one run (train.log:3)" in f.message for f in fs)
    # a claim no run printed is still an error
    sub["val_bpb"] = 1.19
    d2 = _real_logs(tmp_path / "b", sub, {"train.log": 1.20576485, "train_seed1338.log": 1.20617460})
    assert [f.severity for f in _problems(get_rule("record.claims").check(load_subject(d2)))] == ["error"]


def test_a_side_run_in_an_experiment_folder_is_not_the_claim(tmp_path):
    """2026-04-04_GDN_Hybrid_LongContext (merged): the only log of a claimed seed sits in logs_experiment/ and
    printed another figure; it is a side run (info). The same log at the top level contradicts the claim."""
    sub = {"author": "a", "github_id": "a", "name": "n", "date": "2026-04-04", "val_bpb": 1.4703,
           "seed_results": {"1341": {"val_bpb": 1.4703}}}
    line = "seed:1341\nfinal_int8_zlib_roundtrip_exact val_loss:2.10000000 val_bpb:1.39697242\n"
    for where, severity in (("logs_experiment/run_seed1341.txt", "info"), ("train_seed1341.log", "error")):
        d = tmp_path / where.split("/")[0] / "track_10min_16mb" / "2026-04-04_Side"
        (d / where).parent.mkdir(parents=True, exist_ok=True)
        (d / "submission.json").write_text(json.dumps(sub), encoding="utf-8")
        (d / where).write_text(line, encoding="utf-8")
        fs = [f for f in get_rule("record.claims").check(load_subject(d)) if f.data.get("field") == "val_bpb"]
        assert fs and {f.severity for f in fs} == {severity}, where
