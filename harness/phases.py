"""Live phases of one seed, from the trainer's log events, and the hard caps per phase.

The supervisor feeds every stamped line here. Lines become events through the one log
classifier, :class:`harness.core.events.EventStream`; this module only
maps events to phases with the small table below, keeps phases moving forward, and says
which hard cap and which silence limit apply now. Verdicts are not computed here: the
policy computes them afterwards from the timeline; these caps exist only to stop runaways.

Phases: ``launch`` (before the first step/val line) -> ``train`` -> ``post`` (after the
stop line: EMA, Hessians, quantization, compression) -> ``pre_eval`` (artifact written:
decompression, diagnostic evals, eval compile warm-up) -> ``eval`` (``beginning TTT eval
timer`` or the first final-metric line) -> ``done`` (``total_eval_time`` or the TTT headline).
A marked compile warm-up (``...warming up compile`` .. ``compile warmup done``) gets the
long silence limit, as the pre-training compile does (a #2014 smoke compiled in silence
for over 7 minutes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

PHASES = ("launch", "train", "post", "pre_eval", "eval", "done")

# Metric names that are diagnostics, never the start of the scored eval.
_DIAGNOSTIC = re.compile(r"(?i)diagnostic|pre-quantization|post_ema|pre_quant")
_FINAL_FAMILY = re.compile(r"^(final_|quantized|legal_ttt|ttt\b|ttt_)")
_TTT_FAMILY = re.compile(r"ttt")
_EVAL_TIMER = re.compile(r"beginning TTT eval timer")
_COMPILE_START = re.compile(r"(?i)warming up compile|compile[_ ]warm-?up(?!.*done)")
_COMPILE_DONE = re.compile(r"(?i)compile[_ ]?warm-?up done")
_ARTIFACT_TOTAL = re.compile(r"^Total submission size \S+: \d+ bytes")
# Events that carry a validation figure: the live table's "last metric". Markers that merely mention
# val_bpb (``val_bpb:byte_sidecar:enabled`` is a caseops event) are no metric.
METRIC_KINDS = ("val", "metric")


def _metric_name(ev: Any) -> str:
    name = (getattr(ev, "fields", None) or {}).get("name")
    if name:
        return str(name)
    m = re.match(r"^(\S+(?: \S+)*?) val_loss", ev.text.strip())
    return m.group(1) if m else ev.text.split(" ", 1)[0]


# The event -> phase table: (event kind, predicate on the event and tracker, target phase).
# Rows are tried in order; a row may only move the phase forward.
PhaseRule = tuple[str, Callable[[Any, "PhaseTracker"], bool], str]
_WARMUP = re.compile(r"^\s*(\S*warmup\S*|warmup_step)", re.I)
_TRAIN_TIME = re.compile(r"train_time:\s*([\d.]+)(ms|m|s)\b")


def script_train_time_s(text: str) -> float | None:
    """The script's own train_time on a step/val line, in seconds (ms, minutes or s)."""
    m = _TRAIN_TIME.search(text)
    if not m:
        return None
    return float(m.group(1)) * {"ms": 0.001, "m": 60.0, "s": 1.0}[m.group(2)]


PHASE_TABLE: list[PhaseRule] = [
    # Compile warm-up steps (warmup_step:, loop_warmup_step:) come before the timer starts.
    ("step", lambda ev, tr: not _WARMUP.match(ev.text), "train"),
    ("val", lambda ev, tr: not _WARMUP.match(ev.text), "train"),
    ("stop", lambda ev, tr: True, "post"),
    ("size", lambda ev, tr: bool(_ARTIFACT_TOTAL.match(ev.text.strip())), "pre_eval"),
    ("serialize", lambda ev, tr: True, "pre_eval"),
    ("marker", lambda ev, tr: bool(_EVAL_TIMER.search(ev.text)), "eval"),
    ("metric", lambda ev, tr: tr.phase == "eval" and tr.eval_timer_marked
     and bool(_TTT_FAMILY.search(_metric_name(ev))) and not _DIAGNOSTIC.search(ev.text), "done"),
    ("metric", lambda ev, tr: bool(_FINAL_FAMILY.match(_metric_name(ev))) and not _DIAGNOSTIC.search(ev.text), "eval"),
    ("eval_total", lambda ev, tr: True, "done"),
]


@dataclass(frozen=True)
class LiveCaps:
    """Hard kill caps (seconds on the harness clock) and silence limits per phase.

    Defaults are DESIGN.md's: launch -> timer start 900; train live 630; artifact
    production 600; pre-eval 600; eval live 630; end to end 45 min; silence 600 before the
    training timer and in marked compile warm-ups, 180 in the loop, 300 elsewhere.
    ``grace_s`` is added to every cap and silence limit.
    """

    launch_s: float = 900.0
    train_s: float = 630.0
    post_s: float = 600.0
    pre_eval_s: float = 600.0
    eval_s: float = 630.0
    done_s: float = 600.0
    total_s: float = 2700.0
    silence_s: dict[str, float] = field(default_factory=lambda: {
        "launch": 600.0, "train": 180.0, "post": 300.0, "pre_eval": 300.0, "eval": 300.0,
        "done": 300.0, "compile": 600.0})
    grace_s: float = 0.0

    def phase_cap(self, phase: str) -> float:
        return getattr(self, f"{phase}_s")

    def silence_for(self, phase: str, in_compile: bool) -> float:
        key = "compile" if in_compile else phase
        return self.silence_s.get(key, self.silence_s.get("default", 300.0))

    @classmethod
    def from_policy(cls, d: dict[str, Any]) -> "LiveCaps":
        """Build from ``Policy.live_caps()`` (several key spellings accepted, seconds).

        Recognised: launch/launch_to_timer, train/train_live, post/artifact_production,
        pre_eval, eval/eval_live, done, total/end_to_end (each bare or with ``_s``), grace,
        and silence as a dict {phase: s} or ``silence_<phase>[_s]`` keys.
        """
        alias = {"launch": "launch_s", "launch_to_timer": "launch_s", "timer_start": "launch_s",
                 "train": "train_s", "train_live": "train_s", "post": "post_s",
                 "artifact_production": "post_s", "pre_eval": "pre_eval_s", "eval": "eval_s",
                 "eval_live": "eval_s", "done": "done_s", "total": "total_s", "end_to_end": "total_s",
                 "grace": "grace_s"}
        kw: dict[str, Any] = {}
        silence = dict(cls().silence_s)
        for key, val in d.items():
            k = key[:-2] if key.endswith("_s") else key
            if k == "silence" and isinstance(val, dict):
                for p, s in val.items():
                    silence[p[:-2] if p.endswith("_s") else p] = float(s)
            elif k.startswith("silence_"):
                silence[k[len("silence_"):]] = float(val)
            elif k in alias:
                kw[alias[k]] = float(val)
        return cls(**kw, silence_s=silence)

    def scaled(self, factor: float) -> "LiveCaps":
        """All caps and silence limits times `factor` (smoke runs)."""
        return LiveCaps(**{f: getattr(self, f) * factor for f in
                           ("launch_s", "train_s", "post_s", "pre_eval_s", "eval_s", "done_s", "total_s")},
                        silence_s={k: v * factor for k, v in self.silence_s.items()}, grace_s=self.grace_s)


@dataclass
class Transition:
    phase: str
    t: float
    line_no: int
    text: str


def make_event_stream() -> Any:
    """The one log classifier (harness.core.events), fed live."""
    from harness.core.events import EventStream

    return EventStream()


class PhaseTracker:
    """Feed stamped lines; know the current phase, when it began, and whether compiling."""

    def __init__(self, stream: Any | None = None, table: Iterable[PhaseRule] = PHASE_TABLE):
        self.stream = stream if stream is not None else make_event_stream()
        self.table = list(table)
        self.phase = "launch"
        self.started: dict[str, float] = {"launch": 0.0}
        self.transitions: list[Transition] = []
        self.in_compile = False
        self.eval_timer_marked = False
        self.last_metric = ""  # the last line with a validation figure, as the trainer printed it

    def feed(self, t: float, line: str) -> list[Transition]:
        out = []
        # Compile warm-up markers are read from the raw line: they matter for the silence
        # limit whether or not the classifier turns them into events.
        if _COMPILE_DONE.search(line):
            self.in_compile = False
        elif _COMPILE_START.search(line):
            self.in_compile = True
        for ev in self.stream.feed(line, t):
            text = getattr(ev, "text", line)
            if ev.kind in METRIC_KINDS:
                self.last_metric = text.strip()
            for kind, pred, target in self.table:
                if ev.kind != kind or PHASES.index(target) <= PHASES.index(self.phase):
                    continue
                if not pred(ev, self):
                    continue
                if target == "eval" and _EVAL_TIMER.search(text):
                    self.eval_timer_marked = True
                if target in ("train", "eval"):
                    self.in_compile = False
                self.phase = target
                start = t
                if target == "train":
                    # The timer started train_time before this line (DESIGN: first step
                    # line minus its train_time), so the cap is anchored there.
                    tt = script_train_time_s(text)
                    if tt is not None and 0 <= tt < t:
                        start = t - tt
                self.started[target] = start
                tr = Transition(target, t, getattr(ev, "line_no", 0), text)
                self.transitions.append(tr)
                out.append(tr)
                break
        return out

    def cap_deadline(self, caps: LiveCaps) -> tuple[float, str]:
        """(deadline on the harness clock, cap description) for the current phase."""
        cap = caps.phase_cap(self.phase)
        return self.started[self.phase] + cap + caps.grace_s, f"{self.phase} cap {cap:g} s"

    def silence_limit(self, caps: LiveCaps) -> float:
        return caps.silence_for(self.phase, self.in_compile) + caps.grace_s
