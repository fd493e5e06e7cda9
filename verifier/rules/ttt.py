"""code.ttt_score_order: test-time training scores each token before it updates on it.

A heuristic over the loops that both step an optimizer and score: which comes first in
each, and whether a TTT function adapts on validation data that nothing scored before.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import ast
import re

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units
from verifier.rules.registration import README_SOURCE, rule
from verifier.rules.training_loops import (TTT_NAME, data_val_idents, loop_idents, loops_in, opt_step_lines,
                                           pre_eval_training, score_lines, span, val_uses_outside_eval)
from verifier.static.facts import CodeUnit
from verifier.subject import Subject

def _innermost_loops(u: CodeUnit, fn: ast.AST) -> list[ast.AST]:
    both = [lp for lp in loops_in(u, fn) if opt_step_lines(u, lp) and score_lines(u, lp)]
    out = []
    for lp in both:
        a, b = span(lp)
        if not any(x is not lp and a <= x.lineno and span(x)[1] <= b for x in both):
            out.append(lp)
    return out


def _ttt_function(name: str, fn) -> bool:
    return bool(TTT_NAME.search(name.rsplit(".", 1)[-1])) or any("ttt" in i.lower() for i in fn.idents
                                                              if i.lower().startswith(("ttt", "lora")))


# names of the training stream: a loop that draws its batches from it is the training loop
_TRAIN_DATA = re.compile(r"^(train_(loader|tokens|stream|batch(es)?|data|iter|ds|dataset|files|shards)|next_batch)$", re.I)


def _adapts_on_eval_data(u: CodeUnit, name: str, loop: ast.AST) -> bool:
    """Whether a loop that both updates and scores is test-time adaptation rather than the training loop:
    it draws no training batches, and outside a TTT-named function it touches validation data or TTT state
    (the training loop in main() steps the optimizer and then updates an EMA under no_grad, which is no
    scoring of validation tokens)."""
    idents = loop_idents(loop)
    # validation data handed to an eval call (periodic validation inside the training loop) is no adaptation
    val = val_uses_outside_eval(loop, set(data_val_idents(u, idents)))
    if any(_TRAIN_DATA.match(i) for i in idents) and not val:
        return False
    if TTT_NAME.search(name.rsplit(".", 1)[-1]):
        return True
    return bool(val) or any(i.lower().startswith(("ttt", "lora")) for i in idents)


@rule("code.ttt_score_order", "test-time training scores each token before updating on it",
      since="2026-03-20", severity="error",
      group="code", heuristic=True, requires="code",
      source=README_SOURCE + "'only allowed to test-time train on validation set tokens you've already evaluated "
      "your model on' (README.md:223, added 2026-03-20); issue #1017 condition C3")
def check_ttt_order(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
    out = []
    for u in units:
        score_first_fns: set[str] = set()
        pre_eval: list[tuple[str, object]] = []
        for name, fn in u.functions.items():
            if fn.node is None or not opt_step_lines(u, fn.node):
                continue
            for epochs, ident, line in pre_eval_training(s, u, name, fn.node):
                out.append(r.finding(
                    f"in {name}(), the loop at line {epochs.lineno} trains for epochs on validation data {ident!r} "
                    f"(line {line}) and scores nothing: every token is trained on before it is scored "
                    "(pre-eval TTT)", evidence=[code_evidence(u, epochs.lineno), code_evidence(u, line)], function=name))
            if not _ttt_function(name, fn):
                continue
            loops = [lp for lp in _innermost_loops(u, fn.node) if _adapts_on_eval_data(u, name, lp)]
            for lp in loops:
                steps, scores = opt_step_lines(u, lp), score_lines(u, lp)
                first_step, first_score = min(steps), min(scores)
                if first_step < first_score:
                    out.append(r.finding(
                        f"in {name}(), the loop at line {lp.lineno} updates (line {first_step}) before it scores "
                        f"(line {first_score}); tokens may be trained on before they are scored - needs runtime "
                        "probe (perturb future tokens, earlier losses must not change)",
                        status="needs_runtime_probe", severity="warning",
                        evidence=[code_evidence(u, lp.lineno), code_evidence(u, first_step), code_evidence(u, first_score)], function=name))
                else:
                    score_first_fns.add(name)
                    out.append(r.finding(
                        f"in {name}(), the loop at line {lp.lineno} scores (line {first_score}) before it updates "
                        f"(line {first_step}): score-first order seen statically; only a runtime probe proves it",
                        status="needs_runtime_probe", severity="info",
                        evidence=[code_evidence(u, first_score), code_evidence(u, first_step)], function=name))
            if not loops and TTT_NAME.search(name.rsplit(".", 1)[-1]) and data_val_idents(u, fn.idents) \
                    and not score_lines(u, fn.node):
                pre_eval.append((name, fn))
        for name, fn in pre_eval:
            short = name.rsplit(".", 1)[-1]
            callers = sorted(c for c, f in u.functions.items() if any(k.name.rsplit(".", 1)[-1] == short for k in f.calls))
            from_scorer = [c for c in callers if c in score_first_fns]
            if from_scorer:
                out.append(r.finding(f"{name}() adapts on validation data without scoring; it is called from "
                                     f"{', '.join(from_scorer)}() whose loop scores first (adaptation on scored "
                                     "tokens) - needs runtime probe", status="needs_runtime_probe", severity="info",
                                     evidence=[code_evidence(u, fn.line)], function=name, callers=callers))
            else:
                out.append(r.finding(f"{name}() adapts on validation data and scores nothing itself "
                                     "(pre-eval TTT pattern: train on val, then score) - needs runtime probe",
                                     status="needs_runtime_probe", severity="warning",
                                     evidence=[code_evidence(u, fn.line)], function=name, callers=callers))
    return out
