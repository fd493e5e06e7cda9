"""Markdown table cells: one escaper for every report (verify, compare, leaderboard)."""

from __future__ import annotations

from typing import Any


def cell(value: Any) -> str:
    """``value`` as one table cell: None is empty, a pipe is escaped, a newline becomes a space."""
    return str("" if value is None else value).replace("|", "\\|").replace("\n", " ")


def code_cell(text: str, limit: int = 120) -> str:
    """``text`` for inside backticks in a cell: backticks become quotes, cut at ``limit`` characters."""
    return cell(text.replace("`", "'"))[:limit]
