"""The facts static analysis collects about one piece of Python source (a file or a decoded payload).

Rules query these instead of re-walking syntax trees: imports, calls with their literal
arguments, environment reads with defaults, per-function summaries, exec'd payloads, and
line indexes of optimizer steps, backward calls and scoring blocks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Import:
    module: str  # "torch.nn" / for `from x import y`: "x"
    names: tuple[str, ...]
    line: int
    in_function: str | None
    in_try: bool


@dataclass
class Call:
    name: str  # dotted as written, aliases resolved for modules: "subprocess.run", "urllib.request.urlopen"
    line: int
    function: str | None  # enclosing def, "" at module level
    str_args: tuple[str, ...]  # literal strings among positional args (one level into lists/tuples)
    kw: tuple[str, ...]


@dataclass
class EnvRead:
    name: str
    default: Any  # literal default or None when absent / not a literal
    has_default: bool
    line: int
    function: str | None


@dataclass
class FunctionInfo:
    name: str
    line: int
    end_line: int
    idents: set[str] = field(default_factory=set)  # Name ids and attribute names used inside
    calls: list[Call] = field(default_factory=list)
    node: ast.AST | None = None


@dataclass
class Decoded:
    """A payload decoded from an exec'd expression."""

    line: int
    chain: tuple[str, ...]  # e.g. ("b85decode", "lzma.decompress")
    payload_chars: int
    unit: "CodeUnit"


@dataclass
class CodeUnit:
    path: str  # file path, or "<path>#payload@LINE" for decoded code
    text: str
    size_bytes: int
    origin: str = "file"  # "file" | "decoded"
    tree: ast.Module | None = None
    syntax_error: str | None = None
    syntax_error_line: int | None = None
    imports: list[Import] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    env: list[EnvRead] = field(default_factory=list)
    functions: dict[str, FunctionInfo] = field(default_factory=dict)
    strings: list[tuple[int, str]] = field(default_factory=list)  # (line, literal) for path-like literals
    execs: list[tuple[int, str]] = field(default_factory=list)  # (line, source text of the exec arg)
    decoded: list[Decoded] = field(default_factory=list)
    decode_failures: list[tuple[int, str]] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> module path
    # line indexes the rules query by range instead of re-walking the tree
    step_lines: list[int] = field(default_factory=list)  # optimizer .step() and .backward() calls
    backward_lines: list[int] = field(default_factory=list)
    score_lines: list[int] = field(default_factory=list)  # no_grad/inference_mode blocks, loss-sum accumulation
    loops: list[ast.AST] = field(default_factory=list)
    exec_nodes: list[ast.Call] = field(default_factory=list)
    # a syntax error that newer Python grammar accepts (PEP 701 f-strings, PEP 695 type parameters)
    newer_grammar: str | None = None
    parsed_with: str | None = None  # the newer interpreter whose parser gave the tree, when one was found

    _lines: list[str] | None = None

    def line_text(self, n: int | None) -> str:
        if n is None:
            return ""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines[n - 1] if 0 < n <= len(self._lines) else ""

    def all_units(self) -> list["CodeUnit"]:
        out = [self]
        for d in self.decoded:
            out.extend(d.unit.all_units())
        return out
