"""Static facts about Python source, collected in one pass without running it: ``analyse(text) -> CodeUnit``.

The code rules ask questions of these facts (imports, calls with their
literal arguments, environment-variable reads with defaults, per-function
summaries, exec'd payloads). Parsing uses :mod:`ast` (:mod:`.collector`); when a
file does not parse (a syntax error, absurd nesting, NUL bytes) the unit records
why and a regex pass (:mod:`.regex_facts`) fills the facts it can, so one odd
file never stops a report; a grammar newer than this interpreter's is parsed by
a newer Python when one is installed (:mod:`.newer_grammar`).

Self-extracting wrappers (``exec(lzma.decompress(base64.b85decode("...")))``
and its zlib/brotli/base64/compile variants) are decoded statically
(:mod:`.payloads`, never by ``exec``); the decoded text becomes a child unit that
the rules analyse like any file.
"""

from __future__ import annotations

import ast

from verifier.static.collector import Collector
from verifier.static.facts import CodeUnit, Decoded
from verifier.static.newer_grammar import newer_grammar_hint, parse_with_newer_python
from verifier.static.payloads import decode_exec_payloads
from verifier.static.regex_facts import regex_facts

MAX_DEPTH = 3  # wrappers inside wrappers
MAX_AST_BYTES = 16 * 1024 * 1024  # a train_gpt.py is < 1 MB; beyond this only the regex pass runs


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
        regex_facts(u)
        return u
    try:
        u.tree = ast.parse(text, filename=path)
    except SyntaxError as exc:
        u.syntax_error, u.syntax_error_line = f"SyntaxError: {exc.msg}", exc.lineno
        u.newer_grammar = newer_grammar_hint(text, exc)
        if u.newer_grammar:
            u.tree, u.parsed_with = parse_with_newer_python(text)
    except (ValueError, RecursionError, MemoryError) as exc:
        u.syntax_error = f"{type(exc).__name__}: {exc}"[:200]
    if u.tree is None:
        regex_facts(u)
        return u
    try:
        Collector(u).run(u.tree)
    except RecursionError as exc:  # pathological nesting inside helpers (unparse/literal_eval)
        u.syntax_error = f"RecursionError during analysis: {exc}"[:200]
    u.step_lines.sort()
    u.backward_lines.sort()
    u.score_lines.sort()
    if depth < MAX_DEPTH and u.exec_nodes:
        for line, chain, payload_chars, decoded in decode_exec_payloads(u):
            child = analyse(decoded, f"{u.path}#payload@{line}", origin="decoded", depth=depth + 1)
            u.decoded.append(Decoded(line, chain, payload_chars, child))
    return u
