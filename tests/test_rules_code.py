"""Code rules on small synthetic scripts: one passing and one failing example per rule."""

from __future__ import annotations

import base64
import lzma
import zlib
from pathlib import Path

import pytest

from verifier.api import verify_path
from verifier.rules import get_rule
from verifier.static import analyse
from verifier.subject import load_subject


def _folder(tmp_path: Path, code: str, **extra: str) -> Path:
    d = tmp_path / "rec"
    d.mkdir(exist_ok=True)
    (d / "train_gpt.py").write_text(code, encoding="utf-8")
    for name, text in extra.items():
        (d / name.replace("__", ".")).write_text(text, encoding="utf-8")
    return d


def _run(rule_id: str, folder: Path):
    return get_rule(rule_id).check(load_subject(folder))


def _problems(fs):
    return [f for f in fs if f.status in ("violation", "needs_runtime_probe") and f.severity != "info"]


CLEAN = """import os, math
import torch

def main():
    steps = int(os.environ.get("ITERATIONS", "20000"))
    for i in range(steps):
        loss = torch.zeros(())
        loss.backward()
        opt.step()

if __name__ == "__main__":
    main()
"""


# ---------------------------------------------------------------- network
def test_network_fail_and_pass(tmp_path):
    bad = CLEAN + """
import urllib.request, subprocess
from huggingface_hub import hf_hub_download

def fetch():
    urllib.request.urlopen("https://example.com/x")
    hf_hub_download("org/repo", "f.bin")
    subprocess.run(["curl", "-O", "https://x"])
    subprocess.run("cd /tmp && wget https://x", shell=True)
"""
    fs = _problems(_run("code.network", _folder(tmp_path, bad)))
    msgs = " ".join(f.message for f in fs)
    assert {f.severity for f in fs} == {"error"}
    assert "urlopen" in msgs and "hf_hub_download" in msgs and "curl" in msgs and "wget" in msgs
    assert all(f.evidence[0].line for f in fs)
    assert _problems(_run("code.network", _folder(tmp_path, CLEAN))) == []


def test_network_nvidia_smi_is_not_network(tmp_path):
    code = CLEAN + "\nimport subprocess\nsubprocess.run(['nvidia-smi'], capture_output=True)\n"
    assert _problems(_run("code.network", _folder(tmp_path, code))) == []


# ---------------------------------------------------------------- validation data in training
def test_val_in_training(tmp_path):
    bad = """
def train(model, opt, val_tokens, train_loader):
    for step in range(100):
        x = val_tokens[step: step + 1024]
        loss = model(x)
        loss.backward()
        opt.step()

def gptq_calibrate(model, val_tokens):
    return [model(val_tokens[i]) for i in range(8)]
"""
    fs = _problems(_run("code.val_in_training", _folder(tmp_path, bad)))
    fns = {f.data["function"] for f in fs}
    assert fns == {"train", "gptq_calibrate"} and all(f.status == "needs_runtime_probe" for f in fs)
    ok = """
def train(model, opt, val_tokens, train_loader):
    for step in range(100):
        loss = model(next(train_loader))
        loss.backward()
        opt.step()
        if step % 10 == 0:
            val_bpb = eval_val(model, val_tokens)
"""
    assert _problems(_run("code.val_in_training", _folder(tmp_path, ok))) == []
    # heuristic: nothing found is "needs runtime probe", never "pass"
    rep = verify_path(_folder(tmp_path, ok))
    assert {o.rule.id: o.outcome for o in rep.outcomes}["code.val_in_training"] == "needs_runtime_probe"


# ---------------------------------------------------------------- score before update
SCORE_FIRST = """
import torch
def eval_val_ttt(model, opt, val_tokens, chunks):
    loss_sum = 0.0
    for c in chunks:
        with torch.no_grad():
            loss_sum += model(val_tokens[c]).item()
        loss = model(val_tokens[c])
        loss.backward()
        opt.step()
    return loss_sum
"""
UPDATE_FIRST = """
import torch
def eval_val_ttt(model, opt, val_tokens, chunks):
    loss_sum = 0.0
    for c in chunks:
        loss = model(val_tokens[c])
        loss.backward()
        opt.step()
        with torch.no_grad():
            loss_sum += model(val_tokens[c]).item()
    return loss_sum
"""


def test_ttt_score_order(tmp_path):
    bad = _problems(_run("code.ttt_score_order", _folder(tmp_path, UPDATE_FIRST)))
    assert len(bad) == 1 and "updates" in bad[0].message and bad[0].status == "needs_runtime_probe"
    good = _run("code.ttt_score_order", _folder(tmp_path, SCORE_FIRST))
    assert _problems(good) == [] and any("score-first" in f.message for f in good)


# the training loop of 2026-03-23_LeakyReLU_LegalTTT_ParallelMuon (merged): optimizer steps, then an EMA update
# under no_grad; main() also holds TTT names because it calls the TTT eval afterwards
TRAIN_LOOP_IN_MAIN = """
import torch
def main():
    ttt_enabled = True
    while True:
        x, y = train_loader.next_batch(1024)
        loss = model(x, y)
        loss.backward()
        optimizer_muon.step()
        with torch.no_grad():
            for name, t in base_model.state_dict().items():
                ema_state[name].mul_(0.99).add_(t)
        if step % 100 == 0:
            val_loss, val_bpb = eval_val(args, model, val_tokens)
    if ttt_enabled:
        eval_val_sliding_ttt(model, val_tokens)
"""


def test_training_loop_in_main_is_not_ttt(tmp_path):
    fs = _run("code.ttt_score_order", _folder(tmp_path, TRAIN_LOOP_IN_MAIN))
    assert _problems(fs) == [] and not any("main()" in f.message for f in fs)
    # a loop in main() that trains on validation batches and then scores them is adaptation on validation data
    leaky = TRAIN_LOOP_IN_MAIN.replace("train_loader.next_batch(1024)", "val_tokens[0], val_tokens[1]").replace(
        "ema_state[name].mul_(0.99).add_(t)", "loss_sum += model(val_tokens[0], val_tokens[1])")
    assert leaky.count("val_tokens[0]") == 2
    (tmp_path / "b").mkdir()
    bad = _problems(_run("code.ttt_score_order", _folder(tmp_path / "b", leaky)))
    assert bad and "main()" in bad[0].message


def test_pre_eval_ttt_pattern(tmp_path):
    code = """
def ttt_adapt(model, opt, val_tokens):
    for epoch in range(3):
        pass
    loss = model(val_tokens)
    loss.backward()
    opt.step()
"""
    fs = _problems(_run("code.ttt_score_order", _folder(tmp_path, code)))
    assert fs and "pre-eval" in fs[0].message


# ---------------------------------------------------------------- target-keyed caches
def test_target_cache(tmp_path):
    bad = """
import os
NGRAM_ORDER = int(os.environ.get("NGRAM_ORDER", "5"))
def eval_val_sliding(model, tokens):
    ngram_counts = {}
    for t in tokens:
        ngram_counts[t] = ngram_counts.get(t, 0) + 1
"""
    fs = _run("code.target_cache", _folder(tmp_path, bad))
    assert any(f.severity == "warning" and "ngram_counts" in f.message for f in fs)
    ok = "class BigramHashEmbedding:\n    pass\n\ndef eval_val(model, tokens):\n    return model(tokens)\n"
    assert _problems(_run("code.target_cache", _folder(tmp_path, ok))) == []


# ---------------------------------------------------------------- budget knobs
def test_budget_knobs(tmp_path):
    bad = 'import os\nT = float(os.environ.get("MAX_WALLCLOCK_SECONDS", 1200))\nS = int(os.environ.get("FORCE_STOP_STEP", "4945"))\n'
    fs = _problems(_run("code.budget_knobs", _folder(tmp_path, bad)))
    sev = {f.data["knob"]: f.severity for f in fs}
    assert sev == {"MAX_WALLCLOCK_SECONDS": "error", "FORCE_STOP_STEP": "warning"}
    ok = 'import os\nT = float(os.environ.get("MAX_WALLCLOCK_SECONDS", 600.0))\nS = int(os.environ.get("FORCE_STOP_STEP", "0"))\n'
    assert _problems(_run("code.budget_knobs", _folder(tmp_path, ok))) == []


# ---------------------------------------------------------------- dependencies
def test_dependencies(tmp_path):
    code = "import numpy, torch, zstandard\nimport subprocess\nsubprocess.run(['lrzip', '-z', 'x'])\n"
    # undeclared imports and tools are reproduction notes (info): the organizers merged records importing FA3 and
    # other packages without a requirements.txt
    fs = _run("code.dependencies", _folder(tmp_path, code))
    undeclared = [f for f in fs if f.status == "violation"]
    text = " ".join(f.message for f in undeclared)
    assert "zstandard" in text and "lrzip" in text and "numpy" not in text
    assert _problems(fs) == [] and all(f.severity == "info" for f in fs)
    ok = _folder(tmp_path, code, requirements__txt="zstandard==0.22\n", README__md="apt-get install lrzip\n")
    assert [f for f in _run("code.dependencies", ok) if f.status == "violation"] == []


# ---------------------------------------------------------------- counted code + wrappers
def _wrapper(src: str, codec: str = "lzma", enc: str = "b85") -> str:
    data = src.encode()
    comp = lzma.compress(data) if codec == "lzma" else zlib.compress(data)
    payload = (base64.b85encode(comp) if enc == "b85" else base64.b64encode(comp)).decode()
    mod = "lzma" if codec == "lzma" else "zlib"
    fn = "b85decode" if enc == "b85" else "b64decode"
    return f"import base64,{mod}\nexec(compile({mod}.decompress(base64.{fn}('{payload}')),'train_gpt.py','exec'))\n"


def test_wrapper_is_decoded_and_analysed(tmp_path):
    inner = 'import os, urllib.request\nT = float(os.environ.get("MAX_WALLCLOCK_SECONDS", 900))\n' \
            'def go():\n    urllib.request.urlopen("http://x")\n'
    for codec, enc in (("lzma", "b85"), ("zlib", "b64")):
        d = _folder(tmp_path, _wrapper(inner, codec, enc))
        counted = _run("code.counted_code", d)
        obs = [f for f in counted if f.status == "observation"]
        assert obs and obs[0].data["decoded_bytes"] == len(inner.encode())
        assert obs[0].data["shipped_bytes"] == (d / "train_gpt.py").stat().st_size
        assert any("urlopen" in f.message for f in _problems(_run("code.network", d)))
        assert any(f.data.get("knob") == "MAX_WALLCLOCK_SECONDS" for f in _problems(_run("code.budget_knobs", d)))


def test_counted_code_sibling_import(tmp_path):
    d = _folder(tmp_path, "import helpers\nexec(open('train_gpt_decode.py').read())\n",
                helpers__py="X = 1\n", train_gpt_decode__py="print(1)\n")
    # an accounting note (info): the cap itself is judged on the artifact (log.artifact_cap)
    fs = [f for f in _run("code.counted_code", d) if f.status == "violation"]
    assert any("helpers.py" in f.message for f in fs) and any("train_gpt_decode.py" in f.message for f in fs)
    assert all(f.severity == "info" for f in fs)
    (tmp_path / "b").mkdir()
    assert [f for f in _run("code.counted_code", _folder(tmp_path / "b", CLEAN)) if f.status == "violation"] == []


def test_corrupt_payload_is_a_finding(tmp_path):
    d = _folder(tmp_path, "import base64,lzma\nexec(lzma.decompress(base64.b85decode('not-a-payload!!')))\n")
    fs = [f for f in _run("code.counted_code", d) if f.status == "needs_runtime_probe"]
    assert fs and "could not be decoded" in fs[0].message and fs[0].evidence[0].line == 2


# ---------------------------------------------------------------- parse / odd files
def test_syntax_error_is_a_finding_not_a_crash(tmp_path):
    d = _folder(tmp_path, "import requests\ndef f(:\n    requests.get('http://x')\n")
    fs = _run("code.parse", d)
    assert fs and fs[0].severity == "error" and fs[0].evidence[0].line == 2
    # the regex fallback still sees the network call
    assert any("requests.get" in f.message for f in _problems(_run("code.network", d)))
    assert _run("code.parse", _folder(tmp_path, CLEAN)) == []


@pytest.mark.parametrize("text", [
    "x = (" * 5000 + "1" + ")" * 5000,              # nesting beyond the parser
    "a=1;" * 200_000,                               # one huge minified line
    "\x00\x01 binary junk",                         # NUL bytes
    "",                                             # empty
])
def test_odd_files_never_crash(text):
    u = analyse(text, "odd.py")
    assert u.size_bytes == len(text.encode())


# ---------------------------------------------------------------- identity with logs
def test_log_identity(tmp_path):
    code = 'import os\nLR = float(os.environ.get("MATRIX_LR", "0.02"))\n'
    ran = 'import os\nLR = float(os.environ.get("MATRIX_LR", "0.04"))\n'
    rule = "=" * 100
    log = f"{rule}\nSource code:\n{rule}\n{ran}\n{rule}\nstep:1/10 train_loss:1.0\n"
    d = _folder(tmp_path, code, train_seed1__log=log)
    fs = _problems(_run("code.log_identity", d))
    assert len(fs) == 1 and "MATRIX_LR" in fs[0].message and fs[0].data["default_diffs"]["MATRIX_LR"] == ["'0.02'", "'0.04'"]
    same = f"{rule}\nSource code:\n{rule}\n{code}\n{rule}\nstep:1/10 train_loss:1.0\n"
    (tmp_path / "x").mkdir()
    d2 = _folder(tmp_path / "x", code, train_seed1__log=same)
    assert _problems(_run("code.log_identity", d2)) == []


# ---------------------------------------------------------------- counted size vs claims
def test_counted_size(tmp_path):
    import json

    code = CLEAN
    d = _folder(tmp_path, code, submission__json=json.dumps({"val_bpb": 1.2, "bytes_code": len(code.encode()) - 341}))
    fs = [f for f in _run("code.counted_size", d) if f.status == "violation"]
    assert len(fs) == 1 and "matches neither" in fs[0].message and fs[0].severity == "info"
    (d / "submission.json").write_text(json.dumps({"val_bpb": 1.2, "bytes_code": len(code.encode())}))
    assert [f for f in _run("code.counted_size", d) if f.status == "violation"] == []


def test_counted_size_lzma9_recipe_of_a_script(tmp_path):
    # a script that logs its size as an lzma-9 wrapper of itself (the PR #1212 convention): the rule measures it
    from harness.core import codesize

    code = CLEAN + "\ndef _minify_code(source):\n    return lzma.compress(source.encode(), preset=9)\n"
    d = _folder(tmp_path, code)
    obs = _run("code.counted_size", d)[0]
    assert obs.data["recipe"] == "lzma9-b85"
    assert obs.data["counted"] == codesize.measure(code, "lzma9-b85").counted_bytes


def test_brotli_wrapper_as_records_count_it(tmp_path):
    # the counted-code wrapper format of the CaseOps records, shipped for real: decoded and analysed
    import brotli

    inner = 'import os\nN = int(os.environ.get("FORCE_STOP_STEP", "4945"))\n'
    payload = base64.b85encode(brotli.compress(inner.encode(), quality=11)).decode()
    d = _folder(tmp_path, f'import brotli as B,base64 as b\nexec(B.decompress(b.b85decode("{payload}")))\n')
    obs = [f for f in _run("code.counted_code", d) if f.status == "observation"]
    assert obs and obs[0].data["chain"] == ["b85decode", "brotli.decompress"]
    assert any(f.data.get("knob") == "FORCE_STOP_STEP" for f in _problems(_run("code.budget_knobs", d)))


# ---------------------------------------------------------------- parse: newer grammar
PEP701 = '''names = {"a": 1}

def main():
    print(f"{names["a"]:>4} done")
    for i in range(3):
        pass
'''


def test_newer_grammar_is_a_note_not_an_error(tmp_path, monkeypatch):
    """2026-04-08_SP8192_ParallelResid_ScoreFirstTTT (merged) decodes to a script with a PEP 701 f-string that
    Python 3.11 rejects ("f-string: expecting '}'"): the code is fine on the 3.12 it ran on."""
    from verifier.static import newer_grammar

    monkeypatch.delenv("PGOLF_NEWER_PYTHON", raising=False)
    monkeypatch.setattr(newer_grammar.shutil, "which", lambda name: None)
    monkeypatch.setattr(newer_grammar, "installed_newer_python", lambda: None)
    fs = _run("code.parse", _folder(tmp_path, PEP701))
    assert _problems(fs) == [] and fs and fs[0].severity == "info" and "cannot parse here" in fs[0].message
    (tmp_path / "b").mkdir()
    broken = _run("code.parse", _folder(tmp_path / "b", "def main(:\n    pass\n"))
    assert [f.severity for f in _problems(broken)] == ["error"]


NEWER = sorted(Path("/root/.pyenv/versions").glob("3.1[2-9]*/bin/python3.1[2-9]")) if Path("/root/.pyenv").is_dir() else []


@pytest.mark.skipif(not NEWER, reason="no Python >= 3.12 interpreter on this machine")
def test_newer_grammar_parsed_with_the_newer_python(tmp_path, monkeypatch):
    monkeypatch.setenv("PGOLF_NEWER_PYTHON", str(NEWER[0]))
    u = analyse(PEP701, "x.py")
    assert u.parsed_with and u.parsed_with.startswith("3.1") and "main" in u.functions and u.loops
    fs = _run("code.parse", _folder(tmp_path, PEP701))
    assert _problems(fs) == [] and "parsed with Python 3.1" in fs[0].message


def test_val_in_training_spares_off_by_default_branches_and_inline_score_first_ttt(tmp_path):
    """2026-03-31_ParallelResiduals_MiniDepthRecurrence (merged): SLOT updates on the window inside the sliding
    eval, behind SLOT_ENABLED='0'; 2026-04-15_Mamba3Hybrid (merged): score-first TTT written inline in main()."""
    slot = """
import os, torch
slot_enabled = bool(int(os.environ.get('SLOT_ENABLED', '0')))
def eval_val_sliding(model, val_tokens, windows):
    use_slot = slot_enabled
    for ws in windows:
        x = val_tokens[ws:ws + 8]
        if use_slot:
            loss = model(x)
            loss.backward()
            slot_opt.step()
        with torch.no_grad():
            loss_sum += model(x)
"""
    fs = _run("code.val_in_training", _folder(tmp_path, slot))
    assert _problems(fs) == [] and "off by default (SLOT_ENABLED='0')" in fs[0].message
    (tmp_path / "on").mkdir()
    on = _problems(_run("code.val_in_training", _folder(tmp_path / "on", slot.replace("'0'", "'1'"))))
    assert on and on[0].severity == "warning"
    inline = """
import torch
def main():
    for i in range(10):
        chunk = val_tokens[i:i + 9]
        with torch.no_grad():
            ttt_loss_sum += model.forward_logits(chunk).sum()
        loss = model(chunk)
        loss.backward()
        opt.step()
"""
    (tmp_path / "inline").mkdir()
    folder = _folder(tmp_path / "inline", inline)
    assert _problems(_run("code.val_in_training", folder)) == []
    assert any("scores (line" in f.message for f in _run("code.ttt_score_order", folder))


# ---------------------------------------------------------------- bytes-per-token table
CANONICAL_LUT = """
def build_luts(sp, vocab_size):
    base_bytes = [0] * vocab_size
    has_leading_space = [False] * vocab_size
    for i in range(vocab_size):
        piece = sp.id_to_piece(i)
        if piece.startswith("\\u2581"):
            has_leading_space[i] = True
            piece = piece[1:]
        base_bytes[i] = len(piece.encode("utf-8"))
    return base_bytes, has_leading_space
"""
# the shape closed in #1545/#1576: the space folded into the piece's bytes and flagged for the scorer as well
DOUBLE_SPACE_LUT = """
def build_luts(sp, vocab_size):
    base_bytes = [0] * vocab_size
    has_space = [False] * vocab_size
    for i in range(vocab_size):
        piece = sp.id_to_piece(i)
        base_bytes[i] = len(piece.encode("utf-8"))
        if piece.startswith("\\u2581"):
            has_space[i] = True
            base_bytes[i] = len(piece[1:].encode("utf-8")) + 1
    return base_bytes, has_space
"""


def test_byte_table(tmp_path):
    good = _run("code.byte_table", _folder(tmp_path, CANONICAL_LUT))
    assert _problems(good) == []
    (tmp_path / "b").mkdir()
    bad = _problems(_run("code.byte_table", _folder(tmp_path / "b", DOUBLE_SPACE_LUT)))
    assert len(bad) == 1 and bad[0].severity == "error" and "counted twice" in bad[0].message
    assert bad[0].evidence[0].line == 10 and "build_luts()" in bad[0].message
    (tmp_path / "c").mkdir()
    const = _problems(_run("code.byte_table", _folder(tmp_path / "c", "BYTES_PER_TOKEN = 3.71\n")))
    assert const and const[0].severity == "warning" and "hard-coded" in const[0].message


def test_target_cache_short_ngram_names(tmp_path):
    """#978 (closed 2026-03-27 wave): hashes of the validation stream kept under short names (_NG_ORDERS, ng_hashes)."""
    bad = """
_NG_ORDERS = (2, 3, 4)
def eval_val_sliding(model, val_tokens):
    ng_hashes = {}
    for order in _NG_ORDERS:
        ng_hashes[order] = val_tokens[order:]
"""
    fs = _problems(_run("code.target_cache", _folder(tmp_path, bad)))
    assert fs and "_NG_ORDERS" in fs[0].message and fs[0].evidence[0].line == 3
    (tmp_path / "b").mkdir()
    assert _problems(_run("code.target_cache", _folder(tmp_path / "b", CLEAN))) == []
