"""The `harness` command line: thin click wiring over the library.

Each sub-command lives in its own module under ``harness/commands/`` and
exposes a click command or group named ``command``; this module discovers
them, so adding a command never edits a shared file.
"""

from __future__ import annotations

import importlib
import pkgutil
import signal
import sys

import click

from harness import __version__
from harness.errors import EXIT_INTERRUPTED

EPILOG = """\b
Exit codes:
  0  success
  1  the verdict is negative (a failed check, an error finding, a failed seed)
  2  usage error (bad arguments)
  3  environment problem (missing data, tool or network)
  130 interrupted (Ctrl-C, SIGTERM, SIGHUP): running seeds are killed first

\b
Examples:
  harness data build-embedded
  harness reproduce submissions/reference --mode smoke --seeds 1,2
  harness verify ../shared/fixtures/records/track_10min_16mb/2026-03-17_NaiveBaseline
  harness log timeline path/to/train_seed42.log --policy organizer-tda-v1
"""


@click.group(epilog=EPILOG, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="harness")
def cli() -> None:
    """Reproduce, verify and rank Parameter Golf submissions."""


def _register_commands() -> None:
    import harness.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"harness.commands.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register_commands()


def interrupt_on_termination() -> None:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, as Ctrl-C does, so a supervisor kills the seed it runs
    (its cgroup or PID namespace) before the harness exits. Left to their defaults they end the harness
    at once and the trainer's ranks run on, holding the GPU (a `timeout`, `docker stop` or a cancelled
    job sends SIGTERM).

    An ignored SIGTERM inherited from the parent is reset too: nobody asks for an unstoppable run, and
    a parent that ignores it for itself passes that on by accident. An ignored SIGHUP or SIGINT is kept:
    that is what `nohup harness reproduce ... &` (survive the terminal's hang-up) and a shell's
    background job (Ctrl-C is for the foreground) ask for; `kill -TERM` still stops such a run cleanly."""
    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, interrupt)
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, interrupt)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the CLI, turning expected errors into one line."""
    interrupt_on_termination()
    try:
        cli.main(args=argv, prog_name="harness", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort as exc:  # click turns KeyboardInterrupt into Abort
        why = str(exc.__cause__) if isinstance(exc.__cause__, KeyboardInterrupt) else ""
        click.echo(f"Interrupted ({why})." if why else "Aborted.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except KeyboardInterrupt as exc:
        click.echo(f"Interrupted{f' ({exc})' if str(exc) else ''}.", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0)
