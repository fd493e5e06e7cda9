"""User-facing errors and the documented exit codes.

Every expected failure is a :class:`HarnessError` subclass carrying one
sentence that says what went wrong and what to do next; the CLI prints it
without a traceback and exits with the error's code. HarnessError is a
``click.ClickException``, so click itself (``harness`` or click's CliRunner in
the tests) shows it as ``error: ...`` and exits with its code.
"""

from __future__ import annotations

from typing import Any

import click

# Exit codes (documented in README.md and `harness --help`).
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and its verdict is negative (bad shard, error finding, failed seed)
EXIT_USAGE = 2  # bad arguments (click's own code for usage errors)
EXIT_ENVIRONMENT = 3  # something outside the submission is missing: data, a tool, the network
EXIT_INTERRUPTED = 130  # Ctrl-C


class HarnessError(click.ClickException):
    """An expected failure with a one-line explanation for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.exit_code = type(self).exit_code  # ClickException.__init__ sets 1 on the instance
        self.hint = hint

    def format_message(self) -> str:  # message plus what to do next
        return f"{self.message} {self.hint}" if self.hint else self.message

    def __str__(self) -> str:
        return self.format_message()

    def show(self, file: Any = None) -> None:
        click.secho(f"error: {self}", fg="red", err=True, file=file)


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class EnvironmentProblem(HarnessError):
    """Data, a binary or a service the command needs is not there."""

    exit_code = EXIT_ENVIRONMENT


class VerificationFailed(HarnessError):
    """The command ran and found the thing it checked to be wrong."""

    exit_code = EXIT_FAILED
