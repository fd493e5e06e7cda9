"""Which files are training logs: one definition for the verifier and `harness compare`.

A records folder holds logs beside READMEs, requirements and notes; a file is a
training log when its suffix is one a log has and its first 256 KiB carry a
line only a trainer prints.
"""

from __future__ import annotations

from pathlib import Path

LOG_SUFFIXES = (".log", ".txt")
# Lines that mark a file as a training log (any generation) rather than a README or requirements.
LOG_MARKERS = ("val_bpb", "val_loss", "Hyperparameters", "train_loss")
MAX_LOG_BYTES = 64 * 1024 * 1024
_HEAD_BYTES = 256 * 1024


def looks_like_log(p: Path) -> bool:
    """Whether the file's head shows a trainer's lines (and it is small enough to be one log)."""
    try:
        with p.open("rb") as fh:
            head = fh.read(_HEAD_BYTES)
        if p.stat().st_size > MAX_LOG_BYTES:
            return False
    except OSError:
        return False
    text = head.decode("utf-8", errors="replace")
    return any(m in text for m in LOG_MARKERS)


def is_training_log(p: Path) -> bool:
    """A log by its name and its content (requirements.txt is never one)."""
    return p.suffix.lower() in LOG_SUFFIXES and p.name.lower() != "requirements.txt" and looks_like_log(p)
