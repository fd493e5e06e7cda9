"""Facts by regular expression, for source that does not parse: imports, environment reads and calls,
so one odd file (a syntax error, absurd nesting, NUL bytes) never stops a report."""

from __future__ import annotations

import ast
import re
from typing import Any

from verifier.static.facts import Call, CodeUnit, EnvRead, Import

_RE_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import\b|import[ \t]+([\w., \t]+))", re.M)
_RE_ENV = re.compile(r"""(?:environ\.get|getenv)\(\s*["'](\w+)["']\s*(?:,\s*([^)\n]{0,40}))?\)""")
_RE_CALL = re.compile(r"\b((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\s*\(")


def regex_facts(u: CodeUnit) -> None:
    text = u.text
    line_starts = [0]
    for m in re.finditer("\n", text):
        line_starts.append(m.end())

    import bisect

    def line_of(pos: int) -> int:
        return bisect.bisect_right(line_starts, pos)

    for m in _RE_IMPORT.finditer(text):
        if m.group(1):
            u.imports.append(Import(m.group(1), (), line_of(m.start()), None, False))
        else:
            for part in m.group(2).split(","):
                name = part.strip().split(" ")[0]
                if name:
                    u.imports.append(Import(name, (), line_of(m.start()), None, False))
    for m in _RE_ENV.finditer(text):
        default = None
        has = m.group(2) is not None
        if has:
            ok, default = _literal_text(m.group(2))
            default = default if ok else None
        u.env.append(EnvRead(m.group(1), default, has, line_of(m.start()), None))
    for m in _RE_CALL.finditer(text):
        name = m.group(1)
        if "." in name or name in ("exec", "eval", "urlopen", "hf_hub_download", "snapshot_download"):
            u.calls.append(Call(name, line_of(m.start()), None, (), ()))


def _literal_text(s: str) -> tuple[bool, Any]:
    try:
        return True, ast.literal_eval(s.strip())
    except Exception:  # noqa: BLE001
        return False, None
