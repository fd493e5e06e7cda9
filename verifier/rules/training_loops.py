"""Static questions about the loops of a function: which ones train (call backward), which score (no_grad
blocks, loss sums), which touch validation data outside an eval call, and which train for epochs on
validation data before scoring it (pre-eval TTT). The validation-data and TTT rules ask them.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_left, bisect_right

from verifier.static.facts import CodeUnit
from verifier.subject import Subject

CALIBRATION_NAME = re.compile(r"calib|hessian|gptq", re.I)
# names of validation *data* (not metrics such as val_bpb / val_loss, nor eval helpers)
_VAL_DATA = re.compile(r"(^|_)val(id(ation)?)?_(tokens?|data|loader|stream|batch(es)?|seqs?|ids|x|y|inputs?|targets?|"
                       r"shards?|files|docs|set|iter|buf|ds|dataset)$|^ValidationData$|^validation_(tokens|data|set)$",
                       re.I)
TTT_NAME = re.compile(r"ttt|test_time|adapt", re.I)


def span(node: ast.AST) -> tuple[int, int]:
    return node.lineno, getattr(node, "end_lineno", None) or node.lineno


def _within(lines: list[int], node: ast.AST) -> list[int]:
    """Entries of a sorted line index that fall inside ``node``'s line span."""
    a, b = span(node)
    return lines[bisect_left(lines, a):bisect_right(lines, b)]


def opt_step_lines(u: CodeUnit, node: ast.AST) -> list[int]:
    return _within(u.step_lines, node)


def score_lines(u: CodeUnit, node: ast.AST) -> list[int]:
    """Lines where scoring happens: no_grad/inference_mode blocks, or loss accumulation into *_sum names."""
    return _within(u.score_lines, node)


_EVALCALL = re.compile(r"eval|score|valid|log|print|bpb|val_loss|format|write|append", re.I)


def data_val_idents(u: CodeUnit, idents: set[str]) -> list[str]:
    """Validation *data* names: val identifiers that are not functions we define or eval helpers."""
    defined = u.__dict__.get("_defined_names")
    if defined is None:
        defined = u.__dict__["_defined_names"] = {n.rsplit(".", 1)[-1] for n in u.functions}
    return sorted(i for i in idents if _VAL_DATA.search(i) and i not in defined)


def loops_in(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    a, b = span(fn)
    return [lp for lp in u.loops if a <= lp.lineno and span(lp)[1] <= b]


def training_loops(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    return [lp for lp in loops_in(u, fn) if _within(u.backward_lines, lp)]


def val_uses_outside_eval(loop: ast.AST, names: set[str]) -> list[tuple[str, int]]:
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


def off_by_default(s: Subject, u: CodeUnit, fn: ast.AST, loop: ast.AST) -> str | None:
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
    a, b = span(loop)
    for node in ast.walk(fn):
        if not isinstance(node, (ast.For, ast.AsyncFor)) or not (span(node)[0] <= a and b <= span(node)[1]):
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
        scores = score_lines(u, f.node)
        if calls and scores and min(scores) < max(calls):
            out.append(caller)
    return out


def _scored_earlier_in_enclosing_loop(u: CodeUnit, fn: ast.AST, epochs: ast.AST) -> bool:
    """Score-first TTT: a loop around the epoch loop (over chunks) scores each chunk before training on it."""
    a, b = span(epochs)
    for lp in loops_in(u, fn):
        la, lb = span(lp)
        if lp is not epochs and la <= a and b <= lb and any(x < a for x in score_lines(u, lp)):
            return True
    return False


def pre_eval_training(s: Subject, u: CodeUnit, name: str, fn: ast.AST) -> list[tuple[ast.AST, str, int]]:
    """(epoch loop, identifier, line) where ``fn`` trains for epochs on validation data without scoring it first:
    the loop scores nothing, no caller scored before calling ``fn``, and no off-by-default switch guards it."""
    out: list[tuple[ast.AST, str, int]] = []
    seen: set[int] = set()
    for loop in training_loops(u, fn):
        if score_lines(u, loop):
            continue
        vals = set(data_val_idents(u, loop_idents(loop)))
        hits = val_uses_outside_eval(loop, vals) if vals else []
        epochs = _epoch_loop(fn, loop) if hits else None
        if epochs is None or id(epochs) in seen or off_by_default(s, u, fn, loop):
            continue
        seen.add(id(epochs))
        if _scored_before_call(u, name) or _scored_earlier_in_enclosing_loop(u, fn, epochs):
            continue
        ident, line = min(hits, key=lambda h: h[1])
        out.append((epochs, ident, line))
    return out


def loop_idents(loop: ast.AST) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(loop):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
    return out
