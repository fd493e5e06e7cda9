"""A wheel installed non-editable works from any folder: policies and the dataset registry are package data.

Built from a copy of the sources (so the checkout gets no build/ or egg-info), installed into a fresh
venv that borrows the machine's site-packages for the dependencies (nothing is downloaded), and run
from a folder that holds no harness/ and no policies/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # builds a wheel and a venv, then a smoke run


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for pkg in ("harness", "verifier"):
        shutil.copytree(ROOT / pkg, src / pkg, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    dist = tmp / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(dist),
                    str(src)], check=True, timeout=300)
    (wheel,) = dist.glob("pgolf_harness-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "harness/policies/organizer-tda-v1.toml" in names and "harness/core/datasets.toml" in names
    assert "harness/submissions/reference/train_gpt.py" in names  # the registry of submissions/NAME entries

    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=300)
    # --no-deps: the dependencies come from the borrowed site-packages; --force-reinstall: this machine may
    # already hold an editable pgolf-harness there, and the venv must get its own copy.
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
                   check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HARNESS_DATA")}
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return venv, env, elsewhere


def _run(installed, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess:
    venv, env, cwd = installed
    return subprocess.run([str(venv / "bin" / argv[0]), *argv[1:]], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=timeout)


def test_the_installed_package_is_the_wheel_not_the_checkout(installed):
    venv = installed[0]
    p = _run(installed, "python", "-c", "import harness, verifier; print(harness.__file__); print(verifier.__file__)")
    assert p.returncode == 0, p.stderr
    for line in p.stdout.split():
        assert Path(line).resolve().is_relative_to(venv.resolve()), line


def test_log_policies_lists_the_shipped_policies(installed):
    p = _run(installed, "harness", "log", "policies", "--json")
    assert p.returncode == 0, p.stderr
    kinds = {r["id"]: r["kind"] for r in json.loads(p.stdout)}
    assert kinds == {"acceptance-organizer-2026-05": "acceptance", "acceptance-readme": "acceptance",
                     "organizer-tda-v1": "timing", "reference-2026-04": "env", "smoke": "timing",
                     "strict": "timing"}


def test_registry_names_resolve_from_another_folder(installed):
    """`submissions/NAME` and `NAME` name the registry that ships in the wheel, not a folder of the caller's."""
    probe = ("from harness.resolve import registry_entry, resolve\n"
             "print(resolve('submissions/reference').folder, resolve('reference').folder)\n"
             "print(registry_entry('submissions/pr2014'))\n")  # a PR entry: resolving it would fetch with git
    p = _run(installed, "python", "-c", probe)
    assert p.returncode == 0, p.stderr
    by_path, by_name, pr2014 = p.stdout.split()
    venv = installed[0].resolve()
    assert by_path == by_name and Path(by_path).is_relative_to(venv) and Path(by_path).name == "reference"
    assert Path(pr2014).is_relative_to(venv) and (Path(pr2014) / "harness.toml").is_file()


def test_reproduce_the_reference_in_smoke_mode_from_another_folder(installed):
    """The README's main job, by its registry name, from a folder that holds no submissions/."""
    cwd = installed[2]
    assert not (cwd / "submissions").exists()
    p = _run(installed, "harness", "reproduce", "submissions/reference", "--mode", "smoke", "--seeds", "1",
             "--train-seconds", "2", "--out", "runs", "--run-id", "wheel", "--no-progress", timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    rec = json.loads((cwd / "runs" / "wheel" / "submission.json").read_text())
    assert rec["seed_results"]["1"]["status"] == "ok"
    assert rec["verification"]["mode"] == "smoke"
    assert (cwd / "data" / "embedded").is_dir()  # the embedded data was built beside the caller, not in site-packages
