"""Counted-code recipes: how records turn ``train_gpt.py`` into "code bytes".

Since April, merged records do not count the bytes of the file they ship.
They log the length of a *virtual* self-extracting wrapper: the source is
minified with python-minifier (each record with its own flags), compressed
(lzma or brotli), base85-encoded and pasted into a two-line ``exec`` stub.
The number therefore depends on the minifier version, the compressor and
the interpreter (python-minifier's output follows the running Python's
``ast``), so each recipe is data here and every measurement records the
interpreter and the minifier version that produced it.

A wrapper decodes to the *minified* source, never to the shipped file, so
identity between a log and a file is proven at the minified level: we
re-measure the log's embedded source with the recipe and compare with the
logged size (see :func:`check_embedded_identity`).

Nothing here executes submission code: python-minifier only parses it.
"""

from __future__ import annotations

import base64
import lzma
import platform
import re
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

# python-minifier is pinned in pyproject.toml; its version changes counts.
MINIFIER_PIN = "3.4.0"


@dataclass(frozen=True)
class Recipe:
    """One way a record computes its counted code size (pure data)."""

    id: str
    title: str
    source: str  # where the recipe was observed (record / PR and the function's lines)
    minify: dict[str, Any] | None  # python_minifier.minify keyword arguments, None = no minification
    compressor: str | None  # "lzma" | "brotli" | None
    compressor_options: dict[str, Any] = field(default_factory=dict)
    # Wrapper template; ``{payload}`` is replaced by the base85 text (ASCII).
    # None = the counted bytes are the (minified/compressed) bytes themselves.
    wrapper: str | None = None
    # What reproduced a record's logged figure exactly (facts measured while building this table).
    observations: tuple[str, ...] = ()


# Flag sets as the records pass them to the ``pyminify`` CLI, expressed as
# the library's keyword arguments (the CLI is a thin layer over ``minify``).
_VARLEN_FLAGS = {"rename_locals": False, "hoist_literals": False, "remove_literal_statements": True}
_CASEOPS_FLAGS = {**_VARLEN_FLAGS, "remove_asserts": True, "prefer_single_line": True}

RECIPES: dict[str, Recipe] = {
    r.id: r
    for r in (
        Recipe(
            id="raw",
            title="file bytes as shipped (README rule: all counted code lives in train_gpt.py)",
            source="root train_gpt.py and records up to early April: len(source.encode())",
            minify=None,
            compressor=None,
        ),
        Recipe(
            id="pyminify-lzma-b85",
            title="pyminify --no-rename-locals --no-hoist-literals --remove-literal-statements, lzma (preset 6, xz), base85, exec stub",
            source="records/track_10min_16mb/2026-04-10_VarLenAttn (PR #1530), _compressed_code_size",
            minify=_VARLEN_FLAGS,
            compressor="lzma",
            compressor_options={},
            wrapper='import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("{payload}")))\n',
            observations=(
                "VarLenAttn train2 (logged Python 3.10.12): 26,845 B reproduced exactly with python-minifier 3.4.0 "
                "on CPython 3.11.7; CPython 3.12.1 gives 26,850 (same minified text, different liblzma output)",
            ),
        ),
        # Each recipe is data (one counting convention with its source); entries look alike by design.
        Recipe(
            id="lzma9-b85",
            title="no minification, lzma preset 9 (xz), base85, exec stub with a bytes literal",
            source="PR #1212 records/track_10min_16mb/2026-03-31_KitchenSinkV3 train_gpt.py _minify_code",
            minify=None,
            compressor="lzma",
            compressor_options={"preset": 9},
            wrapper="import lzma as L,base64 as B\nexec(L.decompress(B.b85decode(b'{payload}')))\n",
        ),
        Recipe(
            id="pyminify-brotli-b85",
            title="pyminify (VarLen flags + --remove-asserts --prefer-single-line), brotli q11, base85, exec stub",
            source="PR #1987 / PR #2014 train_gpt.py _compressed_code_size (CaseOps generation)",
            minify=_CASEOPS_FLAGS,
            compressor="brotli",
            compressor_options={"quality": 11},
            wrapper='import brotli as B,base64 as b\nexec(B.decompress(b.b85decode("{payload}")))\n',
            observations=(
                "PR #2014 seeds (logged Python 3.12.3): 38,134 B reproduced exactly with python-minifier 3.2.0 on "
                "CPython 3.12.1 (brotli 1.1.0 and 1.2.0 agree); python-minifier 3.4.0 gives 38,100 (3.12) / 38,072 (3.11)",
                "PR #1987 seed 42 (148,534-byte source): 32,185 B reproduced exactly with python-minifier 3.2.0 on "
                "CPython 3.12.1; seeds 1334/999 (158,895-byte source) give 32,164 vs logged 32,177",
            ),
        ),
        Recipe(
            id="brotli11-b85",
            title="no minification, brotli q11, base85, exec stub",
            source="DESIGN.md 'Artifact accounting' (brotli recipe without the minifier)",
            minify=None,
            compressor="brotli",
            compressor_options={"quality": 11},
            wrapper='import brotli as B,base64 as b\nexec(B.decompress(b.b85decode("{payload}")))\n',
        ),
    )
}


class CodesizeError(ValueError):
    """A recipe could not be applied (unknown id, minifier failure)."""


@dataclass
class CodeSize:
    recipe: str
    raw_bytes: int
    minified_bytes: int | None
    compressed_bytes: int | None
    counted_bytes: int  # what the recipe says the submission counts
    interpreter: str
    minifier_version: str | None
    minify_fell_back: bool = False  # minification failed/unhelpful, raw source used (as the CLI does)
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def interpreter_id() -> str:
    return f"{platform.python_implementation()} {platform.python_version()}"


def minifier_version() -> str | None:
    try:
        return metadata.version("python-minifier")
    except metadata.PackageNotFoundError:
        return None


def get_recipe(recipe_id: str) -> Recipe:
    try:
        return RECIPES[recipe_id]
    except KeyError:
        raise CodesizeError(f"unknown recipe {recipe_id!r}; known: {', '.join(RECIPES)}") from None


def _minify(source: bytes, flags: dict[str, Any]) -> tuple[bytes, bool]:
    """Minify like the ``pyminify`` CLI: fall back to the input when the output is not smaller
    or the source does not parse (records' scripts fall back to raw on any CLI failure)."""
    import python_minifier

    try:
        text = source.decode("utf-8")
        out = python_minifier.minify(text, filename="train_gpt.py", **flags).encode("utf-8")
    except Exception:  # noqa: BLE001 - a syntax error in the measured code means "raw", as upstream
        return source, True
    if len(out) > len(source):
        return source, True
    return out, False


def _compress(data: bytes, compressor: str, options: dict[str, Any]) -> bytes:
    if compressor == "lzma":
        return lzma.compress(data, **options)
    if compressor == "brotli":
        import brotli

        return brotli.compress(data, **options)
    raise CodesizeError(f"unknown compressor {compressor!r}")


def measure(source: bytes | str, recipe: str | Recipe = "raw") -> CodeSize:
    """Apply a recipe to source bytes and return every intermediate size."""
    r = get_recipe(recipe) if isinstance(recipe, str) else recipe
    raw = source.encode("utf-8") if isinstance(source, str) else bytes(source)
    minified: bytes | None = None
    fell_back = False
    data = raw
    if r.minify is not None:
        minified, fell_back = _minify(raw, r.minify)
        data = minified
    compressed: bytes | None = None
    if r.compressor:
        compressed = _compress(data, r.compressor, r.compressor_options)
        data = compressed
    if r.wrapper is not None:
        payload = base64.b85encode(data).decode("ascii")
        counted = len(r.wrapper.replace("{payload}", payload).encode("utf-8"))
    else:
        counted = len(data)
    return CodeSize(
        recipe=r.id,
        raw_bytes=len(raw),
        minified_bytes=len(minified) if minified is not None else None,
        compressed_bytes=len(compressed) if compressed is not None else None,
        counted_bytes=counted,
        interpreter=interpreter_id(),
        minifier_version=minifier_version() if r.minify is not None else None,
        minify_fell_back=fell_back,
        note="" if not fell_back else "minification failed or did not shrink the source; raw source used",
    )


def measure_file(path: str | Path, recipe: str = "raw") -> CodeSize:
    return measure(Path(path).read_bytes(), recipe)


# ---------------------------------------------------------------------------
# Embedded source in logs
# ---------------------------------------------------------------------------

_RULE = re.compile(r"^={20,}\s*$")
_CODE_SIZE_RE = re.compile(r"^Code size(?: \((?P<kind>uncompressed|compressed)\))?:\s*(?P<n>\d+)\s*bytes")


@dataclass
class EmbeddedSource:
    text: str
    first_line: int  # 1-based line in the log of the first source line
    last_line: int


def extract_embedded_source(log_text: str) -> EmbeddedSource | None:
    """The ``Source code:`` dump some scripts write at the top of their log.

    Format (observed in every generation that dumps): a line ``Source code:``
    framed by two rules of ``=`` characters, the file's text, then another
    rule. The script writes the file text followed by a newline, so the
    dumped source ends at the line before the closing rule and that last
    line is the file's final (empty) line.
    """
    lines = log_text.split("\n")
    for i, line in enumerate(lines):
        if line.strip() == "Source code:" and i + 1 < len(lines) and _RULE.match(lines[i + 1]):
            start = i + 2
            for j in range(start, len(lines)):
                if _RULE.match(lines[j]):
                    text = "\n".join(lines[start:j])
                    return EmbeddedSource(text=text, first_line=start + 1, last_line=j)
            return None
    return None


@dataclass
class LoggedCodeSize:
    uncompressed: int | None
    compressed: int | None
    plain: int | None  # "Code size: N bytes" (older generations: file bytes or a wrapper)
    line_no: int | None


def logged_code_size(log_text: str) -> LoggedCodeSize:
    """The first ``Code size`` figures printed after the embedded source (run output)."""
    src = extract_embedded_source(log_text)
    skip_until = src.last_line if src else 0
    out = LoggedCodeSize(None, None, None, None)
    for n, line in enumerate(log_text.split("\n"), start=1):
        if n <= skip_until:
            continue
        m = _CODE_SIZE_RE.match(line.strip())
        if not m:
            continue
        kind, value = m.group("kind"), int(m.group("n"))
        if kind == "uncompressed" and out.uncompressed is None:
            out.uncompressed = value
        elif kind == "compressed" and out.compressed is None:
            out.compressed = value
        elif kind is None and out.plain is None:
            out.plain = value
        out.line_no = out.line_no or n
    return out


@dataclass
class IdentityResult:
    """Does the log's embedded source explain the sizes the same log printed?"""

    status: str  # "match" | "differs" | "undetermined"
    embedded_bytes: int | None
    logged_uncompressed: int | None
    logged_compressed: int | None
    recipe: str | None
    recomputed_compressed: int | None
    detail: str
    embedded_line: int | None = None
    logged_line: int | None = None
    interpreter: str = field(default_factory=interpreter_id)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_embedded_identity(log_text: str, recipe: str | None = None) -> IdentityResult:
    """Compare the embedded source with the code sizes the run printed.

    The raw size is exact (bytes of the dumped text); the compressed size is
    re-measured with ``recipe`` when given, and a difference there means the
    recipe (or the interpreter/minifier version) does not reproduce the log.
    A raw-size mismatch means the log embeds a file other than the one measured.
    """
    src = extract_embedded_source(log_text)
    logged = logged_code_size(log_text)
    if src is None:
        return IdentityResult("undetermined", None, logged.uncompressed, logged.compressed, recipe, None,
                              "the log has no 'Source code:' section", logged_line=logged.line_no)
    emb = len(src.text.encode("utf-8"))
    raw_logged = logged.uncompressed if logged.uncompressed is not None else None
    if raw_logged is None:
        return IdentityResult("undetermined", emb, None, logged.compressed, recipe, None,
                              "the log prints no 'Code size (uncompressed)' figure to compare with",
                              embedded_line=src.first_line, logged_line=logged.line_no)
    if raw_logged != emb:
        return IdentityResult(
            "differs", emb, raw_logged, logged.compressed, recipe, None,
            f"embedded source differs from what was measured: the dump is {emb:,} bytes, "
            f"the run measured {raw_logged:,} bytes",
            embedded_line=src.first_line, logged_line=logged.line_no,
        )
    recomputed = None
    if recipe is not None and logged.compressed is not None:
        recomputed = measure(src.text, recipe).counted_bytes
        if recomputed != logged.compressed:
            return IdentityResult(
                "differs", emb, raw_logged, logged.compressed, recipe, recomputed,
                f"raw size matches ({emb:,} bytes) but recipe {recipe} gives {recomputed:,} bytes, "
                f"the log says {logged.compressed:,} (recipe, minifier version or interpreter differ)",
                embedded_line=src.first_line, logged_line=logged.line_no,
            )
    return IdentityResult("match", emb, raw_logged, logged.compressed, recipe, recomputed,
                          "embedded source is what was measured" + (
                              f"; recipe {recipe} reproduces {recomputed:,} bytes exactly" if recomputed else ""),
                          embedded_line=src.first_line, logged_line=logged.line_no)


def guess_recipe(source_text: str) -> str | None:
    """Which recipe a script uses to compute its own counted size (static text match)."""
    if "_compressed_code_size" in source_text and "pyminify" in source_text:
        if "brotli.compress" in source_text and "--prefer-single-line" in source_text:
            return "pyminify-brotli-b85"
        if "lzma.compress" in source_text:
            return "pyminify-lzma-b85"
    if "_minify_code" in source_text and "preset=9" in source_text:
        return "lzma9-b85"
    return None


__all__ = [
    "RECIPES", "Recipe", "CodeSize", "CodesizeError", "measure", "measure_file", "get_recipe",
    "extract_embedded_source", "logged_code_size", "check_embedded_identity", "IdentityResult",
    "guess_recipe", "interpreter_id", "minifier_version", "MINIFIER_PIN", "EmbeddedSource",
    "LoggedCodeSize",
]
