"""Scoring rules: every validation token is scored once, in one left-to-right pass, by the timed eval.

Two shapes the organizers closed on 2026-03-27 (#677) and after: scoring the
validation tokens a second time once a cache or adapted weights have seen them
all (two-pass n-gram rescoring, a TTT "second pass" over early chunks) and
keeping the better score; and a claim whose number comes from an eval phase the
timing left out (a line named "diagnostic" whose val_bpb is the claimed one).
"""

from __future__ import annotations

import re
from typing import Any

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import attr, code_evidence, hyperparams, log_evidence, log_summaries, nothing_to_read
from verifier.rules.registration import NO_LOGS, rule, unavailable
from verifier.static.facts import CodeUnit
from verifier.subject import Subject

# knobs and names of a second scoring pass
_SECOND_PASS = re.compile(r"two_?pass|twopass|2pass|pass_?2|second_pass|rescor|full_rescore", re.I)
# what a log prints when a second pass ran: a progress line named for it ("ngram_pass2: rescoring ...",
# "ttt_second_pass chunks=189"), never code or an assignment
_SECOND_PASS_LOG = re.compile(r"^\s*([a-z_0-9]*(?:pass_?2|second_pass|rescor(?:e|ing))[a-z_0-9]*)(?::| \w+[=:])", re.I)
_KEY_VALUE = re.compile(r"^\s*\w+:\s*\S+\s*$")  # a hyperparameter dump line (judged from its value instead)
_TRUTHY = ("true", "yes", "on")
_MODE = re.compile(r"two_?pass|rescore", re.I)
# knobs that switch the pass on (a fraction, a chunk count, a flag or a mode), not its parameters (lr, order)
_SWITCH = re.compile(r"(ENABLED?|_FRAC|_CHUNKS|_MODE|TWO_?PASS|TWOPASS|RESCORE|SECOND_PASS|PASS_?2)$", re.I)


def _defaults_on(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    try:
        return float(value) > 0
    except (TypeError, ValueError):
        return isinstance(value, str) and (value.lower() in _TRUTHY or bool(_MODE.search(value)))


def _code_sites(u: CodeUnit) -> tuple[list[tuple[int, str, bool]], list[tuple[int, str]]]:
    """(line, knob, on by default) for environment switches of a second pass; (line, function) for functions named
    for one."""
    knobs = [(e.line, e.name, e.has_default and _defaults_on(e.default)) for e in u.env
             if (_SECOND_PASS.search(e.name) and _SWITCH.search(e.name))
             or (e.has_default and _MODE.search(str(e.default)))]
    fns = [(f.line, name) for name, f in u.functions.items() if _SECOND_PASS.search(name.rsplit(".", 1)[-1])]
    return knobs, fns


def _source_span(lg: Any) -> tuple[int, int]:
    """Lines of the source dump a log embeds (its code prints the very names a second pass logs)."""
    begin = next((e for e in (lg.events or []) if e.kind == "source_begin"), None)
    if begin is None:
        return (0, -1)
    chars = begin.fields.get("chars") or 0
    first = begin.line_no
    return first, first + (begin.fields.get("source") or "").count("\n") + 2 if chars else first


@rule("code.two_pass_rescoring", "validation tokens are scored once (no second pass that re-scores them)",
      since="2026-03-18", severity="error", group="code", needs=("code",), heuristic=True,
      source="challenge README record criterion 2, val_bpb 'correctly calculated' (README.md:236-242, 2026-03-18), "
      "applied by the organizer closures of 2026-03-27 to PRs then open (valerio-oai on #677: two-pass rescoring "
      "among the disallowed); issue #1017 condition C4 (single left-to-right pass)")
def check_two_pass(s: Subject, r: Rule) -> list[Finding]:
    out: list[Finding] = []
    for lg in s.logs:
        source = _source_span(lg)
        for i, line in enumerate(lg.lines, start=1):
            m = _SECOND_PASS_LOG.search(line)
            if m and not (source[0] <= i <= source[1]) and not _KEY_VALUE.match(line):
                out.append(r.finding(f"{lg.display}:{i}: the run printed a second scoring pass ({m.group(1)})",
                                     evidence=[log_evidence(lg, i)], log=lg.display, line=i))
                break
        hp = hyperparams(lg)
        on = sorted(k for k, v in hp.items() if _SECOND_PASS.search(k) and _SWITCH.search(k) and _defaults_on(v))
        if on:
            out.append(r.finding(f"{lg.display}: the run's hyperparameters switch a second scoring pass on "
                                 f"({', '.join(f'{k}={hp[k]}' for k in on)})", evidence=[log_evidence(lg, None)],
                                 log=lg.display, knobs=on))
    for u in s.entry_units() or s.all_units():
        knobs, fns = _code_sites(u)
        for line, knob, on in knobs:
            out.append(r.finding(
                f"{u.path}:{line}: {knob} " + ("switches a second scoring pass on by default: tokens scored once are "
                                                "scored again with state that has seen them" if on else
                                                "controls a second scoring pass (off by default)"),
                severity="error" if on else "info", status="violation" if on else "needs_runtime_probe",
                evidence=[code_evidence(u, line)], knob=knob, on_by_default=on))
        for line, name in fns:
            out.append(r.finding(f"{u.path}:{line}: {name}() is named for a second scoring pass - needs runtime "
                                 "probe (score each token once)", severity="warning", status="needs_runtime_probe",
                                 evidence=[code_evidence(u, line)], function=name))
    return out or nothing_to_read(s, r)


@rule("log.headline_timed", "the claimed val_bpb comes from the timed, scored eval", since="2026-03-18",
      severity="error", group="log", needs=("logs", "claims"),
      source="challenge README: evaluation within 10 minutes (README.md:221); DESIGN.md 'Timing policy' "
      "(diagnostic evals are listed, not counted, so their numbers cannot be the score)")
def check_headline_timed(s: Subject, r: Rule) -> list[Finding]:
    rec = s.legacy_record
    if rec is None:
        return unavailable(r, "no claims to compare with the timed eval")
    if not s.logs:
        return unavailable(r, NO_LOGS)
    pairs = log_summaries(s)
    claims = {str(k): v.val_bpb for k, v in rec.seed_results.items() if v.val_bpb is not None}
    out: list[Finding] = []
    for lg, summ in pairs:
        seed = attr(summ, "seed")
        claim = claims.get(str(seed)) if seed is not None else None
        if claim is None and not claims:
            claim = rec.val_bpb
        if claim is None:
            continue
        metrics = [e for e in (lg.events or []) if e.kind == "metric" and e.fields.get("val_bpb") is not None]
        hits = [e for e in metrics if abs(float(e.fields["val_bpb"]) - float(claim)) <= 5e-5]
        if hits and all(e.fields.get("diagnostic") for e in hits):
            e = hits[-1]
            out.append(r.finding(f"{lg.display}:{e.line_no}: the claimed val_bpb {claim} is the number of "
                                 f"'{e.fields['name']}', an eval the timing leaves out as a diagnostic; the timed "
                                 "eval's number is not the claim", evidence=[log_evidence(lg, e.line_no)], log=lg.display,
                                 claimed=claim, metric=e.fields["name"]))
    return out


# ---------------------------------------------------------------------------
# SLOT: per-sample optimisation on the batch that is then scored

_SLOT = re.compile(r"slot", re.I)
_EVAL_FN = re.compile(r"eval|score|sliding|bpb", re.I)


def _slot_functions(u: CodeUnit) -> list[tuple[str, int]]:
    """Eval functions that optimise SLOT state (they call backward() and name a slot)."""
    out = []
    for name, f in u.functions.items():
        short = name.rsplit(".", 1)[-1]
        if f.node is None or not _EVAL_FN.search(short):
            continue
        if any(_SLOT.search(i) for i in f.idents | {short}) and any(f.line <= b <= f.end_line for b in u.backward_lines):
            out.append((name, f.line))
    return out


def _slot_switch(u: CodeUnit) -> tuple[str, Any, bool] | None:
    """(knob, default, on by default) of the environment switch of a SLOT path."""
    for e in u.env:
        if _SLOT.search(e.name) and re.search(r"ENABLED?$|^SLOT$", e.name):
            return e.name, e.default, e.has_default and _defaults_on(e.default)
    return None


@rule("code.slot", "no per-sample optimisation on the scored batch before scoring it (SLOT)", since="2026-03-18",
      severity="error", group="code", needs=("code",), heuristic=True,
      source="challenge README: test-time training only on tokens already evaluated (README.md:223, 2026-03-20) and "
      "val_bpb 'correctly calculated' (README.md:236-242); issue #1017 C1 (strict causal dependence); SLOT PRs "
      "closed or held (#1240, #1376, #1430, #1722; COMMUNITY.md 'HOLD scored-region SLOT')")
def check_slot(s: Subject, r: Rule) -> list[Finding]:
    out: list[Finding] = []
    ran = []
    for lg in s.logs:
        hp = hyperparams(lg)
        on = [k for k, v in hp.items() if _SLOT.search(k) and re.search(r"enabled?$", k) and _defaults_on(v)]
        scored = [e for e in (lg.events or []) if e.kind == "metric" and _SLOT.search(str(e.fields.get("name")))]
        if on or scored:
            ran.append(lg.display)
            where = scored[-1].line_no if scored else None
            out.append(r.finding(f"{lg.display}: the run scored with SLOT ("
                                 + (f"{on[0]}={hp[on[0]]}" if on else f"metric '{scored[-1].fields['name']}'") + ")",
                                 evidence=[log_evidence(lg, where)], log=lg.display))
    for u in s.entry_units() or s.all_units():
        switch = _slot_switch(u)
        for name, line in _slot_functions(u):
            off = switch is not None and not switch[2] and not ran
            out.append(r.finding(
                f"{u.path}:{line}: {name}() optimises SLOT parameters on the batch it scores - needs runtime probe "
                "(a token's loss must not depend on its own target through the optimisation)"
                + (f"; off by default ({switch[0]}={switch[1]!r}) and on in no log" if off else ""),
                status="needs_runtime_probe", severity="info" if off else "warning",
                evidence=[code_evidence(u, line)], function=name))
    return out or nothing_to_read(s, r)
