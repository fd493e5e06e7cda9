"""Document sources for the embedded datasets: text every Python installation ships.

Two sources, both read from the running interpreter's own files so that the
harness needs no download:

* ``pydoc_documents()``: the standard library's pydoc topics
  (``pydoc_data.topics.topics``: 79 documents, about 466 KB on 3.11). Small
  enough to train a tokenizer and build shards in seconds.
* ``stdlib_documents()``: the standard library's ``*.py`` sources (sorted by
  path), cut into documents of a few KB at top-level statement boundaries.
  Tens of MB: enough for smoke runs of real submissions.

Both texts change between Python minor versions (and patch releases may touch
them), so every figure or golden hash derived from them is keyed by the
interpreter version (``source_fingerprint`` names it).

Documents are cleaned the way the organisers' exporter cleans text before it
reaches SentencePiece: NUL becomes a space and surrounding whitespace is
stripped (a tokenizer with ``remove_extra_whitespaces`` drops leading
whitespace, which would otherwise be bytes no token accounts for).
"""

from __future__ import annotations

import hashlib
import platform
import sysconfig
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Document:
    name: str  # a stable identifier (pydoc topic key, or "path:chunk")
    text: str


def clean(text: str) -> str:
    """The exporter's cleaning: NUL -> space, then strip."""
    return text.replace("\x00", " ").strip()


def pydoc_documents() -> list[Document]:
    """The pydoc topics as documents, sorted by topic key (dict order is not a contract)."""
    from pydoc_data.topics import topics

    docs = [Document(k, clean(v)) for k, v in sorted(topics.items())]
    return [d for d in docs if d.text]


def stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


# Test suites and IDLE are large, repetitive and version-volatile; site-packages
# is not the standard library at all.
_SKIP_PARTS = {"site-packages", "dist-packages", "__pycache__"}


def stdlib_files(root: Path | None = None) -> list[Path]:
    root = root or stdlib_root()
    out = []
    for p in root.rglob("*.py"):
        rel = p.relative_to(root).parts
        if _SKIP_PARTS.intersection(rel):
            continue
        out.append(p)
    return sorted(out, key=lambda p: p.relative_to(root).as_posix())


def split_source(text: str, target_chars: int = 1200) -> list[str]:
    """Cut one source file into documents of roughly ``target_chars`` or more.

    Cuts fall only after a blank line and before a line indented by at most
    four spaces (a top-level statement or a method of a class), so documents
    read like real code snippets rather than arbitrary byte windows.
    """
    lines = text.splitlines(keepends=True)
    docs: list[str] = []
    cur: list[str] = []
    size = 0
    prev_blank = False
    for line in lines:
        indent = len(line) - len(line.lstrip(" "))
        boundary = bool(line.strip()) and indent <= 4 and not line[indent:indent + 1] in (")", "]", "}")
        if cur and size >= target_chars and prev_blank and boundary:
            docs.append("".join(cur))
            cur, size = [], 0
        cur.append(line)
        size += len(line)
        prev_blank = not line.strip()
    if cur:
        docs.append("".join(cur))
    return docs


def stdlib_documents(root: Path | None = None, target_chars: int = 1200) -> Iterator[Document]:
    """Standard-library sources as documents, in sorted path order (lazily: tens of MB)."""
    root = root or stdlib_root()
    for p in stdlib_files(root):
        try:
            text = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # a handful of test files are deliberately not UTF-8
        rel = p.relative_to(root).as_posix()
        for i, chunk in enumerate(split_source(text, target_chars)):
            c = clean(chunk)
            if c:
                yield Document(f"{rel}:{i}", c)


def interpreter_key() -> str:
    """'3.11' style key: the texts (hence every derived hash) differ by minor version."""
    return ".".join(platform.python_version_tuple()[:2])


def fingerprint(docs: Iterable[Document]) -> str:
    """sha256 over the documents' names and texts: changes whenever the source text does."""
    h = hashlib.sha256()
    for d in docs:
        h.update(d.name.encode("utf-8") + b"\x00")
        h.update(d.text.encode("utf-8") + b"\x00")
    return h.hexdigest()
