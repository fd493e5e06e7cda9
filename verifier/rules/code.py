"""Code rules: static checks over the shipped scripts (and payloads they exec).

Every check reads :mod:`verifier.static` facts; none runs submission code.
Heuristic rules (validation data in training, score-before-update, target
keyed caches) can point at suspicious code but can never prove its absence:
they are registered as heuristic and the report shows them as "needs
runtime probe" when they find nothing.
"""

from __future__ import annotations

import ast
import re
import sys
from bisect import bisect_left, bisect_right
from pathlib import Path

from verifier.model import Evidence, Finding, excerpt
from verifier.rules._registry import RULES, rule
from verifier.static import CodeUnit, analyse
from verifier.subject import Subject

README_RULES = "challenge README (main): "


def _no_code(rule_id: str) -> list[Finding]:
    return [RULES[rule_id].finding("no code in the submission to analyse (logs and claims only)",
                                   status="not_available", severity="info")]


def _units(s: Subject) -> list[CodeUnit]:
    """Units that run: the entry and its decoded payloads first, then other shipped .py files."""
    units = s.entry_units()
    seen = {id(u) for u in units}
    for u in s.all_units():
        if id(u) not in seen:
            units.append(u)
    return units


def _ev(u: CodeUnit, line: int | None) -> Evidence:
    return Evidence(u.path, line, excerpt(u.line_text(line)) if line else None)


# ---------------------------------------------------------------------------
# network

_NET_MODULES = {"socket", "urllib.request", "urllib3", "requests", "httpx", "aiohttp", "http.client",
                "ftplib", "paramiko", "websocket", "websockets", "huggingface_hub", "wget", "pycurl"}
_NET_CALL_TAILS = {"urlopen", "urlretrieve", "hf_hub_download", "snapshot_download", "load_dataset",
                   "create_connection", "download_url_to_file", "load_state_dict_from_url", "hf_hub_url",
                   "cached_download", "list_repo_files"}
_NET_PREFIXES = ("requests.", "httpx.", "aiohttp.", "urllib.request.", "urllib3.", "socket.", "http.client.",
                 "huggingface_hub.", "torch.hub.", "wget.", "ftplib.")
_NET_TOOLS = {"curl", "wget", "aria2c", "scp", "rsync", "ssh", "sftp", "ftp", "nc", "huggingface-cli", "hf"}
_SUBPROCESS = ("subprocess.run", "subprocess.Popen", "subprocess.call", "subprocess.check_call",
               "subprocess.check_output", "os.system", "os.popen", "os.execvp", "os.spawnlp")
_SUBPROCESS_TAILS = tuple("." + x.split(".")[-1] for x in _SUBPROCESS[:5])


def _argv0(call_args: tuple[str, ...]) -> list[str]:
    """Program names in a subprocess call's literal arguments (argv lists or shell strings)."""
    out = []
    for a in call_args:
        tok = a.strip().split()
        if tok:
            out.append(Path(tok[0]).name)
            # shell pipelines: "cd x && curl ..." - look at every command word after a separator
            for i, t in enumerate(tok[1:], start=1):
                if tok[i - 1] in ("&&", "||", "|", ";"):
                    out.append(Path(t).name)
    return out


@rule("code.network", "no network or download calls reachable at run time", since="2026-03-18", severity="error", group="code",
      source=README_RULES + "'No external downloads, training dataset access, or network calls are allowed "
      "during evaluation' (README.md:209)", needs=("code",))
def check_network(s: Subject) -> list[Finding]:
    r = RULES["code.network"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    out: list[Finding] = []
    runs = {id(x) for x in _running_units(s)}
    for u in units:
        helper = id(u) not in runs
        for c in u.calls:
            tail = c.name.rsplit(".", 1)[-1]
            is_net = tail in _NET_CALL_TAILS or (c.name.startswith(_NET_PREFIXES) and not c.name.endswith(
                ("gethostname", "getfqdn", "gethostbyname", "AF_INET")))
            tools = []
            if c.name in _SUBPROCESS or c.name.endswith(_SUBPROCESS_TAILS):
                tools = [t for t in _argv0(c.str_args) if t in _NET_TOOLS]
                if any(a.strip().startswith(("git clone", "pip install", "git fetch", "git pull")) for a in c.str_args):
                    tools.append("git/pip")
                if c.str_args[:2] in (("git", "clone"), ("pip", "install"), ("git", "fetch")):
                    tools.append(" ".join(c.str_args[:2]))
            if is_net or tools:
                what = f"subprocess runs {', '.join(sorted(set(tools)))}" if tools else f"calls {c.name}()"
                where = f" in {c.function}()" if c.function else " at module level"
                if helper:  # a data-download helper shipped beside the entry, which neither imports nor runs it
                    out.append(r.finding(f"{u.path}: {what}{where}: a helper the entry does not import (data "
                                         "preparation), not part of the run", status="observation",
                                         severity="info", evidence=[_ev(u, c.line)], call=c.name,
                                         function=c.function))
                    continue
                out.append(r.finding(f"{what}{where}; a run must not reach the network "
                                     "(confirm with a network-off run)", evidence=[_ev(u, c.line)],
                                     call=c.name, function=c.function))
        called = {c.name.split(".")[0] for c in u.calls}
        for imp in u.imports:
            if imp.module in _NET_MODULES or imp.module.split(".")[0] in ("requests", "httpx", "huggingface_hub"):
                if not any(f.evidence and f.evidence[0].file == u.path for f in out):
                    out.append(r.finding(f"imports {imp.module} (no call found statically; an import alone "
                                         "does not reach the network)", status="needs_runtime_probe",
                                         severity="info", evidence=[_ev(u, imp.line)], module=imp.module))
        _ = called
    return out


def _running_units(s: Subject) -> list[CodeUnit]:
    """The entry, what it decodes, and the shipped modules it imports (transitively): the code a run executes."""
    units = s.entry_units()
    by_stem = {Path(p).stem: u for p, u in s.code_units.items()}
    todo, seen = list(units), {id(u) for u in units}
    while todo:
        u = todo.pop()
        for imp in u.imports:
            dep = by_stem.get(imp.module.lstrip(".").split(".")[0])
            if dep is not None:
                for d in dep.all_units():
                    if id(d) not in seen:
                        seen.add(id(d))
                        units.append(d)
                        todo.append(d)
    return units or s.all_units()


# ---------------------------------------------------------------------------
# validation data reached from training

_VAL_IDENT = re.compile(r"(^|_)val(_|$)|validation", re.I)
_CALIB = re.compile(r"calib|hessian|gptq", re.I)
# names of validation *data* (not metrics such as val_bpb / val_loss, nor eval helpers)
_VAL_DATA = re.compile(r"(^|_)val(id(ation)?)?_(tokens?|data|loader|stream|batch(es)?|seqs?|ids|x|y|inputs?|targets?|"
                       r"shards?|files|docs|set|iter|buf|ds|dataset)$|^ValidationData$|^validation_(tokens|data|set)$",
                       re.I)
_TTT = re.compile(r"ttt|test_time|adapt", re.I)


def _span(node: ast.AST) -> tuple[int, int]:
    return node.lineno, getattr(node, "end_lineno", None) or node.lineno


def _within(lines: list[int], node: ast.AST) -> list[int]:
    """Entries of a sorted line index that fall inside ``node``'s line span."""
    a, b = _span(node)
    return lines[bisect_left(lines, a):bisect_right(lines, b)]


def _opt_step_lines(u: CodeUnit, node: ast.AST) -> list[int]:
    return _within(u.step_lines, node)


def _score_lines(u: CodeUnit, node: ast.AST) -> list[int]:
    """Lines where scoring happens: no_grad/inference_mode blocks, or loss accumulation into *_sum names."""
    return _within(u.score_lines, node)


_EVALCALL = re.compile(r"eval|score|valid|log|print|bpb|val_loss|format|write|append", re.I)


def _data_val_idents(u: CodeUnit, idents: set[str]) -> list[str]:
    """Validation *data* names: val identifiers that are not functions we define or eval helpers."""
    defined = u.__dict__.get("_defined_names")
    if defined is None:
        defined = u.__dict__["_defined_names"] = {n.rsplit(".", 1)[-1] for n in u.functions}
    return sorted(i for i in idents if _VAL_DATA.search(i) and i not in defined)


def _loops_in(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    a, b = _span(fn)
    return [lp for lp in u.loops if a <= lp.lineno and _span(lp)[1] <= b]


def _training_loops(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    return [lp for lp in _loops_in(u, fn) if _within(u.backward_lines, lp)]


def _val_uses_outside_eval(loop: ast.AST, names: set[str]) -> list[tuple[str, int]]:
    """Uses of validation-data names inside a training loop that are not arguments of an eval-like call."""
    hits: list[tuple[str, int]] = []
    stack: list[tuple[ast.AST, bool]] = [(loop, False)]
    while stack:
        node, in_eval = stack.pop()
        if isinstance(node, ast.Call):
            f = node.func
            callee = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")
            in_eval = in_eval or bool(_EVALCALL.search(callee))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            continue
        if not in_eval:
            ident = node.id if isinstance(node, ast.Name) else (node.attr if isinstance(node, ast.Attribute) else None)
            if ident in names:
                hits.append((ident, getattr(node, "lineno", 0)))
        for child in ast.iter_child_nodes(node):
            stack.append((child, in_eval))
    return hits


_FALSY = ("0", "false", "False", "", "no", "off")


def _enclosing_ifs(fn: ast.AST, target: ast.AST) -> list[ast.If]:
    """The if statements of ``fn`` whose body (not else branch) holds ``target``."""
    out: list[ast.If] = []

    def walk(node: ast.AST, chain: list[ast.If]) -> bool:
        if node is target:
            out.extend(chain)
            return True
        for child in ast.iter_child_nodes(node):
            inner = chain + [node] if isinstance(node, ast.If) and child in node.body else chain
            if walk(child, inner):
                return True
        return False

    walk(fn, [])
    return out


def _off_by_default(s: Subject, u: CodeUnit, fn: ast.AST, loop: ast.AST) -> str | None:
    """The environment knob, off by default and not switched on in any log, whose if-branch holds every
    backward() of ``loop`` (SLOT inside eval_val_sliding of 2026-03-31_ParallelResiduals_MiniDepthRecurrence:
    SLOT_ENABLED='0')."""
    backwards = [n for n in ast.walk(loop) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "backward"]
    if not backwards:
        return None
    tests: set[str] = set()
    for bw in backwards:
        names = {n.id if isinstance(n, ast.Name) else n.attr for branch in _enclosing_ifs(fn, bw)
                 for n in ast.walk(branch.test) if isinstance(n, (ast.Name, ast.Attribute))}
        if not names:
            return None  # an ungated backward()
        tests |= names
    # a flag read into a local (use_slot = getattr(args, 'slot_enabled', False)) is tested under its local name
    tests = {t.lower() for t in tests}
    for e in u.env:
        stem = re.sub(r"_?(ENABLED|ENABLE|ON)$", "", e.name).lower()
        if not stem or not any(stem in t for t in tests):
            continue
        if not e.has_default or str(e.default) not in _FALSY:
            return None
        on_in_logs = [lg.display for lg in s.logs if lg.summary is not None and
                      str((lg.summary.hyperparams or {}).get(e.name.lower(), "")).lower() in ("true", "1")]
        return None if on_in_logs else f"{e.name}={e.default!r}"
    return None


_EPOCH = re.compile(r"^_?ep(och)?s?$|epoch", re.I)


def _epoch_loop(fn: ast.AST, loop: ast.AST) -> ast.AST | None:
    """The loop over epochs that holds ``loop`` (or is it): its target or its range names epochs."""
    a, b = _span(loop)
    for node in ast.walk(fn):
        if not isinstance(node, (ast.For, ast.AsyncFor)) or not (_span(node)[0] <= a and b <= _span(node)[1]):
            continue
        names = {n.id if isinstance(n, ast.Name) else n.attr for part in (node.target, node.iter)
                 for n in ast.walk(part) if isinstance(n, (ast.Name, ast.Attribute))}
        if any(_EPOCH.search(x) for x in names):
            return node
    return None


def _scored_before_call(u: CodeUnit, name: str) -> list[str]:
    """Functions that call ``name`` after scoring something themselves (phased TTT: score a block of documents,
    then train on it for epochs): adaptation on tokens already scored."""
    short = name.rsplit(".", 1)[-1]
    out = []
    for caller, f in u.functions.items():
        if f.node is None or caller == name:
            continue
        calls = [c.line for c in f.calls if c.name.rsplit(".", 1)[-1] == short]
        scores = _score_lines(u, f.node)
        if calls and scores and min(scores) < max(calls):
            out.append(caller)
    return out


def _scored_earlier_in_enclosing_loop(u: CodeUnit, fn: ast.AST, epochs: ast.AST) -> bool:
    """Score-first TTT: a loop around the epoch loop (over chunks) scores each chunk before training on it."""
    a, b = _span(epochs)
    for lp in _loops_in(u, fn):
        la, lb = _span(lp)
        if lp is not epochs and la <= a and b <= lb and any(x < a for x in _score_lines(u, lp)):
            return True
    return False


def _pre_eval_training(s: Subject, u: CodeUnit, name: str, fn: ast.AST) -> list[tuple[ast.AST, str, int]]:
    """(epoch loop, identifier, line) where ``fn`` trains for epochs on validation data without scoring it first:
    the loop scores nothing, no caller scored before calling ``fn``, and no off-by-default switch guards it."""
    out: list[tuple[ast.AST, str, int]] = []
    seen: set[int] = set()
    for loop in _training_loops(u, fn):
        if _score_lines(u, loop):
            continue
        vals = set(_data_val_idents(u, _loop_idents(loop)))
        hits = _val_uses_outside_eval(loop, vals) if vals else []
        epochs = _epoch_loop(fn, loop) if hits else None
        if epochs is None or id(epochs) in seen or _off_by_default(s, u, fn, loop):
            continue
        seen.add(id(epochs))
        if _scored_before_call(u, name) or _scored_earlier_in_enclosing_loop(u, fn, epochs):
            continue
        ident, line = min(hits, key=lambda h: h[1])
        out.append((epochs, ident, line))
    return out


_CALIB_LOG = re.compile(r"(?i)(calibrat|hessian)\w*\b.*\b(val(idation)?( data| tokens| set)|val_\w+)\b")


def _val_into_calibration(u: CodeUnit, fn: ast.AST) -> list[tuple[int, str, str]]:
    """(line, callee, value) where a calibration call in ``fn`` receives validation data, directly or through a
    local bound to it (``calib_loader = Loader(args.val_files, ...)``; ``collect_hessians(model, calib_loader)``)."""
    derived: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            vals = _data_val_idents(u, _loop_idents(node.value))
            if vals:
                for t in node.targets:
                    if isinstance(t, ast.Name):
                        derived[t.id] = vals[0]
    out = []
    for node in ast.walk(fn):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        callee = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")
        if not _CALIB.search(callee) or _TTT.search(callee):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            names = _loop_idents(arg)
            direct = _data_val_idents(u, names)
            via = [derived[n] for n in names if n in derived]
            if direct or via:
                out.append((node.lineno, callee, (direct or via)[0]))
                break
    return out


@rule("code.val_in_training", "validation data is not used for training or calibration before it is scored",
      since="2026-03-20", severity="warning", group="code", heuristic=True, needs=("code",),
      source=README_RULES + "'you can't access validation data during training' (README.md:221); organizer "
      "ruling on GPTQ calibration with validation data (issue #140, quoting #728, 2026-03-27)")
def check_val_in_training(s: Subject) -> list[Finding]:
    r = RULES["code.val_in_training"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    out = []
    for lg in s.logs:
        line = next((i for i, text in enumerate(lg.lines, start=1) if _CALIB_LOG.search(text)
                     and "log0(" not in text and "print(" not in text), None)
        if line is not None:
            out.append(r.finding(f"{lg.display}:{line}: the run says its quantization calibration used validation "
                                 "data", severity="error", evidence=[Evidence(lg.display, line,
                                                                              excerpt(lg.line(line)))],
                                 log=lg.display))
    for u in units:
        for name, fn in u.functions.items():
            if fn.node is not None:
                for line, callee, value in _val_into_calibration(u, fn.node):
                    out.append(r.finding(f"{name}(): validation data {value!r} reaches the calibration call "
                                         f"{callee}() at line {line}: GPTQ/Hessian calibration must use training or "
                                         "self-generated data", severity="error", evidence=[_ev(u, line)],
                                         function=name, callee=callee, identifier=value))
            if fn.node is None or "." in name and _TTT.search(name):
                continue
            vals = _data_val_idents(u, fn.idents)
            if not vals:
                continue
            if _CALIB.search(name.rsplit(".", 1)[-1]) and not _TTT.search(name):
                out.append(r.finding(f"{name}() is a calibration routine that references validation data "
                                     f"({', '.join(vals[:4])}); calibration must use training or self-generated "
                                     "data - needs runtime probe", status="needs_runtime_probe",
                                     evidence=[_ev(u, fn.line)], function=name, identifiers=vals[:8]))
                continue
            if _TTT.search(name):
                continue  # test-time adaptation: judged by code.ttt_score_order
            for loop in _training_loops(u, fn.node):
                scores, steps = _score_lines(u, loop), _opt_step_lines(u, loop)
                if scores and steps and min(scores) < min(steps):
                    continue  # scores, then updates: test-time training inline, judged by code.ttt_score_order
                hits = _val_uses_outside_eval(loop, set(vals))
                if hits:
                    ident, line = min(hits, key=lambda h: h[1])
                    off = _off_by_default(s, u, fn.node, loop)
                    pre = _pre_eval_training(s, u, name, fn.node)
                    if pre:
                        epochs, ident, line = pre[0]
                        out.append(r.finding(
                            f"{name}(): the loop at line {epochs.lineno} trains for epochs on validation data "
                            f"{ident!r} (line {line}) and scores nothing: validation tokens reach the weights before "
                            "they are scored (pre-eval / pre-quant TTT)", severity="error",
                            evidence=[_ev(u, epochs.lineno), _ev(u, line)], function=name, identifier=ident))
                        break
                    out.append(r.finding(
                        f"{name}(): the training loop at line {loop.lineno} (it calls backward) uses validation "
                        f"data {ident!r} at line {line} outside an eval call; validation tokens must not reach a "
                        "gradient before they are scored - needs runtime probe"
                        + (f"; the branch is off by default ({off}) and no log switches it on" if off else ""),
                        status="needs_runtime_probe", severity="info" if off else None,
                        evidence=[_ev(u, loop.lineno), _ev(u, line)], function=name, identifier=ident,
                        off_by_default=off))
                    break
    return out


# ---------------------------------------------------------------------------
# score before update (TTT)


def _innermost_loops(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    both = [lp for lp in _loops_in(u, fn) if _opt_step_lines(u, lp) and _score_lines(u, lp)]
    out = []
    for lp in both:
        a, b = _span(lp)
        if not any(x is not lp and a <= x.lineno and _span(x)[1] <= b for x in both):
            out.append(lp)
    return out


def _ttt_function(name: str, fn) -> bool:
    return bool(_TTT.search(name.rsplit(".", 1)[-1])) or any("ttt" in i.lower() for i in fn.idents
                                                              if i.lower().startswith(("ttt", "lora")))


# names of the training stream: a loop that draws its batches from it is the training loop
_TRAIN_DATA = re.compile(r"^(train_(loader|tokens|stream|batch(es)?|data|iter|ds|dataset|files|shards)|next_batch)$", re.I)


def _loop_idents(loop: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(loop):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out


def _adapts_on_eval_data(u: CodeUnit, name: str, loop: ast.AST) -> bool:
    """Whether a loop that both updates and scores is test-time adaptation rather than the training loop:
    it draws no training batches, and outside a TTT-named function it touches validation data or TTT state
    (the training loop in main() steps the optimizer and then updates an EMA under no_grad, which is no
    scoring of validation tokens)."""
    idents = _loop_idents(loop)
    # validation data handed to an eval call (periodic validation inside the training loop) is no adaptation
    val = _val_uses_outside_eval(loop, set(_data_val_idents(u, idents)))
    if any(_TRAIN_DATA.match(i) for i in idents) and not val:
        return False
    if _TTT.search(name.rsplit(".", 1)[-1]):
        return True
    return bool(val) or any(i.lower().startswith(("ttt", "lora")) for i in idents)


@rule("code.ttt_score_order", "test-time training scores each token before updating on it", since="2026-03-20", severity="error",
      group="code", heuristic=True, needs=("code",),
      source=README_RULES + "'only allowed to test-time train on validation set tokens you've already evaluated "
      "your model on' (README.md:223, added 2026-03-20); issue #1017 condition C3")
def check_ttt_order(s: Subject) -> list[Finding]:
    r = RULES["code.ttt_score_order"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    out = []
    for u in units:
        score_first_fns: set[str] = set()
        pre_eval: list[tuple[str, object]] = []
        for name, fn in u.functions.items():
            if fn.node is None or not _opt_step_lines(u, fn.node):
                continue
            for epochs, ident, line in _pre_eval_training(s, u, name, fn.node):
                out.append(r.finding(
                    f"in {name}(), the loop at line {epochs.lineno} trains for epochs on validation data {ident!r} "
                    f"(line {line}) and scores nothing: every token is trained on before it is scored "
                    "(pre-eval TTT)", evidence=[_ev(u, epochs.lineno), _ev(u, line)], function=name))
            if not _ttt_function(name, fn):
                continue
            loops = [lp for lp in _innermost_loops(u, fn.node) if _adapts_on_eval_data(u, name, lp)]
            for lp in loops:
                steps, scores = _opt_step_lines(u, lp), _score_lines(u, lp)
                first_step, first_score = min(steps), min(scores)
                if first_step < first_score:
                    out.append(r.finding(
                        f"in {name}(), the loop at line {lp.lineno} updates (line {first_step}) before it scores "
                        f"(line {first_score}); tokens may be trained on before they are scored - needs runtime "
                        "probe (perturb future tokens, earlier losses must not change)",
                        status="needs_runtime_probe", severity="warning",
                        evidence=[_ev(u, lp.lineno), _ev(u, first_step), _ev(u, first_score)], function=name))
                else:
                    score_first_fns.add(name)
                    out.append(r.finding(
                        f"in {name}(), the loop at line {lp.lineno} scores (line {first_score}) before it updates "
                        f"(line {first_step}): score-first order seen statically; only a runtime probe proves it",
                        status="needs_runtime_probe", severity="info",
                        evidence=[_ev(u, first_score), _ev(u, first_step)], function=name))
            if not loops and _TTT.search(name.rsplit(".", 1)[-1]) and _data_val_idents(u, fn.idents) \
                    and not _score_lines(u, fn.node):
                pre_eval.append((name, fn))
        for name, fn in pre_eval:
            short = name.rsplit(".", 1)[-1]
            callers = sorted(c for c, f in u.functions.items() if any(k.name.rsplit(".", 1)[-1] == short for k in f.calls))
            from_scorer = [c for c in callers if c in score_first_fns]
            if from_scorer:
                out.append(r.finding(f"{name}() adapts on validation data without scoring; it is called from "
                                     f"{', '.join(from_scorer)}() whose loop scores first (adaptation on scored "
                                     "tokens) - needs runtime probe", status="needs_runtime_probe", severity="info",
                                     evidence=[_ev(u, fn.line)], function=name, callers=callers))
            else:
                out.append(r.finding(f"{name}() adapts on validation data and scores nothing itself "
                                     "(pre-eval TTT pattern: train on val, then score) - needs runtime probe",
                                     status="needs_runtime_probe", severity="warning",
                                     evidence=[_ev(u, fn.line)], function=name, callers=callers))
    return out


# ---------------------------------------------------------------------------
# target-keyed caches

_CACHE = re.compile(r"ngram|n_gram|kgram|hash_cache|token_cache|cache_count|ppm_|backoff|logit_bias|etlb|"
                    r"(^|_)ng_(hash|ctx|pair|count|table|order|cache|loss)|^_?NG_", re.I)
_EVALFN = re.compile(r"eval|score|ttt|sliding|bpb", re.I)


@rule("code.target_cache", "no eval-time cache keyed on target tokens (n-gram / hash caches)", since="2026-03-18", severity="error",
      group="code", heuristic=True, needs=("code",),
      source="challenge README record criterion 2, val_bpb 'correctly calculated' (README.md:236-242, 2026-03-18); "
      "applied by the organizer ruling of 2026-03-27 to PRs then open (valerio-oai on #677, summarised in issue "
      "#140): hashed n-gram caches are not normalised over the vocabulary; issue #1017 C2")
def check_target_cache(s: Subject) -> list[Finding]:
    r = RULES["code.target_cache"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    out = []
    for u in units:
        for name, fn in u.functions.items():
            if not _EVALFN.search(name):
                continue
            hits = sorted(i for i in fn.idents if _CACHE.search(i))
            if hits:
                out.append(r.finding(f"eval function {name}() uses {', '.join(hits[:5])}: an eval-time cache "
                                     "must give a full normalised distribution and never read the target - "
                                     "needs runtime probe (sum-to-1 / answer-mask)", status="needs_runtime_probe",
                                     severity="warning", evidence=[_ev(u, fn.line)], function=name,
                                     identifiers=hits[:10]))
        knobs = sorted({e.name for e in u.env if re.search(r"NGRAM|N_GRAM|ETLB|LOGIT_BIAS", e.name)})
        if knobs:
            e0 = next(e for e in u.env if e.name == knobs[0])
            out.append(r.finding(f"environment knobs {', '.join(knobs[:6])} control an n-gram/bias path; "
                                 "check the configuration the logs ran", status="needs_runtime_probe",
                                 severity="info", evidence=[_ev(u, e0.line)], knobs=knobs))
    return out


# ---------------------------------------------------------------------------
# budget knobs


def _num(v) -> float | None:
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


@rule("code.budget_knobs", "time-budget knobs do not extend the 600 s budget", since="2026-03-18", severity="error", group="code",
      needs=("code",),
      source=README_RULES + "'must run in under 10 minutes on 8xH100s' (README.md:165); DESIGN.md 'Verifier' "
      "(MAX_WALLCLOCK_SECONDS > 600, FORCE_STOP_STEP); #1956 on FORCE_STOP_STEP=4945 (601,153 ms)")
def check_budget_knobs(s: Subject) -> list[Finding]:
    r = RULES["code.budget_knobs"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    out = []
    for u in units:
        for e in u.env:
            n = e.name.upper()
            if n == "MAX_WALLCLOCK_SECONDS" or n == "MAX_WALLCLOCK_MS":
                v = _num(e.default)
                cap = 600.0 if n.endswith("SECONDS") else 600000.0
                if v is not None and v > cap:
                    lenient = "non_record" in (s.track or "")
                    out.append(r.finding(f"{e.name} defaults to {e.default} (> {cap:g}): the shipped defaults "
                                         "train past the 10-minute budget"
                                         + ("; the non-record track allows it" if lenient else ""),
                                         severity="info" if lenient else None, evidence=[_ev(u, e.line)],
                                         knob=e.name, default=e.default))
                elif v is not None and v <= 0:
                    out.append(r.finding(f"{e.name} defaults to {e.default}: no wall-clock cap by default",
                                         severity="warning", evidence=[_ev(u, e.line)], knob=e.name,
                                         default=e.default))
            elif re.search(r"FORCE_STOP|STOP_AT_STEP|STOP_STEP|MAX_STEPS_OVERRIDE", n):
                off = _num(e.default) in (None, 0.0) or e.default in ("", None)
                out.append(r.finding(f"{e.name} (default {e.default!r}) caps training by step count: a step cap "
                                     "ignores the clock (a forced step overran 600 s in #1908)"
                                     + ("; off by default, check the logs' environment" if off else ""),
                                     severity="info" if off else "warning",
                                     status="needs_runtime_probe" if off else "violation",
                                     evidence=[_ev(u, e.line)], knob=e.name, default=e.default))
            elif re.search(r"GPTQ_RESERVE", n):
                out.append(r.finding(f"{e.name} default {e.default!r}: the reserve must cover post-loop Hessian "
                                     "collection on training data (compare with the logged Hessian time)",
                                     status="observation", severity="info", evidence=[_ev(u, e.line)],
                                     knob=e.name, default=e.default))
    return out


# ---------------------------------------------------------------------------
# dependencies

# Packages of the official RunPod template / root requirements.txt (M:requirements.txt), import names.
BASELINE_IMPORTS = {"numpy", "tqdm", "torch", "huggingface_hub", "kernels", "setuptools", "typing_extensions",
                    "datasets", "tiktoken", "sentencepiece", "triton"}
IMPORT_TO_DIST = {"flash_attn_interface": "flash_attn_3", "flash_attn": "flash-attn", "python_minifier":
                  "python-minifier", "yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow",
                  "cv2": "opencv-python", "zstandard": "zstandard", "brotli": "brotli", "mamba_ssm": "mamba-ssm",
                  "causal_conv1d": "causal-conv1d", "fla": "flash-linear-attention"}
SYSTEM_TOOLS = {"lrzip": "used for COMPRESSOR=pergroup; apt package lrzip",
                "pyminify": "python-minifier CLI; if missing, scripts silently count the raw source",
                "zstd": "zstd CLI", "xz": "xz CLI", "7z": "p7zip", "brotli": "brotli CLI", "nvcc": "CUDA toolkit",
                "g++": "a C++ compiler", "gcc": "a C compiler", "make": "make", "cmake": "cmake"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(s: Subject) -> set[str] | None:
    text = s.file_text("requirements.txt")
    if text is None:
        return None
    out = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)", line)
        if m:
            out.add(_norm(m.group(1)))
    return out


def _local_modules(s: Subject) -> set[str]:
    mods = {p.stem for p in s.code_paths}
    if s.root.is_dir():
        mods |= {p.name for p in s.root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return mods


@rule("code.dependencies", "imports and system tools are declared", since="2026-03-20", severity="info", group="code",
      needs=("code",),
      source=README_RULES + "'include a requirements.txt in the records folder' (README.md:231, added 2026-03-20); "
      "a reproduction note, not a rejection: the organizers merged records importing FA3 and others undeclared")
def check_dependencies(s: Subject) -> list[Finding]:
    r = RULES["code.dependencies"]
    units = _units(s)
    if not units:
        return _no_code(r.id)
    reqs = _requirements(s)
    readme = (s.file_text("README.md") or "") + "\n" + (s.file_text("requirements.txt") or "")
    local = _local_modules(s)
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    out = []
    undeclared: dict[str, tuple[CodeUnit, int, bool]] = {}
    for u in units:
        for imp in u.imports:
            if imp.module.startswith("."):
                continue
            top = imp.module.split(".")[0]
            if not top or top in stdlib or top in local or top == "__future__":
                continue
            dist = _norm(IMPORT_TO_DIST.get(top, top))
            if top in BASELINE_IMPORTS:
                continue
            if reqs is not None and (dist in reqs or _norm(top) in reqs):
                continue
            if top not in undeclared or (undeclared[top][2] and not imp.in_try):
                undeclared[top] = (u, imp.line, imp.in_try or bool(imp.in_function))
    for top, (u, line, optional) in sorted(undeclared.items()):
        dist = IMPORT_TO_DIST.get(top, top)
        where = "no requirements.txt in the folder" if reqs is None else "not in requirements.txt"
        mentioned = re.search(rf"\b({re.escape(top)}|{re.escape(dist)})\b", readme) is not None
        if mentioned:
            out.append(r.finding(f"imports {top} ({dist}): {where}, but the README/requirements comments say how "
                                 "to install it", status="observation", severity="info", evidence=[_ev(u, line)],
                                 module=top))
            continue
        kind = "optional import (in try/function)" if optional else "imports"
        out.append(r.finding(f"{kind} {top} ({dist}), not in the official environment: {where}",
                             severity="info", evidence=[_ev(u, line)], module=top,
                             optional=optional))
    tools_seen: dict[str, tuple[CodeUnit, int]] = {}
    for u in units:
        for c in u.calls:
            if c.name in _SUBPROCESS or c.name.split(".")[-1] in ("run", "Popen", "check_output", "check_call", "call") \
                    and c.name.split(".")[0] == "subprocess":
                for tool in _argv0(c.str_args):
                    if tool in SYSTEM_TOOLS:
                        tools_seen.setdefault(tool, (u, c.line))
    for tool, (u, line) in sorted(tools_seen.items()):
        names = [tool] + (["python-minifier", "python_minifier"] if tool == "pyminify" else [])
        declared = any(re.search(rf"\b{re.escape(n)}\b", readme) for n in names)
        out.append(r.finding(
            f"runs the system tool `{tool}` via subprocess ({SYSTEM_TOOLS[tool]})"
            + ("; the README/requirements mention it" if declared else "; not declared in README or requirements"),
            severity="info", status="observation" if declared else "violation",
            evidence=[_ev(u, line)], tool=tool, declared=declared))
    return out


# ---------------------------------------------------------------------------
# counted code: files the entry imports or executes, wrappers


@rule("code.counted_code", "all code the run executes is counted (files beside the entry, exec'd payloads)",
      since="2026-03-18", severity="warning", group="code", needs=("code",),
      source=README_RULES + "'All counted code should live in the train_gpt.py script' (README.md:205-208); "
      "DESIGN.md 'Artifact accounting'")
def check_counted_code(s: Subject) -> list[Finding]:
    r = RULES["code.counted_code"]
    entry = s.entry_unit
    if entry is None:
        return _no_code(r.id)
    out = []
    local = {p.stem: p for p in s.code_paths if p != s.entry}
    for u in entry.all_units():
        for imp in u.imports:
            top = imp.module.lstrip(".").split(".")[0]
            if top in local:
                p = local[top]
                out.append(r.finding(f"the entry imports {p.name} ({p.stat().st_size:,} bytes) from beside itself: "
                                     "its bytes run and must be counted", severity="info", evidence=[_ev(u, imp.line)],
                                     file=s.rel(p), bytes=p.stat().st_size))
        for c in u.calls:
            tail = c.name.rsplit(".", 1)[-1]
            if tail in ("run_path", "import_module", "__import__", "spec_from_file_location") or \
                    (c.name in ("exec", "compile") and any(a.endswith(".py") for a in c.str_args)):
                names = [a for a in c.str_args if a.endswith(".py") or a in local]
                out.append(r.finding(f"{c.name}({', '.join(names) or '...'}) loads code at run time; "
                                     "count what it loads", severity="info", evidence=[_ev(u, c.line)], call=c.name))
        for line, text in u.strings:
            if text.endswith(".py") and Path(text).stem in local and "open" in u.line_text(line):
                out.append(r.finding(f"opens {text} beside the entry (exec'd sibling file?); count it",
                                     severity="info", evidence=[_ev(u, line)], file=text))
        for d in u.decoded:
            out.append(r.finding(
                f"self-extracting wrapper: line {d.line} decodes ({' -> '.join(d.chain)}) {d.unit.size_bytes:,} "
                f"bytes of code from a {entry.size_bytes:,}-byte shipped file; rules analysed the decoded code",
                status="observation", severity="info", evidence=[_ev(u, d.line)],
                shipped_bytes=entry.size_bytes, decoded_bytes=d.unit.size_bytes, chain=list(d.chain)))
        for line, why in u.decode_failures:
            out.append(r.finding(f"exec'd payload at line {line} could not be decoded statically ({why}): "
                                 "the real code was not analysed - needs runtime probe",
                                 status="needs_runtime_probe", severity="info", evidence=[_ev(u, line)]))
    return out


@rule("code.parse", "every shipped Python file parses", since="2026-03-18", severity="error", group="code", needs=("code",),
      source=README_RULES + "train_gpt.py 'must successfully compile and run within the records folder' "
      "(README.md:244-252)")
def check_parse(s: Subject) -> list[Finding]:
    r = RULES["code.parse"]
    if not s.code_paths:
        return _no_code(r.id)
    out = []
    for u in s.all_units():
        if u.parsed_with:
            out.append(r.finding(f"{u.path}: {u.newer_grammar}; parsed with Python {u.parsed_with} (the local "
                                 f"{sys.version.split()[0]} lacks that grammar)", status="observation",
                                 severity="info", evidence=[_ev(u, u.syntax_error_line)], error=u.syntax_error,
                                 parsed_with=u.parsed_with))
        elif u.syntax_error and u.newer_grammar:
            out.append(r.finding(f"{u.path}: cannot parse here: line {u.syntax_error_line} uses {u.newer_grammar}, "
                                 f"newer than the local {sys.version.split()[0]} (no newer interpreter found; set "
                                 "PGOLF_NEWER_PYTHON); facts for it come from a regex fallback", status="not_available",
                                 severity="info", evidence=[_ev(u, u.syntax_error_line)], error=u.syntax_error))
        elif u.syntax_error:
            is_entry = s.entry_unit is not None and u.path.startswith(s.entry_unit.path)
            out.append(r.finding(f"{u.path} does not parse under {sys.version.split()[0]} ({u.syntax_error}); "
                                 "facts for it come from a regex fallback", severity="error" if is_entry else "warning",
                                 evidence=[_ev(u, u.syntax_error_line)], error=u.syntax_error))
    return out


# ---------------------------------------------------------------------------
# identity: the source a log embeds vs the shipped entry


def _env_defaults(u: CodeUnit) -> dict[str, object]:
    out: dict[str, object] = {}
    for e in u.env:
        if e.has_default and e.name not in out:
            out[e.name] = e.default
    return out


@rule("code.log_identity", "the logs were produced by the shipped code", since="2026-03-18", severity="warning", group="code",
      needs=("code", "logs"),
      source="issue 11 item 3; PGOLF_FACTS §5.5 (several merged records ship code that differs from the source "
      "their logs embed); README: the log must be 'automatically produced by your script' (README.md:244-252)")
def check_log_identity(s: Subject) -> list[Finding]:
    from harness.core import codesize

    r = RULES["code.log_identity"]
    entry = s.entry_unit
    if entry is None:
        return _no_code(r.id)
    if not s.logs:
        return [r.finding("no logs to compare the shipped code with", status="not_available", severity="info")]
    shipped = entry.text
    shipped_defaults = _env_defaults(entry) if entry.decoded == [] else _env_defaults(entry.all_units()[-1])
    out = []
    for lg in s.logs:
        emb = codesize.extract_embedded_source(lg.text)
        if emb is None:
            continue
        # compare modulo trailing newlines (how the dump ends depends on the logger, not on the code)
        if emb.text.rstrip("\n") == shipped.rstrip("\n") or (
                entry.decoded and emb.text.rstrip("\n") == entry.decoded[0].unit.text.rstrip("\n")):
            out.append(r.finding(f"{lg.display} embeds exactly the shipped {entry.path}", status="observation",
                                 severity="info", evidence=[Evidence(lg.display, emb.first_line, "Source code:")]))
            continue
        run_defaults = _env_defaults(analyse(emb.text, f"{lg.display}#source"))
        diffs = {k: (shipped_defaults.get(k), run_defaults.get(k)) for k in set(shipped_defaults) | set(run_defaults)
                 if shipped_defaults.get(k) != run_defaults.get(k)}
        a, b = shipped.split("\n"), emb.text.split("\n")
        import difflib

        changed = sum(1 for ln in difflib.unified_diff(a, b, lineterm="", n=0)
                      if ln[:1] in "+-" and not ln.startswith(("+++", "---")))
        diff_txt = ", ".join(f"{k} {v[0]!r}->{v[1]!r}" for k, v in sorted(diffs.items())[:12])
        msg = (f"{lg.display} embeds a {len(emb.text.encode()):,}-byte source that is not the shipped "
               f"{entry.path} ({entry.size_bytes:,} bytes; {changed} changed lines)")
        if diffs:
            msg += f"; env defaults differ (shipped->run): {diff_txt}: the claim cannot be reproduced from the " \
                   "shipped code without these settings"
        if not s.is_record_log(lg):
            msg += "; not a log of the claimed runs (an experiment or earlier run)"
        out.append(r.finding(msg, severity=None if s.is_record_log(lg) else "info",
                             evidence=[Evidence(lg.display, emb.first_line, "Source code:")],
                             log=lg.display, changed_lines=changed,
                             default_diffs={k: [repr(v[0]), repr(v[1])] for k, v in diffs.items()}))
    return out


# ---------------------------------------------------------------------------
# counted size: what the shipped code counts under its recipe vs what the claims and logs say


@rule("code.counted_size", "claimed and logged code bytes match the shipped code under its counting recipe",
      since="2026-03-18", severity="warning", group="code", needs=("code",),
      source="DESIGN.md 'Artifact accounting' (raw, minified, wrapper and logged sizes; compressed-code convention "
      "accepted by the organizers); PGOLF_FACTS §5.5; README: artifact = code bytes + compressed model bytes")
def check_counted_size(s: Subject) -> list[Finding]:
    from harness.core import codesize

    r = RULES["code.counted_size"]
    entry = s.entry_unit
    if entry is None:
        return _no_code(r.id)
    text = entry.text
    recipe = codesize.guess_recipe(text)
    raw = entry.size_bytes
    sizes = {"raw": raw}
    measured = None
    if recipe:
        measured = codesize.measure(text, recipe)
        sizes.update(recipe=recipe, minified=measured.minified_bytes, counted=measured.counted_bytes,
                     interpreter=measured.interpreter, minifier=measured.minifier_version)
    counted = measured.counted_bytes if measured else raw
    logged = {}
    for lg in s.logs:
        lc = codesize.logged_code_size(lg.text)
        val = lc.compressed if lc.compressed is not None else lc.plain
        if val is not None:
            logged[lg.display] = val
    rec = s.legacy_record
    claimed = rec.bytes_code if rec is not None else None
    out = [r.finding(
        f"{entry.path}: {raw:,} bytes shipped" + (f"; recipe {recipe}: " + (
            f"minified {measured.minified_bytes:,}, " if measured.minified_bytes is not None else "")
            + f"counted {measured.counted_bytes:,} ({measured.interpreter}"
            + (f", python-minifier {measured.minifier_version})" if measured.minifier_version else ")")
            if measured else "; counted as file bytes")
        + (f"; logged {sorted(set(logged.values()))}" if logged else "") + (f"; claimed {claimed:,}" if claimed else ""),
        status="observation", severity="info", evidence=[_ev(entry, 1)], claimed=claimed, logged=logged, **sizes)]
    if claimed is not None:
        if claimed in (raw, counted) or claimed in logged.values():
            pass
        elif measured and abs(claimed - counted) <= max(100, counted // 200):
            out.append(r.finding(f"claimed bytes_code {claimed:,} is within {abs(claimed - counted)} bytes of recipe "
                                 f"{recipe} ({counted:,}): minifier/interpreter versions differ", status="observation",
                                 severity="info", claimed=claimed, counted=counted))
        else:
            out.append(r.finding(f"claimed bytes_code {claimed:,} matches neither the shipped file ({raw:,} bytes)"
                                 + (f", nor recipe {recipe} ({counted:,})" if measured else "")
                                 + (f", nor the logs ({sorted(set(logged.values()))})" if logged else "")
                                 + ": a bookkeeping difference (the cap is judged on the artifact, log.artifact_cap)",
                                 severity="info", evidence=[_ev(entry, 1)], claimed=claimed, raw=raw, counted=counted))
    if rec is not None and measured is not None:
        worst = rec.max_artifact_bytes()
        code_in_total = claimed if claimed is not None else (max(logged.values()) if logged else counted)
        if worst is not None and worst - code_in_total + raw > 16_000_000:
            out.append(r.finding(
                f"counting the shipped file's raw {raw:,} bytes instead of the {code_in_total:,}-byte wrapper, the largest "
                f"artifact would be {worst - code_in_total + raw:,} bytes (> 16,000,000); accepted convention, shown for "
                "the record", status="observation", severity="info", raw_total=worst - code_in_total + raw))
    return out
