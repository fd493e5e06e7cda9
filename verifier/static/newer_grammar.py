"""Source that the local interpreter's grammar rejects but a newer Python accepts (PEP 701, PEP 695).

Such a file is parsed by a newer interpreter when one is installed (the child only parses and
pickles the tree); otherwise the unit keeps the regex facts and says why.
"""

from __future__ import annotations

import ast
import os
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

# SyntaxError messages of Python 3.11 on code that 3.12+ accepts: PEP 701 lets an f-string reuse its own
# quotes, nest them and hold backslashes and comments; PEP 695 adds `type X = ...` and `def f[T](...)`.
_NEWER_FSTRING = re.compile(r"f-string: (expecting '}'|unmatched|single '}'|expressions nested too deeply|"
                            r"invalid syntax|unterminated string)|f-string expression part cannot include")
_NEWER_TYPE_PARAMS = re.compile(r"^\s*(type\s+\w+(\[[^\]]*\])?\s*=|(async\s+)?def\s+\w+\[|class\s+\w+\[)")
NEWER_PYTHONS = ("python3.13", "python3.12")


def newer_grammar_hint(text: str, exc: SyntaxError) -> str | None:
    """Why a syntax error may be the local interpreter's grammar, not the code's: None when it is not."""
    if sys.version_info >= (3, 12):
        return None
    if _NEWER_FSTRING.search(exc.msg or ""):
        return "PEP 701 f-string (Python 3.12+)"
    line = text.split("\n")[exc.lineno - 1] if exc.lineno and 0 < exc.lineno <= text.count("\n") + 1 else ""
    if _NEWER_TYPE_PARAMS.match(line):
        return "PEP 695 type parameters (Python 3.12+)"
    return None


def installed_newer_python() -> str | None:
    """A Python >= 3.12 that pyenv or uv installed but did not put on PATH."""
    home = Path.home()
    pattern = "python3.1[2-9]"
    for root in (Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions", home / ".local/share/uv/python"):
        found = sorted(root.glob(f"*/bin/{pattern}")) if root.is_dir() else []
        if found:
            return str(found[-1])
    return None


def parse_with_newer_python(text: str) -> tuple[ast.Module | None, str | None]:
    """Parse with a newer interpreter (``PGOLF_NEWER_PYTHON``, else on PATH, else pyenv/uv's) and bring its tree here.

    The child only parses (``ast.parse``; the submission never runs) and pickles the tree; node classes
    this Python lacks make the unpickling fail, and then there is no tree.
    """
    candidates = [os.environ.get("PGOLF_NEWER_PYTHON"), *map(shutil.which, NEWER_PYTHONS), installed_newer_python()]
    for exe in dict.fromkeys(filter(None, candidates)):  # a pyenv shim on PATH may not run: try the next one
        tree, version = _parse_in(exe, text)
        if tree is not None:
            return tree, version
    return None, None


def _parse_in(exe: str, text: str) -> tuple[ast.Module | None, str | None]:
    # type_params (3.12+) is dropped before pickling: this Python's node classes take one field fewer
    prog = ("import ast, pickle, sys\nt = ast.parse(sys.stdin.buffer.read())\nfor n in ast.walk(t):\n"
            "    if 'type_params' in n._fields and hasattr(n, 'type_params'):\n        del n.type_params\n"
            "sys.stdout.buffer.write(pickle.dumps((sys.version.split()[0], t), protocol=4))")
    try:
        proc = subprocess.run([exe, "-I", "-c", prog], input=text.encode("utf-8"), capture_output=True, timeout=60)
        if proc.returncode != 0:
            return None, None
        version, tree = pickle.loads(proc.stdout)  # produced by our own program above, from a parse only
    except Exception:  # noqa: BLE001 - no usable newer parser: the caller keeps the regex facts
        return None, None
    return (tree, str(version)) if isinstance(tree, ast.Module) else (None, None)
