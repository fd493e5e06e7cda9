"""Shared test helpers: where the real fixture records live, the CLI run in-process, and the real runs of the
reference submission that several test files read (each made once per session: a run costs seconds)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

REFERENCE = ROOT / "submissions" / "reference"
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


@pytest.fixture(scope="session")
def claimed_reference_run(tmp_path_factory):
    """One real smoke reproduction (CPU, gloo, embedded data, 2 seeds of 3 s) through the library, of a copy
    of the reference whose manifest claims results: (ReproduceResult, the copy's folder). Read it, never
    change it: test_reproduce and test_compare_cli share it."""
    from harness.reproduce import ReproduceOptions, reproduce

    tmp = tmp_path_factory.mktemp("claimed-reference")
    sub = tmp / "ref"
    shutil.copytree(REFERENCE, sub)
    with (sub / "harness.toml").open("a") as fh:
        fh.write("\n[[claim.seeds]]\nseed = 1\nval_bpb = 1.5\nbytes_total = 170000\nsteps = 40\n"
                 "\n[[claim.seeds]]\nseed = 2\nval_bpb = 1.5\nbytes_total = 170000\nsteps = 40\n")
    res = reproduce(str(sub), ReproduceOptions(seeds=[1, 2], mode="smoke", out=tmp / "runs", progress=False,
                                               train_seconds=3))
    return res, sub


@pytest.fixture(scope="session")
def supervised_reference_run(tmp_path_factory):
    """The reference trainer once under the supervisor and the sandbox, without reproduce around it (3 s
    budget, validation every 20 steps): (DataInfo, work folder, stamped harness.log). Read it, never
    change it: test_measure and test_core_timeline share it."""
    from harness.phases import LiveCaps
    from harness.data.prepare import prepare_data
    from harness.sandbox import SandboxOptions
    from harness.supervisor import SeedSpec, run_seed, torchrun_argv

    data = prepare_data("embedded", None)
    base = tmp_path_factory.mktemp("supervised-reference")
    work = base / "work"
    work.mkdir()
    shutil.copy(REFERENCE / "train_gpt.py", work / "train_gpt.py")
    env = {"DATA_PATH": str(data.data_dir), "TOKENIZER_PATH": str(data.tokenizer_path), "VOCAB_SIZE": str(data.vocab_size),
           "SEED": "11", "MAX_WALLCLOCK_SECONDS": "3", "TRAIN_SEQ_LEN": "128", "TRAIN_BATCH_TOKENS": "4096",
           "MODEL_DIM": "64", "NUM_LAYERS": "2", "VAL_LOSS_EVERY": "20", "TRAIN_LOG_EVERY": "5",
           "PYTHONUNBUFFERED": "1"}
    log = base / "harness.log"
    run = run_seed(SeedSpec(argv=torchrun_argv("train_gpt.py", 1), cwd=work, env=env, log_path=log,
                            caps=LiveCaps(train_s=60, total_s=300), sandbox=SandboxOptions(read_only=data.view_paths())))
    assert run.ok, log.read_text()[-2000:]
    return data, work, log
