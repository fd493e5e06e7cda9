"""Terminal views the commands show while the library works (the library itself never prints)."""

from __future__ import annotations

from typing import Any


class LiveSeedTable:
    """Live per-seed table of `harness reproduce` (rich, on stderr): phase, step, elapsed, last metric.

    A :data:`harness.reproduce.ProgressView`: built with the seeds and a title, used as a context
    manager, told ``update(seed, phase=..., step=..., ...)`` as the seeds run.
    """

    def __init__(self, seeds: list[int], title: str):
        self.rows = {s: {"phase": "queued", "step": "", "elapsed": 0.0, "metric": "", "status": ""} for s in seeds}
        self.title = title
        self._live: Any = None

    def _table(self):
        from rich.table import Table

        t = Table(title=self.title)
        for col in ("seed", "phase", "step", "elapsed", "last metric", "status"):
            t.add_column(col)
        for s, r in self.rows.items():
            t.add_row(str(s), r["phase"], r["step"], f"{r['elapsed']:.1f}s", r["metric"], r["status"])
        return t

    def __enter__(self) -> "LiveSeedTable":
        from rich.console import Console
        from rich.live import Live

        self._live = Live(self._table(), console=Console(stderr=True), refresh_per_second=4, transient=False)
        self._live.__enter__()
        return self

    def __exit__(self, *exc):
        if self._live is not None:
            self._live.update(self._table())
            self._live.__exit__(*exc)

    def update(self, seed: int, **kw) -> None:
        self.rows[seed].update(kw)
        if self._live is not None:
            self._live.update(self._table())



class BuildStepBar:
    """A transient progress bar (rich, on stderr, only on a terminal) for the steps of a data build.

    Used as a context manager; the object is the build's progress callback: ``bar(done, what)``.
    """

    def __init__(self, total: int):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        console = Console(stderr=True)
        self._progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(),
                                  TimeElapsedColumn(), console=console, disable=not console.is_terminal,
                                  transient=True)
        self._task = self._progress.add_task("", total=total)

    def __enter__(self) -> "BuildStepBar":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)

    def __call__(self, done: int, what: str) -> None:
        self._progress.update(self._task, completed=done, description=what)


class ProgressBar:
    """A transient rich bar on stderr for long library work (hashing, downloads, audits), shown only on a
    terminal. The library takes a factory ``(label, total) -> bar`` and calls ``advance``; it never builds
    a console itself."""

    def __init__(self, label: str, total: int | None, unit: str = "bytes"):
        from rich.console import Console
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        console = Console(stderr=True)
        columns = ([DownloadColumn(), TransferSpeedColumn()] if unit == "bytes"
                   else [TextColumn("{task.completed:,}/{task.total:,} " + unit), TimeRemainingColumn()])
        self._progress = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), *columns,
                                  console=console, disable=not console.is_terminal, transient=True)
        self._task = self._progress.add_task(label, total=total)

    @property
    def live(self) -> bool:
        """Whether a bar is drawn (a terminal); callers that log per item do so only when it is not."""
        return not self._progress.disable

    def advance(self, n: int) -> None:
        self._progress.advance(self._task, n)

    def describe(self, label: str) -> None:
        self._progress.update(self._task, description=label)

    def __enter__(self) -> "ProgressBar":
        self._progress.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._progress.__exit__(*exc)


def byte_bar(label: str, total: int | None) -> ProgressBar:
    return ProgressBar(label, total, "bytes")


def token_bar(label: str, total: int | None) -> ProgressBar:
    return ProgressBar(label, total, "tokens")


def output_console(piped_width: int) -> Any:
    """The console a command prints its report on: the terminal's width, or ``piped_width`` columns when
    the output is piped or captured (logs and files keep their tables unfolded instead of 80 columns)."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=piped_width)
