"""code.val_in_training: validation data reaches no gradient and no quantization calibration before it is scored.

A heuristic: it points at calibration calls that receive validation data, training loops
that use it outside an eval call, and epochs of training on it that score nothing; it
never proves the absence, so with nothing found the report says "needs runtime probe".
"""

from __future__ import annotations

import ast
import re

from harness.core.finding import Evidence, Finding, excerpt
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units
from verifier.rules.registration import README_SOURCE, rule
from verifier.rules.training_loops import (CALIBRATION_NAME, TTT_NAME, data_val_idents, loop_idents, off_by_default,
                                           opt_step_lines, pre_eval_training, score_lines, training_loops,
                                           val_uses_outside_eval)
from verifier.static.facts import CodeUnit
from verifier.subject import Subject

_CALIB_LOG = re.compile(r"(?i)(calibrat|hessian)\w*\b.*\b(val(idation)?( data| tokens| set)|val_\w+)\b")


def _val_into_calibration(u: CodeUnit, fn: ast.AST) -> list[tuple[int, str, str]]:
    """(line, callee, value) where a calibration call in ``fn`` receives validation data, directly or through a
    local bound to it (``calib_loader = Loader(args.val_files, ...)``; ``collect_hessians(model, calib_loader)``)."""
    derived: dict[str, str] = {}
    for node in ast.walk(fn):
        if isinstance(node, ast.Assign):
            vals = data_val_idents(u, loop_idents(node.value))
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
        if not CALIBRATION_NAME.search(callee) or TTT_NAME.search(callee):
            continue
        for arg in [*node.args, *(k.value for k in node.keywords)]:
            names = loop_idents(arg)
            direct = data_val_idents(u, names)
            via = [derived[n] for n in names if n in derived]
            if direct or via:
                out.append((node.lineno, callee, (direct or via)[0]))
                break
    return out


@rule("code.val_in_training", "validation data is not used for training or calibration before it is scored",
      since="2026-03-20", severity="warning", group="code", heuristic=True, requires="code",
      source=README_SOURCE + "'you can't access validation data during training' (README.md:221); organizer "
      "ruling on GPTQ calibration with validation data (issue #140, quoting #728, 2026-03-27)")
def check_val_in_training(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
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
                                         "self-generated data", severity="error", evidence=[code_evidence(u, line)],
                                         function=name, callee=callee, identifier=value))
            if fn.node is None or "." in name and TTT_NAME.search(name):
                continue
            vals = data_val_idents(u, fn.idents)
            if not vals:
                continue
            if CALIBRATION_NAME.search(name.rsplit(".", 1)[-1]) and not TTT_NAME.search(name):
                out.append(r.finding(f"{name}() is a calibration routine that references validation data "
                                     f"({', '.join(vals[:4])}); calibration must use training or self-generated "
                                     "data - needs runtime probe", status="needs_runtime_probe",
                                     evidence=[code_evidence(u, fn.line)], function=name, identifiers=vals[:8]))
                continue
            if TTT_NAME.search(name):
                continue  # test-time adaptation: judged by code.ttt_score_order
            for loop in training_loops(u, fn.node):
                scores, steps = score_lines(u, loop), opt_step_lines(u, loop)
                if scores and steps and min(scores) < min(steps):
                    continue  # scores, then updates: test-time training inline, judged by code.ttt_score_order
                hits = val_uses_outside_eval(loop, set(vals))
                if hits:
                    ident, line = min(hits, key=lambda h: h[1])
                    off = off_by_default(s, u, fn.node, loop)
                    pre = pre_eval_training(s, u, name, fn.node)
                    if pre:
                        epochs, ident, line = pre[0]
                        out.append(r.finding(
                            f"{name}(): the loop at line {epochs.lineno} trains for epochs on validation data "
                            f"{ident!r} (line {line}) and scores nothing: validation tokens reach the weights before "
                            "they are scored (pre-eval / pre-quant TTT)", severity="error",
                            evidence=[code_evidence(u, epochs.lineno), code_evidence(u, line)], function=name, identifier=ident))
                        break
                    out.append(r.finding(
                        f"{name}(): the training loop at line {loop.lineno} (it calls backward) uses validation "
                        f"data {ident!r} at line {line} outside an eval call; validation tokens must not reach a "
                        "gradient before they are scored - needs runtime probe"
                        + (f"; the branch is off by default ({off}) and no log switches it on" if off else ""),
                        status="needs_runtime_probe", severity="info" if off else None,
                        evidence=[code_evidence(u, loop.lineno), code_evidence(u, line)], function=name, identifier=ident,
                        off_by_default=off))
                    break
    return out
