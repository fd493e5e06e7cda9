"""`harness reproduce` argument checks, in-process: a typo is a usage error before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "submissions" / "reference"


@pytest.mark.parametrize("args, says", [
    (["--seeds", "1,,2"], "without empty items"),
    (["--seeds", "1,"], "without empty items"),
    (["--seeds", "1,x"], "without empty items"),
    (["--seeds", "7,7"], "repeats a seed"),
    (["--nproc", "0"], "--nproc"),
    (["--nproc", "-2"], "--nproc"),
])
def test_bad_seeds_and_nproc_are_usage_errors(harness_cli, tmp_path, args, says):
    res = harness_cli("reproduce", REFERENCE, "--out", tmp_path, "--no-progress", *args)
    assert res.exit_code == 2, res.output
    assert says in res.stderr
    assert not any(tmp_path.iterdir())  # refused before a run directory was made
