"""The progress a data operation reports: a factory ``(label, total) -> bar`` the caller passes (the commands
pass harness.ui's bars), or nothing, in which case a bar that shows nothing stands in so the library code
has one path."""

from __future__ import annotations

from typing import Any, Callable

ProgressFactory = Callable[[str, "int | None"], Any]


class NullBar:
    """A bar that draws nothing; ``live`` is False, so callers that log per item still do."""

    live = False

    def advance(self, n: int) -> None:
        pass

    def describe(self, label: str) -> None:
        pass

    def __enter__(self) -> "NullBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def open_bar(progress: ProgressFactory | None, label: str, total: int | None) -> Any:
    """The caller's bar for this work, or a NullBar when it asked for none."""
    return progress(label, total) if progress else NullBar()
