"""Validation bytes as the baseline trainer's look-up tables count them (PGOLF_FACTS §2.1).

Scripts for plain-tokenizer variants count each target token's bytes from SentencePiece
tables; the embedded builder reports that figure and `harness measure` uses it when a
variant has no byte sidecar.

submissions/reference/train_gpt.py builds the same tables on its own: a submission is self-contained
(its bytes are counted and it runs in the sandbox without the harness), so it cannot import this.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def lut_bytes(sp: Any, tokens: np.ndarray) -> int:
    """Validation bytes of ``tokens`` as the look-up tables count them:
    piece bytes without the leading '▁', +1 for a leading space unless the previous token is a
    boundary (control/unknown/unused); byte-fallback pieces 1. Differs from the sidecar sum where
    the tokenizer's normaliser collapsed whitespace."""
    v = sp.get_piece_size()
    base = np.zeros(v, dtype=np.int64)
    space = np.zeros(v, dtype=bool)
    boundary = np.zeros(v, dtype=bool)
    for i in range(v):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            boundary[i] = True
            continue
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\u2581"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    t = np.asarray(tokens, dtype=np.int64)
    prev, tgt = t[:-1], t[1:]
    return int((base[tgt] + (space[tgt] & ~boundary[prev])).sum())
