"""Shared test helpers: where the real fixture records live, and the CLI run in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"
RECORDS = FIXTURES / "records"
TOKENIZERS = FIXTURES / "tokenizers"


@pytest.fixture(scope="session")
def records_dir() -> Path:
    if not RECORDS.is_dir():
        pytest.skip(f"fixture records not found at {RECORDS} (../shared/fixtures is absent)")
    return RECORDS


@pytest.fixture(scope="session")
def tokenizers_dir() -> Path:
    if not TOKENIZERS.is_dir():
        pytest.skip(f"fixture tokenizers not found at {TOKENIZERS}")
    return TOKENIZERS


def _invoke(*args: object, input: str | None = None):
    """``harness ARGS...`` in this process through click's CliRunner (exit code, stdout, stderr apart).

    HarnessErrors are click exceptions, so the exit code and the ``error: ...`` line are the real CLI's;
    any other exception propagates with its traceback (a traceback is a failure, never an outcome).
    """
    from click.testing import CliRunner

    from harness.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False)


def run_cli(*args: object) -> subprocess.CompletedProcess:
    """``_invoke`` shaped as ``subprocess.run``'s result, for tests written against a subprocess."""
    res = _invoke(*args)
    return subprocess.CompletedProcess([str(a) for a in args], res.exit_code, res.stdout, res.stderr)


@pytest.fixture
def harness_cli():
    """The CLI in-process: ``harness_cli("verify", path)`` returns click's Result (see ``_invoke``)."""
    return _invoke
