"""The one log classifier: trainer log lines -> typed events.

Every reader of a training log goes through here: the supervisor feeds lines
live (with the harness clock), and verify, record validation, compare and the
leaderboard feed files. Lines may carry a stamp (the harness's ``"<t> "``
prefix, or the Unix-epoch prefix some record logs have), come from any of the
three log generations (``step:N/M ... train_time:Nms``, ``N/M ... train_time:
N.Nm``, hyperparameter dumps), and may sit inside an embedded source dump,
which must never be read as events (the code contains the very strings it
prints).

The formats of single lines (the regex table) live in
:mod:`harness.core.log_formats`; this module is the state machine around them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from harness.core.log_formats import (CODE_LINE, CODE_START, HP_BLOCK_LINE, HP_BLOCK_START, LINE_PREFIX, PATTERNS, coerce,
                                      kv_pairs, row_fields)

# A stamp at the start of a line: the harness's relative seconds ("12.345 ") or a
# Unix epoch ("1776142361.425 "). Up to two (a harness-stamped run of a trainer
# that stamps its own lines).
_STAMP = re.compile(r"^(\d{9,11}\.\d+|\d+\.\d{3}) ")
# The harness writes the trainer's stderr into its log behind this mark. Such lines are kept
# (kind "stderr") but never classified: metrics, timers and sizes count only from stdout, so a
# trainer cannot slip a forged figure in through a channel the harness does not score.
STDERR_MARK = "[stderr] "
_RULE_LINE = re.compile(r"^={20,}\s*$")


@dataclass
class Event:
    """One fact a log line states."""

    kind: str
    line_no: int          # 1-based line number in the log
    text: str             # the line without stamp(s)
    t: float | None = None  # seconds: the harness clock when fed live / stamped, else the epoch stamp
    fields: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def strip_stamps(line: str) -> tuple[float | None, str]:
    """(first stamp or None, the text without stamps and trailing newline)."""
    text = line.rstrip("\r\n")
    first: float | None = None
    for _ in range(2):
        m = _STAMP.match(text)
        if not m:
            break
        if first is None:
            first = float(m.group(1))
        text = text[m.end():]
    return first, text


class EventStream:
    """Incremental classifier: feed lines (live or from a file), collect events.

    State it keeps across lines: the hyperparameter block (``Hyperparameters:``
    then indented ``  key: value`` lines) and the embedded source dump
    (``Source code:`` between rules of ``=``, or a root-script log that starts
    with the code), whose lines are skipped but kept as one ``source`` text.
    """

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.line_no = 0
        self._in_hp = False
        self._src_state: str | None = None  # None | "await_rule" | "in" | "comments" | "implicit"
        self._src_lines: list[str] = []
        self._src_start = 0
        self.embedded_source: str | None = None

    def feed(self, line: str, t: float | None = None) -> list[Event]:
        self.line_no += 1
        stamp, text = strip_stamps(line)
        if t is None:
            t = stamp
        if text.startswith(STDERR_MARK):
            out = [Event("stderr", self.line_no, text[len(STDERR_MARK):], t, {})]
            self.events.extend(out)
            return out
        out = self._classify(text, t)
        self.events.extend(out)
        return out

    # -- state machine around the line table
    def _classify(self, text: str, t: float | None) -> list[Event]:
        n = self.line_no
        if self._src_state == "await_rule":
            self._src_state = "in"
            if _RULE_LINE.match(text):
                return []
        if self._src_state == "in":
            if _RULE_LINE.match(text):
                self._close_source()
                return []
            self._src_lines.append(text)
            return []
        if self._src_state == "comments":
            return self._after_comments(n, text, t)
        if self._src_state == "implicit":
            return self._in_implicit_source(n, text, t)
        if text.strip() == "Source code:":
            self._in_hp = False
            self._src_state, self._src_start = "await_rule", n
            return [Event("source_begin", n, text, t, {})]
        if n == 1 and CODE_START.match(text):
            # A log that starts with a comment may be a script's dump or notes above a log: the first line
            # that is neither comment nor blank decides (_after_comments).
            self._src_state = "comments" if text.startswith("#") else "implicit"
            self._src_lines.append(text)
            return [] if self._src_state == "comments" else [self._implicit_begin(t)]
        if HP_BLOCK_START.match(text):
            self._in_hp = True
            return [Event("hyperparam_block", n, text, t, {})]
        if self._in_hp:
            m = HP_BLOCK_LINE.match(text)
            if m:
                return self._hyperparam(n, text, t, m.group("key"), m.group("value"))
            self._in_hp = False
        return self._table(n, text, t)

    def _implicit_begin(self, t: float | None) -> Event:
        return Event("source_begin", 1, "", t, {"implicit": True})

    def _after_comments(self, n: int, text: str, t: float | None) -> list[Event]:
        """Comment lines at the top of a log: code follows (a root-script dump), or a log does (notes above it)."""
        if not text.strip() or text.startswith("#"):
            self._src_lines.append(text)
            return []
        if CODE_LINE.match(text):
            self._src_state = "implicit"
            self._src_lines.append(text)
            return [self._implicit_begin(None)]
        return self._not_source() + self._classify(text, t)

    def _not_source(self) -> list[Event]:
        """The comment lines held back at the top were notes, not code: classify them as the lines they are."""
        comments, self._src_lines, self._src_state = self._src_lines, [], None
        return [ev for i, line in enumerate(comments, start=1) for ev in self._table(i, line, None)]

    def _in_implicit_source(self, n: int, text: str, t: float | None) -> list[Event]:
        """A root-script dump ends at a rule of "=", or at the first unindented line the table reads as a log
        line (some scripts print no rule after their code): the code prints its strings indented, from f-strings."""
        if _RULE_LINE.match(text):
            self._close_source()
            return []
        if text[:1].strip():
            events = self._table(n, text, t)
            if any(ev.kind != "hyperparam" for ev in events):
                self._close_source()
                return events
        self._src_lines.append(text)
        return []

    def _close_source(self) -> None:
        self._src_state = None
        self.embedded_source = "\n".join(self._src_lines) + "\n"
        self._src_lines = []

    def _hyperparam(self, n: int, text: str, t: float | None, key: str, value: str) -> list[Event]:
        val = coerce(value)
        out = [Event("hyperparam", n, text, t, {"key": key, "value": val})]
        # Hyperparameters that are also run facts become their own events.
        if key == "seed" and isinstance(val, int):
            out.append(Event("seed", n, text, t, {"seed": val}))
        elif key == "world_size" and isinstance(val, int):
            out.append(Event("world", n, text, t, {"world_size": val}))
        elif key == "caseops_enabled" and isinstance(val, bool):
            out.append(Event("caseops", n, text, t, {"enabled": val}))
        return out

    def _table(self, n: int, text: str, t: float | None) -> list[Event]:
        s = LINE_PREFIX.sub("", text, count=1)
        s = s.strip() if not s.startswith("|") else s
        out: list[Event] = []
        for pat in PATTERNS:
            m = pat.regex.search(s)
            fields = row_fields(pat, m) if m else None
            if fields is None:
                continue
            out.append(Event(pat.kind, n, text, t, fields))
            if pat.final:
                return out
        if not out:
            for k, v in kv_pairs(s):
                out.extend(self._hyperparam(n, text, t, k, v))
        return out

    def finish(self) -> None:
        """End of input: a source dump without its closing rule still counts."""
        if self._src_state in ("in", "implicit") and self._src_lines:
            self._close_source()
        elif self._src_state == "comments":  # a log of comments only
            self.events.extend(self._not_source())


def parse_lines(lines: Iterable[str | tuple[float, str]]) -> list[Event]:
    """Events of an iterable of lines, or of (t, line) pairs (the harness clock)."""
    stream = EventStream()
    for item in lines:
        if isinstance(item, tuple):
            stream.feed(item[1], item[0])
        else:
            stream.feed(item)
    stream.finish()
    return _with_source(stream)


def parse_file(path: str | Path) -> list[Event]:
    """Events of a log file (any generation; stamped or not)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        return parse_lines(fh)


def _with_source(stream: EventStream) -> list[Event]:
    events = stream.events
    if stream.embedded_source is not None:
        for ev in events:
            if ev.kind == "source_begin":
                ev.fields["chars"] = len(stream.embedded_source)
                ev.fields["source"] = stream.embedded_source
                break
    return events


def events_json(events: list[Event], with_text: bool = False) -> list[dict[str, Any]]:
    """A plain, stable view of events (the golden files; `harness log events`)."""
    out = []
    for ev in events:
        f = {k: v for k, v in ev.fields.items() if k != "source"}
        d: dict[str, Any] = {"kind": ev.kind, "line": ev.line_no, "fields": f}
        if ev.t is not None:
            d["t"] = ev.t
        if with_text:
            d["text"] = ev.text
        out.append(d)
    return out
