"""Rules issue 22 adds: two-pass re-scoring, pre-eval (multi-epoch) TTT, validation data reaching GPTQ calibration
through main(), training shards outside the canonical set, and a claim taken from an untimed eval. One passing and
one failing example each, shaped on real PRs (facts only, in our own code)."""

from __future__ import annotations

import json
from pathlib import Path

from verifier.rules import get_rule
from verifier.subject import load_subject


def _folder(tmp_path: Path, files: dict[str, str]) -> Path:
    d = tmp_path / "track_10min_16mb" / "2026-04-20_Case"
    d.mkdir(parents=True)
    for name, text in files.items():
        (d / name).write_text(text, encoding="utf-8")
    return d


def _problems(fs):
    return [f for f in fs if f.status in ("violation", "needs_runtime_probe") and f.severity != "info"]


def _run(rule_id: str, folder: Path):
    return get_rule(rule_id).check(load_subject(folder))


# ---------------------------------------------------------------- two-pass re-scoring (#846, #869, #870, #1430)
TWO_PASS = """import os
NGRAM_TWO_PASS = int(os.environ.get("NGRAM_TWO_PASS", "1"))
RESCORE_LR = float(os.environ.get("NGRAM_RESCORE_LR", "0.1"))
def eval_val(tokens):
    return 0.0
"""


def test_two_pass_rescoring(tmp_path):
    bad = _problems(_run("code.two_pass_rescoring", _folder(tmp_path / "a", {"train_gpt.py": TWO_PASS})))
    assert [f.severity for f in bad] == ["error"] and bad[0].evidence[0].line == 2  # the switch, not its parameter
    off = _run("code.two_pass_rescoring", _folder(tmp_path / "b", {"train_gpt.py": TWO_PASS.replace('"1"', '"0"')}))
    assert _problems(off) == []
    # a log that prints the second pass decides it (#1430: a TTT second pass over the first chunks)
    log = "seed:1337\nttt_second_pass chunks=189 lr=0.0001\nlegal_ttt_exact val_loss:1.9 val_bpb:1.1\n"
    ran = _problems(_run("code.two_pass_rescoring", _folder(tmp_path / "c", {"train_seed1337.log": log})))
    assert ran and ran[0].severity == "error" and "train_seed1337.log:2" in ran[0].message
    clean = "seed:1337\nttt_sliding:done val_loss=1.9 val_bpb=1.1\nlegal_ttt_exact val_loss:1.9 val_bpb:1.1\n"
    assert _problems(_run("code.two_pass_rescoring", _folder(tmp_path / "d", {"train_seed1337.log": clean}))) == []


# ---------------------------------------------------------------- pre-eval multi-epoch TTT (#672, #1958, #1992)
PRE_EVAL = """import torch
def main():
    for ep in range(30):
        for bs in range(0, 100, 10):
            x = val_tokens[bs:bs + 10]
            loss = model(x)
            loss.backward()
            opt.step()
    final = eval_val(model, val_tokens)
"""
# the legal shape merged records use: each chunk is scored, then trained on for a few epochs
SCORE_THEN_EPOCHS = """import torch
def eval_val_ttt(model, val_tokens, chunks):
    for c in chunks:
        with torch.no_grad():
            loss_sum += model(val_tokens[c]).sum()
        for epoch in range(3):
            loss = model(val_tokens[c])
            loss.backward()
            opt.step()
"""


def test_pre_eval_epochs_on_validation_tokens(tmp_path):
    for rule_id in ("code.ttt_score_order", "code.val_in_training"):
        bad = _problems(_run(rule_id, _folder(tmp_path / rule_id / "a", {"train_gpt.py": PRE_EVAL})))
        assert bad and bad[0].severity == "error" and "trains for epochs" in bad[0].message
        good = _problems(_run(rule_id, _folder(tmp_path / rule_id / "b", {"train_gpt.py": SCORE_THEN_EPOCHS})))
        assert not [f for f in good if f.severity == "error"]


# ---------------------------------------------------------------- val data into GPTQ calibration (#728)
VAL_CALIB = """def collect_hessians(model, loader, n):
    return {}
def main():
    calib_loader = TokenLoader(args.val_files, rank)
    hessians = collect_hessians(model, calib_loader, 64)
"""


def test_validation_data_reaches_gptq_calibration_through_main(tmp_path):
    bad = _problems(_run("code.val_in_training", _folder(tmp_path / "a", {"train_gpt.py": VAL_CALIB})))
    assert bad and bad[0].severity == "error" and "collect_hessians() at line 5" in bad[0].message
    train = VAL_CALIB.replace("args.val_files", "args.train_files")
    assert _problems(_run("code.val_in_training", _folder(tmp_path / "b", {"train_gpt.py": train}))) == []


# ---------------------------------------------------------------- training shards (#1854, #1869, #2127)
def _shards_log(n: int) -> str:
    return (f"Hyperparameters:\n  caseops_enabled: True\n  vocab_size: 8192\ntrain_shards: {n}\nval_tokens: 47851520\n"
            "quantized val_loss:2.3 val_bpb:1.06\n")


PREP = """import argparse
p = argparse.ArgumentParser()
p.add_argument("--val-docs", type=int, default=10_000)
"""


def test_train_shards(tmp_path):
    bad = _problems(_run("log.train_shards", _folder(tmp_path / "a", {"train_seed0.log": _shards_log(1499)})))
    assert [f.severity for f in bad] == ["error"] and bad[0].data["train_shards"] == 1499
    ok = _run("log.train_shards", _folder(tmp_path / "b", {"train_seed0.log": _shards_log(80)}))
    assert _problems(ok) == [] and ok[0].data["canonical"] == 80
    # a shipped preparation script holding out 10,000 documents: a probe, info when the logs show canonical shards
    probe = _problems(_run("log.train_shards", _folder(tmp_path / "c", {"prepare_caseops_data.py": PREP})))
    assert probe and probe[0].status == "needs_runtime_probe" and probe[0].evidence[0].line == 3
    both = _run("log.train_shards", _folder(tmp_path / "d", {"prepare_caseops_data.py": PREP,
                                                              "train_seed0.log": _shards_log(80)}))
    assert _problems(both) == []


# ---------------------------------------------------------------- the claimed number is the timed eval's
def test_headline_from_an_untimed_diagnostic_eval(tmp_path):
    log = ("seed:42\nDIAGNOSTIC post_ema val_loss:1.9000 val_bpb:1.0500 eval_time:2112ms\n"
           "final_int6_sliding_window_exact val_loss:1.95000000 val_bpb:1.08000000\n")
    sub = {"author": "a", "github_id": "a", "name": "n", "date": "2026-04-20", "val_bpb": 1.05,
           "seed_results": {"42": {"val_bpb": 1.05}}}
    bad = _problems(_run("log.headline_timed", _folder(tmp_path / "a", {"train_seed42.log": log,
                                                                        "submission.json": json.dumps(sub)})))
    assert bad and bad[0].severity == "error" and "DIAGNOSTIC post_ema" in bad[0].message
    sub["val_bpb"] = sub["seed_results"]["42"]["val_bpb"] = 1.08
    good = _run("log.headline_timed", _folder(tmp_path / "b", {"train_seed42.log": log,
                                                                "submission.json": json.dumps(sub)}))
    assert _problems(good) == []


# ---------------------------------------------------------------- SLOT (#1240, #1376, #1430, #1722)
SLOT = """import os, torch
SLOT_ENABLED = int(os.environ.get("SLOT_ENABLED", "1"))
def eval_val_sliding_slot(model, val_tokens, windows):
    for ws in windows:
        x, y = val_tokens[ws:ws + 8], val_tokens[ws + 1:ws + 9]
        delta = torch.zeros(8, requires_grad=True)
        opt = torch.optim.AdamW([delta])
        loss = model(x, y, delta)
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += model(x, y, delta)
"""


def test_slot(tmp_path):
    bad = _problems(_run("code.slot", _folder(tmp_path / "a", {"train_gpt.py": SLOT})))
    assert bad and bad[0].status == "needs_runtime_probe" and bad[0].evidence[0].line == 3
    off = _run("code.slot", _folder(tmp_path / "b", {"train_gpt.py": SLOT.replace('"1"', '"0"')}))
    assert _problems(off) == [] and "off by default" in off[0].message
    # a log that scores with SLOT decides it (#1722 prints final_slot_exact)
    log = "seed:42\nfinal_slot_exact val_loss:1.12793774 val_bpb:0.66803003\n"
    ran = _problems(_run("code.slot", _folder(tmp_path / "c", {"train_seed42.log": log})))
    assert ran and ran[0].severity == "error" and ran[0].evidence[0].line == 2
    plain = "seed:42\nfinal_int6_sliding_window_exact val_loss:1.9 val_bpb:1.12\n"
    assert _problems(_run("code.slot", _folder(tmp_path / "d", {"train_seed42.log": plain}))) == []
