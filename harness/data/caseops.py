"""A lossless case transform of our own, behaving like ``lossless_caps_caseops_v1``.

Written from the behaviour description (PGOLF_FACTS.md §1.6), not from the
upstream code. Case is moved out of the letters into four private-use control
characters, so a tokenizer sees one spelling per word:

* ``TITLE``   U+E001: the next letter is upper case (``"The"`` -> TITLE ``the``);
* ``ALLCAPS`` U+E002: the whole following letter run is upper case
  (``"NASA"`` -> ALLCAPS ``nasa``; only for runs of length >= 2);
* ``CAPNEXT`` U+E003: the next letter inside a mixed-case run is upper case
  (``"McDonald"`` -> TITLE ``mc`` CAPNEXT ``donald``; ``"iPhone"`` ->
  ``i`` CAPNEXT ``phone``);
* ``ESC``     U+E004: the next character is literal (an input that already
  contains one of these four characters keeps it, escaped).

The unit is a maximal run of ASCII letters ``[A-Za-z]+``; everything else
(digits, punctuation, non-ASCII letters) passes through untouched. A single
upper-case letter (``"I"``) is TITLE + lower case.

For the validation byte sidecar, every character of the transformed text has
an *original* UTF-8 byte weight: control markers 0, ESC 0 and the character it
escapes its own UTF-8 length, ASCII letters 1 (case does not change a letter's
byte count), everything else its UTF-8 length. Summed over a document this is
exactly the original text's UTF-8 length.
"""

from __future__ import annotations

import re

import numpy as np

TITLE = "\ue001"
ALLCAPS = "\ue002"
CAPNEXT = "\ue003"
ESC = "\ue004"
CONTROLS = (TITLE, ALLCAPS, CAPNEXT, ESC)
_CONTROL_SET = frozenset(CONTROLS)
_MARKERS = frozenset((TITLE, ALLCAPS, CAPNEXT))

_RUN = re.compile(r"[A-Za-z]+")
# Split into letter runs, literal control characters and everything else.
_TOKEN = re.compile(r"[A-Za-z]+|[\ue001-\ue004]|[^A-Za-z\ue001-\ue004]+")


class CaseOpsError(ValueError):
    """Transformed text that no ``encode`` output can produce (a dangling or misplaced marker)."""


def _encode_run(w: str) -> str:
    if w.islower():
        return w
    if len(w) >= 2 and w.isupper():
        return ALLCAPS + w.lower()
    out = []
    for i, c in enumerate(w):
        if c.isupper():
            out.append(TITLE if i == 0 else CAPNEXT)
            out.append(c.lower())
        else:
            out.append(c)
    return "".join(out)


def encode(text: str) -> str:
    """Move case into control characters; ``decode(encode(x)) == x`` for every string."""
    parts = []
    for m in _TOKEN.finditer(text):
        s = m.group()
        if s in _CONTROL_SET:
            parts.append(ESC + s)
        elif _RUN.fullmatch(s):
            parts.append(_encode_run(s))
        else:
            parts.append(s)
    return "".join(parts)


def _is_ascii_letter(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z")


def decode(text: str, *, strict: bool = True) -> str:
    """Invert ``encode``. With ``strict`` a marker that ``encode`` cannot have produced raises
    CaseOpsError; without it such markers are dropped (useful for model-generated text)."""
    out: list[str] = []
    allcaps = False  # inside a run opened by ALLCAPS
    upper_next = False  # TITLE/CAPNEXT seen, the next letter is upper case
    in_run = False  # the previous output character was an ASCII letter of the current run
    i, n = 0, len(text)

    def bad(msg: str) -> None:
        if strict:
            raise CaseOpsError(f"{msg} at index {i}")

    while i < n:
        c = text[i]
        if c == ESC:
            if upper_next or allcaps and not in_run:
                bad("marker not followed by a letter")
            if i + 1 >= n:
                bad("ESC at end of text")
                i += 1
                continue
            out.append(text[i + 1])
            allcaps = upper_next = in_run = False
            i += 2
            continue
        if c in _MARKERS:
            if upper_next or (allcaps and not in_run):
                bad("two markers in a row")
            if c == TITLE:
                if in_run:
                    bad("TITLE inside a letter run")
                upper_next, allcaps, in_run = True, False, False
            elif c == ALLCAPS:
                if in_run:
                    bad("ALLCAPS inside a letter run")
                allcaps, upper_next, in_run = True, False, False
            else:  # CAPNEXT
                if not in_run or allcaps:
                    bad("CAPNEXT outside a mixed-case run")
                upper_next = True
            i += 1
            continue
        if _is_ascii_letter(c):
            if c.isupper():
                bad("upper-case letter in transformed text")
            out.append(c.upper() if (allcaps or upper_next) else c)
            upper_next = False
            in_run = True
            i += 1
            continue
        if upper_next or (allcaps and not in_run):
            bad("marker not followed by a letter")
        out.append(c)
        allcaps = upper_next = in_run = False
        i += 1
    if upper_next or (allcaps and not in_run):
        i = n
        bad("marker at end of text")
    return "".join(out)


def char_weights(transformed: str) -> list[int]:
    """Per character of transformed text: how many ORIGINAL UTF-8 bytes it stands for."""
    w: list[int] = []
    escaped = False
    for c in transformed:
        if escaped:
            w.append(len(c.encode("utf-8")))
            escaped = False
        elif c == ESC:
            w.append(0)
            escaped = True
        elif c in _MARKERS:
            w.append(0)
        elif c < "\x80":
            w.append(1)
        else:
            w.append(len(c.encode("utf-8")))
    return w


def byte_weights(text: str, *, transformed: bool) -> np.ndarray:
    """Per UTF-8 byte of ``text``: the original bytes it stands for (a character's weight sits
    on its first byte). For plain text every byte weighs 1; for CaseOps text see ``char_weights``."""
    raw = text.encode("utf-8")
    if not transformed:
        return np.ones(len(raw), dtype=np.int64)
    out = np.zeros(len(raw), dtype=np.int64)
    pos = 0
    for c, wt in zip(text, char_weights(text)):
        out[pos] = wt
        pos += len(c.encode("utf-8"))
    return out


def token_byte_counts(piece_ends: list[int] | np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Original-byte count of each token from its piece's end offset (UTF-8 bytes into the
    encoded text, as SentencePiece reports ``surface`` spans).

    Token i covers ``[end[i-1], end[i])`` (the first from 0, the last to the end of the
    text), so bytes the tokenizer's normaliser dropped between pieces are charged to the next
    piece and the counts always sum to the weights' total. Byte-fallback pieces of one
    character have empty spans except the last, which carries the character.
    """
    ends = np.asarray(piece_ends, dtype=np.int64)
    if ends.size == 0:
        return np.zeros(0, dtype=np.int64)
    cum = np.concatenate(([0], np.cumsum(weights)))
    ends = ends.copy()
    ends[-1] = len(weights)
    starts = np.concatenate(([0], ends[:-1]))
    return cum[ends] - cum[starts]


def check_tokenizer(sp) -> list[str]:
    """Problems that make a SentencePiece model unfit for CaseOps text (empty list: fit).
    Each control must be a single piece of its own, not unknown and not byte fallback."""
    problems = []
    for name, c in zip(("TITLE", "ALLCAPS", "CAPNEXT", "ESC"), CONTROLS):
        pid = sp.piece_to_id(c)
        if pid == sp.unk_id() or sp.id_to_piece(pid) != c or sp.is_byte(pid) or sp.is_control(pid):
            problems.append(f"the tokenizer has no piece for {name} (U+{ord(c):04X})")
    return problems
