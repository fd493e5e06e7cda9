"""The one pass over a syntax tree that fills a :class:`~verifier.static.facts.CodeUnit` with facts."""

from __future__ import annotations

import ast
import re
from typing import Any

from verifier.static.facts import Call, CodeUnit, EnvRead, FunctionInfo, Import


def dotted_name(node: ast.AST, aliases: dict[str, str]) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(aliases.get(node.id, node.id))
    elif isinstance(node, ast.Call):
        inner = dotted_name(node.func, aliases)
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


class Collector:
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
        name = dotted_name(f, u.aliases) or "?"
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
            u.execs.append((node.lineno, safe_unparse(node.args[0])))
            u.exec_nodes.append(node)

    def _subscript(self, node) -> None:
        # os.environ["X"] reads (no default)
        if dotted_name(node.value, self.u.aliases) in ("os.environ", "environ"):
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


def safe_unparse(node: ast.AST, limit: int = 200) -> str:
    try:
        s = ast.unparse(node)
    except Exception:  # noqa: BLE001
        return "<expr>"
    return s if len(s) <= limit else s[: limit - 1] + "…"
