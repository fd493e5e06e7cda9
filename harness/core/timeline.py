"""Where a run's wall-clock went: segments built once from events.

A :class:`Timeline` is a list of :class:`Segment` (startup and compile
warm-up, the training loop, validation pauses inside it, post-loop use of
training data, artifact production, decompression, diagnostic evals, eval
compile warm-up, the scored eval) plus the anchors they were cut at. Each
segment says where its seconds come from:

* ``harness``: differences of line stamps (the harness's clock when the log
  is ours, or the epoch prefix some record logs carry);
* ``script``: a duration the trainer printed (``train_time``, ``eval_time``,
  ``collected 67 Hessians in 4.7s``);
* ``derived``: inferred (a reservation the script made, an eval start
  computed as the headline line minus its eval time).

Policies (:mod:`harness.core.policy`) only add up segments by role; nothing
else computes times. Without stamps the timeline holds the script's own
figures and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from harness.core.events import Event
from harness.core.metrics import pick_headline

# Segment roles (what policies count). Region says which verdict a segment sits under.
ROLES = {
    "startup": None,                        # launch -> training timer (imports, data, compile warm-up)
    "loop": "train",                        # training timer start -> stop
    "val_pause": "train",                   # periodic validation inside the loop (timer paused)
    "post_loop_train_data": "train",        # GPTQ Hessians on train batches, post-loop QAT
    "calibration_no_train_data": "train",   # self-generated calibration (uses no training data)
    "artifact_production": "train",         # quantize + compress + serialize
    "diagnostic_eval_pre_artifact": "train",  # evals of the unquantized model before the artifact exists
    "decompression": "eval",                # reading the artifact back for eval
    "diagnostic_eval": "eval",              # evals that are not the headline
    "eval_compile": "eval",                 # marked compile warm-up before the eval timer
    "scored_eval": "eval",                  # eval timer -> headline metric
}

UNEXPLAINED_GAP_S = 2.0


@dataclass
class Segment:
    name: str
    role: str
    start: float | None
    end: float | None
    seconds: float | None
    source: str                  # harness | script | derived
    note: str = ""
    start_line: int | None = None
    end_line: int | None = None
    script_seconds: float | None = None  # what the trainer printed for the same span, shown beside
    phase: str | None = None     # the verdict region: train | eval | None
    excluded: bool | None = None  # not counted by the policy the timeline was built for
    uncertainty_s: float = 0.0   # +/- from the printing precision of the figures it was computed from
    lower_bound: bool = False    # the span's end was not seen (no stop line): the true value is at least this

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Anchor:
    t: float | None
    line_no: int | None
    source: str


@dataclass
class Timeline:
    segments: list[Segment] = field(default_factory=list)
    anchors: dict[str, Anchor] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    clock: str | None = None     # "harness" | "epoch" | None (no stamps)
    headline_line: int | None = None

    def by_role(self, role: str) -> list[Segment]:
        return [s for s in self.segments if s.role == role]

    def anchor_t(self, name: str) -> float | None:
        a = self.anchors.get(name)
        return a.t if a is not None else None

    def to_dict(self) -> dict[str, Any]:
        return {"clock": self.clock, "segments": [s.to_dict() for s in self.segments],
                "anchors": {k: asdict(v) for k, v in self.anchors.items()}, "findings": self.findings}


def _stamped(events: list[Event]) -> bool:
    timed = [e for e in events if e.kind in ("step", "val", "stop", "metric")]
    return bool(timed) and all(e.t is not None for e in timed)


def _is_loop_line(e: Event) -> bool:
    return e.kind in ("step", "val")


def _seg(tl: Timeline, name: str, role: str, start: Event | float | None, end: Event | float | None,
         seconds: float | None, source: str, note: str = "", script_seconds: float | None = None,
         uncertainty_s: float = 0.0) -> Segment:
    def t_of(x):
        return x.t if isinstance(x, Event) else x

    def line_of(x):
        return x.line_no if isinstance(x, Event) else None

    s = Segment(name, role, t_of(start), t_of(end), seconds, source, note, line_of(start), line_of(end),
                script_seconds, ROLES[role], uncertainty_s=uncertainty_s)
    tl.segments.append(s)
    return s


def _anchor(tl: Timeline, name: str, ev: Event | None, t: float | None = None, source: str = "harness") -> None:
    if ev is None and t is None:
        return
    tl.anchors[name] = Anchor(t if t is not None else ev.t, ev.line_no if ev is not None else None, source)


def build_timeline(events: list[Event], policy: Any = None, claimed_bpb: float | None = None,
                   run_end: float | None = None, killed: str | None = None) -> Timeline:
    """Segments of a run from its events; ``policy`` marks which ones it excludes.

    ``claimed_bpb`` lets the headline picker place the scored eval on the claimed metric line.
    ``run_end`` (harness clock) and ``killed`` (the kill reason) come from the supervisor: a run killed
    inside its training loop has no stop line, and its loop lasted until the kill.
    """
    tl = Timeline()
    stamped = _stamped(events)
    if stamped:
        first_t = next(e.t for e in events if e.t is not None)
        tl.clock = "epoch" if first_t > 1e9 else "harness"
    src = "harness" if stamped else "script"

    loop_lines = [e for e in events if _is_loop_line(e)]
    stop = next((e for e in reversed(events) if e.kind == "stop"), None)
    head = pick_headline(events, claimed_bpb=claimed_bpb)
    tl.headline_line = head.line_no if head else None
    head_ev = next((e for e in events if head and e.line_no == head.line_no and e.kind == "metric"), None)

    # ---- training loop
    first = loop_lines[0] if loop_lines else None
    loop_end = stop or (loop_lines[-1] if loop_lines else None)
    script_loop = None
    if stop is not None:
        script_loop = stop.fields.get("train_time_s")
    elif loop_lines:
        tts = [e.fields.get("train_time_s") for e in loop_lines if e.fields.get("train_time_s") is not None]
        script_loop = max(tts) if tts else None
    timer_start_t, timer_res = None, 0.0
    if first is not None and stamped:
        timer_start_t, timer_res = _timer_start(loop_lines, events[0].t)
        _anchor(tl, "timer_start", first, timer_start_t)
        if events[0].t is not None:
            _anchor(tl, "first_line", events[0])
            _seg(tl, "startup", "startup", events[0].t, timer_start_t, timer_start_t - events[0].t, src,
                 "process start (first line) to the training timer: imports, data, compile warm-up steps",
                 uncertainty_s=timer_res)
    if loop_end is not None:
        _anchor(tl, "loop_end", loop_end, source=src)
    after_loop = loop_end is not None and any(
        e.line_no > loop_end.line_no and e.kind in ("size", "hessians", "serialize", "metric", "marker")
        for e in events)
    if stamped and first is not None and loop_end is not None and stop is None and not after_loop:
        # No stop line and nothing after the loop: the run ended inside its training loop.
        if killed and run_end is not None:
            _seg(tl, "training loop", "loop", timer_start_t, run_end, run_end - timer_start_t, "harness",
                 f"first step line minus its train_time -> the harness's kill ({killed})",
                 script_seconds=script_loop, uncertainty_s=timer_res)
            tl.findings.append({"severity": "error", "rule": "timeline.killed_in_loop",
                                "message": f"the run was killed inside its training loop at t={run_end:.1f} s "
                                           f"({killed})"})
        else:
            seg = _seg(tl, "training loop", "loop", timer_start_t, loop_end, loop_end.t - timer_start_t, "harness",
                       "no stop line: the loop's end was not seen (the value is a lower bound)",
                       script_seconds=script_loop, uncertainty_s=timer_res)
            seg.lower_bound = True
    elif stamped and first is not None and loop_end is not None:
        wall = loop_end.t - timer_start_t
        _seg(tl, "training loop", "loop", timer_start_t, loop_end, wall, "harness",
             "first step line minus its train_time -> stop line", script_seconds=script_loop,
             uncertainty_s=timer_res)
        _val_pauses(tl, loop_lines, loop_end)
    elif script_loop is not None:
        _seg(tl, "training loop", "loop", None, loop_end, script_loop, "script",
             "the script's train_time at the stop (excludes its validation pauses)")

    # ---- after the loop: training-data use, calibration, artifact production
    after = [e for e in events if loop_end is None or e.line_no > loop_end.line_no]
    hess_end = _post_loop(tl, after, loop_end, stamped)
    art_closed = _artifact(tl, events, after, loop_end, hess_end, stamped)

    # ---- eval side
    _eval(tl, events, after, art_closed, head, head_ev, stamped)
    _mark(tl, policy)
    return tl


def _timer_start(loop_lines: list[Event], first_line_t: float | None) -> tuple[float, float]:
    """When the script's training timer started (harness clock), and +/- how precisely that is known.

    Each step line gives ``t - train_time``. Printed in ms that is exact to the stamp and the first
    line is used as it is. Printed in minutes with one decimal (``train_time: 0.3m``) it is only
    known to +/- 3 s, which on a short run put the timer before the process's first line. So the
    step lines up to the first validation pass each bound the start to an interval (after a pass,
    ``t - train_time`` also holds the pause, which train_time leaves out); the start lies in all of
    them, not before the process's first line and not after the first step line.
    """
    first = loop_lines[0]
    estimate, res = first.t - (first.fields.get("train_time_s") or 0.0), _res(first)
    if res < 0.01:
        return estimate, 0.0
    lo = max(estimate - res, first_line_t if first_line_t is not None else float("-inf"))
    hi = min(estimate + res, first.t)
    for e in loop_lines[1:]:
        if e.kind != "step":
            break
        if e.fields.get("train_time_s") is None:
            continue
        x = e.t - e.fields["train_time_s"]
        lo, hi = max(lo, x - _res(e)), min(hi, x + _res(e))
    if lo > hi:  # the bounds disagree (a pause this parser did not see): keep the first line's figure
        return estimate, res
    return (lo + hi) / 2, round((hi - lo) / 2, 3)


def _res(e: Event) -> float:
    """Half a printing step of the line's train_time (minutes with one decimal: 3 s)."""
    return float(e.fields.get("train_time_res_s", 0.0005))


def _val_pauses(tl: Timeline, loop_lines: list[Event], loop_end: Event) -> None:
    """Validation pauses inside the loop, from train/val line pairs on the clock.

    A val line printed right after a step line of the same step gives its pause
    directly (its timestamp minus the step line's). Otherwise the pause is the
    wall time between the timed lines around it beyond what the script's
    train_time advanced. The total is capped by what the script's own timer
    allows (loop wall minus train_time at the stop); a gap between timed lines
    with no validation in it that exceeds UNEXPLAINED_GAP_S (plus the printing
    precision of train_time) is a finding and stays counted.
    """
    timed = [e for e in loop_lines if e.fields.get("train_time_s") is not None]
    if loop_end.kind == "stop" and loop_end.fields.get("train_time_s") is not None:
        timed.append(loop_end)
    if len(timed) < 1:
        return
    loop = tl.by_role("loop")
    wall = loop[0].seconds if loop else None
    script_total = timed[-1].fields["train_time_s"]
    allowance = max((wall or 0.0) - script_total, 0.0)
    first = loop_lines[0] if loop_lines else None

    def extra(a: Event, b: Event) -> float:
        w = b.t - a.t
        return min(max(w - (b.fields["train_time_s"] - a.fields["train_time_s"]), 0.0), max(w, 0.0))

    pauses, uncertain = 0.0, 0.0
    vals = [v for v in loop_lines if v.kind == "val" and v is not first]
    used_pairs: set[tuple[int, int]] = set()
    for v in vals:
        if v.fields.get("train_time_s") is not None:
            prev = next((e for e in reversed(timed) if e.line_no < v.line_no), None)
            if prev is not None:
                pauses += extra(prev, v)
                used_pairs.add((prev.line_no, v.line_no))
            continue
        before = [e for e in loop_lines if e.line_no < v.line_no]
        if before and before[-1].kind == "step" and before[-1].fields.get("step") == v.fields.get("step"):
            pauses += max(v.t - before[-1].t, 0.0)
            continue
        prev = next((e for e in reversed(timed) if e.line_no < v.line_no), None)
        nxt = next((e for e in timed if e.line_no > v.line_no), None)
        if prev is not None and nxt is not None and (prev.line_no, nxt.line_no) not in used_pairs:
            pauses += extra(prev, nxt)
            uncertain += _res(prev) + _res(nxt)
            used_pairs.add((prev.line_no, nxt.line_no))
    for a, b in zip(timed, timed[1:]):
        if (a.line_no, b.line_no) in used_pairs or any(a.line_no < v.line_no <= b.line_no for v in vals):
            continue
        x = extra(a, b)
        if x > UNEXPLAINED_GAP_S + _res(a) + _res(b):
            tl.findings.append({"severity": "warning", "rule": "timeline.unexplained_gap",
                                "message": f"{x:.1f} s between lines {a.line_no} and {b.line_no} that the script's "
                                           f"train_time does not account for (counted as training)",
                                "line_no": b.line_no, "seconds": round(x, 3)})
    if not vals:
        return
    note = f"{len(vals)} periodic validation pass(es) on the clock"
    if pauses > allowance:
        note += f"; capped at {allowance:.2f} s, what the script's train_time allows (measured {pauses:.2f} s)"
        pauses = allowance
    if uncertain:
        note += f"; +/- {uncertain:.1f} s from train_time's printing precision"
    _seg(tl, "validation pauses", "val_pause", None, None, pauses, "harness", note,
         uncertainty_s=round(uncertain, 3))


def _pairs(after: list[Event], kind: str, pred=lambda e: True) -> list[tuple[Event | None, Event]]:
    """(begin, end) pairs of begin/end events of one kind."""
    out, begin = [], None
    for e in after:
        if e.kind != kind or not pred(e):
            continue
        if e.fields.get("phase") == "begin":
            begin = e
        elif e.fields.get("phase") == "end":
            out.append((begin, e))
            begin = None
    return out


def _span(begin: Event | None, end: Event, stamped: bool) -> tuple[float | None, str, float | None]:
    """(seconds, source, script seconds) of a begin/end pair."""
    script = end.fields.get("seconds")
    if stamped and begin is not None and begin.t is not None and end.t is not None:
        return end.t - begin.t, "harness", script
    return script, "script" if script is not None else "derived", script


def _post_loop(tl: Timeline, after: list[Event], loop_end: Event | None, stamped: bool) -> Event | None:
    last_end = None
    for begin, end in _pairs(after, "hessians"):
        uses = end.fields.get("uses_train_data")
        if uses is None:  # "gptq:collected hessians for N layers (<source>)"
            source_txt = str(end.fields.get("source", "")).lower()
            uses = not any(w in source_txt for w in ("self-gen", "selfgen", "autoregressive", "ar "))
        secs, source, script = _span(begin, end, stamped)
        if secs is None and stamped and begin is None and uses:
            # no begin line: from the previous line (quantization starts right after the loop/EMA)
            prev = _previous(after, end)
            if prev is not None and prev.t is not None:
                secs, source = end.t - prev.t, "derived"
        role = "post_loop_train_data" if uses else "calibration_no_train_data"
        _seg(tl, "GPTQ Hessian calibration" + ("" if uses else " (self-generated, no training data)"), role,
             begin, end, secs, source,
             "calibration batches read from the training data" if uses else "listed, not counted: uses no training data",
             script_seconds=script)
        if uses:
            last_end = end
    for begin, end in _pairs(after, "calibration"):
        secs, source, script = _span(begin, end, stamped)
        _seg(tl, "self-generated calibration data", "calibration_no_train_data", begin, end, secs, source,
             "autoregressive sampling from the model; uses no training data", script_seconds=script)
    return last_end


def _previous(events: list[Event], ev: Event) -> Event | None:
    prev = None
    for e in events:
        if e is ev:
            return prev
        prev = e
    return None


def _artifact(tl: Timeline, events: list[Event], after: list[Event], loop_end: Event | None,
              hess_end: Event | None, stamped: bool) -> Event | None:
    totals = [e for e in after if e.kind == "size" and e.fields.get("what") in ("total", "model")]
    closed = totals[-1] if totals else None
    if closed is not None:
        _anchor(tl, "artifact_closed", closed)
    # post-loop QAT (a reservation carved out of the loop for training after it)
    qat = next((e for e in events if e.kind == "gptq_reserve" and e.fields.get("what") == "post_qat"), None)
    qat_stop = next((e for e in after if e.kind == "post_qat"), None)
    if qat_stop is not None:  # the script printed how long its post-loop QAT really ran
        reserved = f" (it reserved {qat.fields.get('reserve_s')} s)" if qat is not None else ""
        _seg(tl, "post-loop QAT", "post_loop_train_data", loop_end, qat_stop, qat_stop.fields["seconds"], "script",
             f"QAT on training batches after the loop, as long as the script's stop line says{reserved}",
             script_seconds=qat_stop.fields["seconds"])
    elif qat is not None:
        _seg(tl, "post-loop QAT", "post_loop_train_data", loop_end, None, qat.fields.get("reserve_s"), "derived",
             "the script reserves this time after the loop for QAT on training batches; its end is not printed")
    printed = {e.fields.get("what"): e for e in after if e.kind == "serialize" and e.fields.get("phase") == "end"}
    script = None
    if "artifact_production_wallclock" in printed:
        script = printed["artifact_production_wallclock"].fields["seconds"]
    elif "serialize_wallclock" in printed:
        script = printed["serialize_wallclock"].fields["seconds"]
    else:
        parts = [printed[k].fields["seconds"] for k in ("quantize", "compress") if k in printed]
        script = sum(parts) if parts else None
    if stamped and closed is not None and loop_end is not None:
        start = hess_end or loop_end
        secs = closed.t - start.t
        train_data = sum(s.seconds or 0.0 for s in tl.segments
                         if s.role in ("post_loop_train_data", "calibration_no_train_data")
                         and s.start is not None and s.start >= start.t)
        _seg(tl, "artifact production", "artifact_production", start, closed, secs - train_data, "harness",
             "end of training-data use -> the artifact's size line (EMA, quantization, compression, serialization)",
             script_seconds=script)
    elif script is not None:
        _seg(tl, "artifact production", "artifact_production", None, closed, script, "script",
             "durations the script printed for quantization/compression/serialization")
    return closed


def _eval(tl: Timeline, events: list[Event], after: list[Event], closed: Event | None, head: Any,
          head_ev: Event | None, stamped: bool) -> None:
    decomp = [p for p in _pairs(after, "deserialize") if head_ev is None or p[1].line_no < head_ev.line_no]
    for i, (begin, end) in enumerate(decomp):
        secs, source, script = _span(begin, end, stamped)
        last = i == len(decomp) - 1
        _seg(tl, "decompression" if last else "decompression (for a diagnostic eval)",
             "decompression" if last else "diagnostic_eval", begin, end, secs, source,
             "the artifact read back for the scored eval (counted once)" if last
             else "an earlier read-back of the artifact; listed, not counted", script_seconds=script)
    markers = {e.fields.get("id"): e for e in after if e.kind == "marker"}
    cb, ce = markers.get("eval_compile_begin"), markers.get("eval_compile_end")
    if ce is not None:
        secs, source, script = _span(cb, ce, stamped)
        _seg(tl, "eval compile warm-up", "eval_compile", cb, ce, secs, source,
             "marked by the script ('compile warmup'); excluded up to the policy's cap", script_seconds=script)
    timer = markers.get("eval_timer_start")
    if timer is not None:
        _anchor(tl, "eval_timer_start", timer)
    for e in after:
        if e.kind == "metric" and (head_ev is None or e.line_no != head_ev.line_no) \
                and e.fields.get("eval_time_s") and (head is None or e.fields.get("base") != _base(head.name)):
            pre = closed is not None and e.line_no < closed.line_no
            _seg(tl, f"eval {e.fields['name']}", "diagnostic_eval_pre_artifact" if pre else "diagnostic_eval", None, e,
                 e.fields["eval_time_s"], "script", "an eval that is not the headline metric: listed, not counted"
                 + (" (before the artifact was written)" if pre else ""))
    if head is None or head_ev is None:
        tl.findings.append({"severity": "info", "rule": "timeline.no_headline",
                            "message": "no headline metric line: the eval segment cannot be placed"})
        return
    _anchor(tl, "headline", head_ev)
    script = head.eval_time_s
    begin = _eval_begin(after, closed, head_ev, head.name) if stamped else None
    if stamped and timer is not None and timer.t is not None:
        _seg(tl, "scored eval", "scored_eval", timer, head_ev, head_ev.t - timer.t, "harness",
             "'beginning TTT eval timer' -> the headline metric line", script_seconds=script)
    elif script is not None and begin is not None:
        secs = head_ev.t - begin.t
        _seg(tl, "scored eval", "scored_eval", begin, head_ev, secs, "harness",
             f"the line before the eval -> the headline metric line ({head.name}); the script printed {script:.3f} s",
             script_seconds=script)
        if abs(secs - script) > PRINTED_TOLERANCE_S:
            tl.findings.append({
                "severity": "warning", "rule": "timing.printed_vs_stamped",
                "message": f"the script printed eval_time {script:.3f} s with {head.name}, the harness's stamps give "
                           f"{secs:.3f} s from the line before the eval to the headline; the harness's figure is used"})
    elif script is not None:
        _seg(tl, "scored eval", "scored_eval", None, head_ev, script, "script",
             f"eval_time printed with the headline ({head.name})", script_seconds=script)
    elif stamped:
        tl.findings.append({"severity": "warning", "rule": "timeline.eval_unplaced",
                            "message": "the headline prints no eval_time and no eval timer marker was seen"})
    totals = [e for e in after if e.kind == "eval_total"]
    if totals:
        _anchor(tl, "eval_total", totals[-1], source="script")


# A printed duration and the harness's stamps of the same span may differ by the printing
# resolution (ms here) plus the stamping lag; beyond 1 s they disagree.
PRINTED_TOLERANCE_S = 1.0


def _eval_begin(after: list[Event], closed: Event | None, head_ev: Event, head_name: str) -> Event | None:
    """The last stamped event that closes what comes before the scored eval: the artifact's size
    line, the end of a decompression or of an eval compile warm-up, or a diagnostic metric (the
    headline's own twin line, ``name`` beside ``name_exact``, is part of the headline)."""
    kinds = {"deserialize", "marker", "metric", "size", "serialize"}
    cands = [e for e in after if e.line_no < head_ev.line_no and e.t is not None and e.kind in kinds
             and not (e.kind == "metric" and _base(str(e.fields.get("name", ""))) == _base(head_name))]
    if closed is not None and closed.t is not None and closed.line_no < head_ev.line_no:
        cands.append(closed)
    return max(cands, key=lambda e: e.line_no, default=None)


def _base(name: str) -> str:
    return name[: -len("_exact")] if name.endswith("_exact") else name


def _mark(tl: Timeline, policy: Any) -> None:
    """Mark segments the policy does not count (for reports); default: organizer-tda-v1's roles."""
    counted = {"loop", "post_loop_train_data", "scored_eval", "decompression"}
    if policy is not None and hasattr(policy, "counted_roles"):
        counted = policy.counted_roles()
    for s in tl.segments:
        s.excluded = s.role not in counted
