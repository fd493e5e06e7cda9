"""Static facts about Python source, collected in one pass without running it.

The code rules ask questions of these facts (imports, calls with their
literal arguments, environment-variable reads with defaults, per-function
summaries, exec'd payloads). Parsing uses :mod:`ast`; when a file does not
parse (a syntax error, absurd nesting, NUL bytes) the unit records why and a
regex pass fills the facts it can, so one odd file never stops a report.

Self-extracting wrappers (``exec(lzma.decompress(base64.b85decode("...")))``
and its zlib/brotli/base64/compile variants) are decoded statically: the
payload expression is *evaluated by us* over a whitelist of pure decoding
functions, never by ``exec``; the decoded text becomes a child unit that the
rules analyse like any file.
"""

from __future__ import annotations

import ast
import base64
import binascii
import bz2
import gzip
import lzma
import os
import pickle
import re
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_DECODED_BYTES = 64 * 1024 * 1024  # refuse decompression bombs
MAX_DEPTH = 3  # wrappers inside wrappers
MAX_AST_BYTES = 16 * 1024 * 1024  # a train_gpt.py is < 1 MB; beyond this only the regex pass runs


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


# ---------------------------------------------------------------------------


def _dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
    elif isinstance(node, ast.Call):
        inner = _dotted(node.func, aliases)
        parts.append((inner or "?") + "()")
    else:
        return None
    return ".".join(reversed(parts))


def _literal(node: ast.AST | None) -> tuple[bool, Any]:
    if node is None:
        return False, None
    try:
        return True, ast.literal_eval(node)
    except Exception:  # noqa: BLE001 - not a literal
        return False, None


def _str_args(args: list[ast.expr]) -> tuple[str, ...]:
    out: list[str] = []
    for a in args[:4]:
        if isinstance(a, ast.Constant) and isinstance(a.value, str):
            out.append(a.value)
        elif isinstance(a, (ast.List, ast.Tuple)):
            for e in a.elts[:16]:
                if isinstance(e, ast.Constant) and isinstance(e.value, str):
                    out.append(e.value)
    return tuple(out)


_ENV_FUNCS = {"os.environ.get", "os.getenv", "environ.get", "getenv"}
_SCHED = re.compile(r"sched|lr_|warmup", re.I)
_SUMNAME = re.compile(r"loss_sum|nll_sum|bits|byte_count|token_count|total_loss|bpb", re.I)
_PATHLIKE = re.compile(r"(fineweb_val|_val_|val_|\.bin$|https?://|\.py$)")


class _Collector:
    """One recursive pass; keeps a stack of enclosing functions and try blocks."""

    def __init__(self, unit: CodeUnit):
        self.u = unit
        self.func_stack: list[FunctionInfo] = []
        self.try_depth = 0

    def run(self, tree: ast.Module) -> None:
        # aliases first (imports may follow their first use in odd files; cheap pre-pass over top level)
        for node in tree.body:
            self._alias(node)
        self.visit(tree)

    def _alias(self, node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.u.aliases[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                self.u.aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def visit(self, root: ast.AST) -> None:
        # Iterative walk (deep nesting cannot blow the C stack) with explicit exits for defs and
        # try blocks; child order does not matter because every fact carries its line number.
        AST = ast.AST
        fn_types = (ast.FunctionDef, ast.AsyncFunctionDef)
        name_t, attr_t, arg_t = ast.Name, ast.Attribute, ast.arg
        enter = self._handlers
        stack: list[tuple[ast.AST, bool]] = [(root, False)]
        pop, push = stack.pop, stack.append
        while stack:
            node, leaving = pop()
            if leaving:
                self._exit(node)
                continue
            t = type(node)
            if self.func_stack:
                if t is name_t:
                    self.func_stack[-1].idents.add(node.id)
                    continue  # Name has only ctx below it
                if t is attr_t:
                    self.func_stack[-1].idents.add(node.attr)
                elif t is arg_t:
                    self.func_stack[-1].idents.add(node.arg)
            elif t is name_t:
                continue
            h = enter.get(t)
            if h is not None:
                h(node)
                if t in fn_types or t is ast.Try:
                    push((node, True))
            for fname in node._fields:
                v = getattr(node, fname, None)
                if type(v) is list:
                    for item in v:
                        if isinstance(item, AST):
                            push((item, False))
                elif isinstance(v, AST):
                    push((v, False))

    def _fname(self) -> str | None:
        return self.func_stack[-1].name if self.func_stack else ""

    @property
    def _handlers(self) -> dict[type, object]:
        h = {ast.FunctionDef: self._def, ast.AsyncFunctionDef: self._def, ast.Try: self._try,
             ast.Import: self._import, ast.ImportFrom: self._importfrom, ast.Call: self._call,
             ast.Subscript: self._subscript, ast.Constant: self._const, ast.With: self._with,
             ast.AsyncWith: self._with, ast.AugAssign: self._augassign, ast.For: self._loop,
             ast.While: self._loop, ast.AsyncFor: self._loop}
        if hasattr(ast, "TryStar"):
            h[ast.TryStar] = self._try
        return h

    def _def(self, node) -> None:
        name = node.name
        if self.func_stack:
            name = f"{self.func_stack[-1].name}.{node.name}"
        info = FunctionInfo(name, node.lineno, getattr(node, "end_lineno", node.lineno) or node.lineno, node=node)
        self.u.functions[name] = info
        self.func_stack.append(info)

    def _try(self, node) -> None:
        self.try_depth += 1

    def _import(self, node) -> None:
        u = self.u
        for a in node.names:
            u.imports.append(Import(a.name, (), node.lineno, self._fname() or None, self.try_depth > 0))
            if a.asname and self.func_stack:
                u.aliases.setdefault(a.asname, a.name)

    def _importfrom(self, node) -> None:
        u = self.u
        mod = ("." * node.level) + (node.module or "")
        u.imports.append(Import(mod, tuple(a.name for a in node.names), node.lineno,
                                self._fname() or None, self.try_depth > 0))
        if self.func_stack and node.module and node.level == 0:
            for a in node.names:
                u.aliases.setdefault(a.asname or a.name, f"{node.module}.{a.name}")

    def _call(self, node) -> None:
        u = self.u
        f = node.func
        if type(f) is ast.Attribute:
            if f.attr == "backward":
                u.step_lines.append(node.lineno)
                u.backward_lines.append(node.lineno)
            elif f.attr == "step":
                recv = f.value
                rn = recv.id if type(recv) is ast.Name else (recv.attr if type(recv) is ast.Attribute else "")
                if not _SCHED.search(rn):
                    u.step_lines.append(node.lineno)
        name = _dotted(f, u.aliases) or "?"
        call = Call(name, node.lineno, self._fname(), _str_args(node.args),
                    tuple(k.arg for k in node.keywords if k.arg))
        u.calls.append(call)
        if self.func_stack:
            self.func_stack[-1].calls.append(call)
        if name in _ENV_FUNCS or name.endswith("environ.get"):
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
                has_default = len(node.args) > 1
                ok, val = _literal(node.args[1] if has_default else None)
                u.env.append(EnvRead(node.args[0].value, val if ok else None, has_default,
                                     node.lineno, self._fname()))
        elif name in ("no_grad", "inference_mode") or name.endswith((".no_grad", ".inference_mode")):
            pass
        if name in ("exec", "eval", "builtins.exec") and node.args:
            u.execs.append((node.lineno, _safe_unparse(node.args[0])))
            u.exec_nodes.append(node)

    def _subscript(self, node) -> None:
        # os.environ["X"] reads (no default)
        if _dotted(node.value, self.u.aliases) in ("os.environ", "environ"):
            sl = node.slice
            if isinstance(sl, ast.Constant) and isinstance(sl.value, str):
                self.u.env.append(EnvRead(sl.value, None, False, node.lineno, self._fname()))

    def _const(self, node) -> None:
        v = node.value
        if type(v) is str and len(v) < 300 and _PATHLIKE.search(v):
            self.u.strings.append((getattr(node, "lineno", 0), v))

    def _with(self, node) -> None:
        for item in node.items:
            ctx = item.context_expr
            if type(ctx) is ast.Call:
                f = ctx.func
                n = f.attr if type(f) is ast.Attribute else (f.id if type(f) is ast.Name else "")
                if n in ("no_grad", "inference_mode") and _evaluates(node):
                    self.u.score_lines.append(node.lineno)

    def _augassign(self, node) -> None:
        t = node.target
        tname = t.id if type(t) is ast.Name else (t.attr if type(t) is ast.Attribute else
                                                  (t.value.id if type(t) is ast.Subscript and type(t.value) is ast.Name
                                                   else ""))
        if tname and _SUMNAME.search(tname):
            self.u.score_lines.append(node.lineno)

    def _loop(self, node) -> None:
        self.u.loops.append(node)

    def _exit(self, node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            done = self.func_stack.pop()
            if self.func_stack:  # nested defs contribute to their parent's summary
                self.func_stack[-1].idents |= done.idents
        elif isinstance(node, (ast.Try, getattr(ast, "TryStar", ast.Try))):
            self.try_depth -= 1


# A no_grad block scores when it runs the model or a loss; one that only updates an EMA or orthogonalises
# gradients (no_grad around optimizer arithmetic) is not scoring.
_FORWARD = re.compile(r"forward|logits|model|cross_entropy|nll|loss|eval|score|log_softmax|bpb|accumul", re.I)


def _evaluates(block: ast.AST) -> bool:
    for node in ast.walk(block):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else (f.id if isinstance(f, ast.Name) else "")
            if _FORWARD.search(name):
                return True
    return False


def _safe_unparse(node: ast.AST, limit: int = 200) -> str:
    try:
        s = ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "<expr>"
    return s if len(s) <= limit else s[: limit - 1] + "…"


# --- static payload decoding (a tiny evaluator over pure decoding functions) ---

_DECODERS = {
    "b85decode": base64.b85decode, "b64decode": base64.b64decode, "a85decode": base64.a85decode,
    "b32decode": base64.b32decode, "b16decode": base64.b16decode, "decodebytes": base64.decodebytes,
    "urlsafe_b64decode": base64.urlsafe_b64decode, "unhexlify": binascii.unhexlify,
    "a2b_base64": binascii.a2b_base64,
}


def _bounded(fn):
    def run(data: bytes) -> bytes:
        out = fn(data)
        if len(out) > MAX_DECODED_BYTES:
            raise ValueError("decoded payload too large")
        return out
    return run


def _lzma(data: bytes) -> bytes:
    d = lzma.LZMADecompressor()
    out = d.decompress(data, max_length=MAX_DECODED_BYTES + 1)
    if len(out) > MAX_DECODED_BYTES:
        raise ValueError("decoded payload too large")
    return out


def _zlib(data: bytes) -> bytes:
    d = zlib.decompressobj(47)  # zlib or gzip header, auto-detected
    out = d.decompress(data, MAX_DECODED_BYTES + 1)
    if len(out) > MAX_DECODED_BYTES:
        raise ValueError("decoded payload too large")
    return out


def _brotli(data: bytes) -> bytes:
    import brotli

    return _bounded(brotli.decompress)(data)


_DECOMPRESSORS = {"lzma": _lzma, "zlib": _zlib, "gzip": _bounded(gzip.decompress), "bz2": _bounded(bz2.decompress),
                  "brotli": _brotli}


class _NotStatic(Exception):
    pass


def _eval_payload(node: ast.AST, u: CodeUnit, consts: dict[str, ast.AST], chain: list[str], depth: int = 0) -> Any:
    if depth > 12:
        raise _NotStatic("expression too deep")
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return node.value
    if isinstance(node, ast.Name) and node.id in consts:
        return _eval_payload(consts[node.id], u, consts, chain, depth + 1)
    if isinstance(node, ast.Call):
        fname = _dotted(node.func, u.aliases) or ""
        last = fname.rsplit(".", 1)[-1]
        if last in ("compile",) and node.args:
            return _eval_payload(node.args[0], u, consts, chain, depth + 1)
        if isinstance(node.func, ast.Attribute) and node.func.attr in ("decode", "encode") and not node.args[1:]:
            inner = _eval_payload(node.func.value, u, consts, chain, depth + 1)
            if node.func.attr == "decode":
                return inner.decode("utf-8") if isinstance(inner, bytes) else inner
            return inner.encode("utf-8") if isinstance(inner, str) else inner
        if not node.args:
            raise _NotStatic(f"call {fname} without arguments")
        arg = _eval_payload(node.args[0], u, consts, chain, depth + 1)
        data = arg.encode("latin-1") if isinstance(arg, str) else arg
        if last in _DECODERS:
            chain.append(last)
            return _DECODERS[last](data)
        if last == "decompress":
            mod = fname.rsplit(".", 1)[0] if "." in fname else ""
            mod = mod.split(".")[-1]
            codecs = [mod] if mod in _DECOMPRESSORS else list(_DECOMPRESSORS)
            for codec in codecs:
                try:
                    out = _DECOMPRESSORS[codec](data)
                except ImportError:  # an optional third-party codec (brotli, zstandard) not installed here
                    continue
                except Exception:  # noqa: BLE001 - try the next codec
                    continue
                chain.append(f"{codec}.decompress")
                return out
            raise _NotStatic(f"{fname}: no known codec decodes the payload")
        raise _NotStatic(f"{fname} is not a known pure decoder")
    raise _NotStatic(f"{type(node).__name__} is not a literal payload")


def _module_consts(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            out[node.targets[0].id] = node.value
    return out


def _decode_execs(u: CodeUnit, depth: int) -> None:
    assert u.tree is not None
    consts = _module_consts(u.tree)
    for node in u.exec_nodes:
        chain: list[str] = []
        try:
            value = _eval_payload(node.args[0], u, consts, chain)
        except _NotStatic as exc:
            if any(k in _safe_unparse(node.args[0]) for k in ("decompress", "decode")):
                u.decode_failures.append((node.lineno, str(exc)))
            continue
        except Exception as exc:  # noqa: BLE001 - corrupt payloads are a finding, not a crash
            u.decode_failures.append((node.lineno, f"{type(exc).__name__}: {exc}"))
            continue
        if not chain:
            continue  # exec of a plain literal string: analysed below as well
        text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        child = analyse(text, f"{u.path}#payload@{node.lineno}", origin="decoded", depth=depth + 1)
        payload_chars = len(_safe_unparse(node.args[0], limit=10**9))
        u.decoded.append(Decoded(node.lineno, tuple(chain), payload_chars, child))


# --- newer grammar -------------------------------------------------------------

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


def _installed_newer_python() -> str | None:
    """A Python >= 3.12 that pyenv or uv installed but did not put on PATH."""
    home = Path.home()
    pattern = "python3.1[2-9]"
    for root in (Path(os.environ.get("PYENV_ROOT", home / ".pyenv")) / "versions", home / ".local/share/uv/python"):
        found = sorted(root.glob(f"*/bin/{pattern}")) if root.is_dir() else []
        if found:
            return str(found[-1])
    return None


def _parse_with_newer_python(text: str) -> tuple[ast.Module | None, str | None]:
    """Parse with a newer interpreter (``PGOLF_NEWER_PYTHON``, else on PATH, else pyenv/uv's) and bring its tree here.

    The child only parses (``ast.parse``; the submission never runs) and pickles the tree; node classes
    this Python lacks make the unpickling fail, and then there is no tree.
    """
    candidates = [os.environ.get("PGOLF_NEWER_PYTHON"), *map(shutil.which, NEWER_PYTHONS), _installed_newer_python()]
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


# --- regex fallback --------------------------------------------------------

_RE_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import\b|import[ \t]+([\w., \t]+))", re.M)
_RE_ENV = re.compile(r"""(?:environ\.get|getenv)\(\s*["'](\w+)["']\s*(?:,\s*([^)\n]{0,40}))?\)""")
_RE_CALL = re.compile(r"\b((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*)\s*\(")


def _regex_facts(u: CodeUnit) -> None:
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


# ---------------------------------------------------------------------------


def analyse(text: str | bytes, path: str = "<memory>", *, origin: str = "file", depth: int = 0) -> CodeUnit:
    """Parse ``text`` and collect facts; never raises on bad input."""
    if isinstance(text, bytes):
        size = len(text)
        text = text.decode("utf-8", errors="replace")
    else:
        size = len(text.encode("utf-8", errors="replace"))
    u = CodeUnit(path=path, text=text, size_bytes=size, origin=origin)
    if size > MAX_AST_BYTES:
        u.syntax_error = f"file of {size:,} bytes is beyond AST analysis (limit {MAX_AST_BYTES:,}); regex facts only"
        _regex_facts(u)
        return u
    try:
        u.tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        u.syntax_error, u.syntax_error_line = f"SyntaxError: {exc.msg}", exc.lineno
        u.newer_grammar = newer_grammar_hint(text, exc)
        if u.newer_grammar:
            u.tree, u.parsed_with = _parse_with_newer_python(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        u.syntax_error = f"{type(exc).__name__}: {exc}"[:200]
    if u.tree is None:
        _regex_facts(u)
        return u
    try:
        _Collector(u).run(u.tree)
    except RecursionError as exc:  # pathological nesting inside helpers (unparse/literal_eval)
        u.syntax_error = f"RecursionError during analysis: {exc}"[:200]
    u.step_lines.sort()
    u.backward_lines.sort()
    u.score_lines.sort()
    if depth < MAX_DEPTH and u.exec_nodes:
        _decode_execs(u, depth)
    return u
