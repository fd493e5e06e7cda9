"""User-facing errors and the documented exit codes.

Every expected failure is a :class:`HarnessError` subclass carrying one
sentence that says what went wrong and what to do next; the CLI prints it
without a traceback and exits with the error's code.
"""

from __future__ import annotations

# Exit codes (documented in README.md and `harness --help`).
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and its verdict is negative (bad shard, error finding, failed seed)
EXIT_USAGE = 2  # bad arguments (click's own code for usage errors)
EXIT_ENVIRONMENT = 3  # something outside the submission is missing: data, a tool, the network
EXIT_INTERRUPTED = 130  # Ctrl-C


class HarnessError(Exception):
    """An expected failure with a one-line explanation for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.hint = hint

    def __str__(self) -> str:  # message plus what to do next
        base = super().__str__()
        return f"{base} {self.hint}" if self.hint else base


class UsageError(HarnessError):
    exit_code = EXIT_USAGE


class EnvironmentProblem(HarnessError):
    """Data, a binary or a service the command needs is not there."""

    exit_code = EXIT_ENVIRONMENT


class VerificationFailed(HarnessError):
    """The command ran and found the thing it checked to be wrong."""

    exit_code = EXIT_FAILED
