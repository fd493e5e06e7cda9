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


@pytest.mark.slow
def test_piped_output_keeps_lines_apart(harness_cli, tmp_path):
    """Not a terminal (CI, `| tee`): the live table's last border ends its line before the results table's
    title, and the run directory stays on the line that announces it (it wrapped at 140 columns)."""
    res = harness_cli("reproduce", REFERENCE, "--mode", "smoke", "--seeds", "1", "--train-seconds", "2",
                      "--out", tmp_path / "a-long-folder-name-so-the-announcement-is-longer-than-140-columns",
                      "--run-id", "piped")
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert not [ln for ln in lines if "┘" in ln and "smoke" in ln], res.output
    (announce,) = [ln for ln in lines if ln.startswith("reproduce reference")]
    assert announce.endswith("piped"), announce
