"""env_report / check_env / `harness env check` on this CPU machine, plus fake nvidia-smi rows."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from harness import env as envlib
from conftest import run_cli

FAKE_SMI = """#!/bin/sh
case "$1" in
  --query-gpu=*)
    i=0; while [ $i -lt {n} ]; do echo "$i, {name}, 81559, 570.124.06, 00000000:0$i:00.0, {power}"; i=$((i+1)); done ;;
  *) echo "| NVIDIA-SMI 570.124.06   Driver Version: 570.124.06   CUDA Version: 12.8 |" ;;
esac
"""


def fake_smi(tmp_path: Path, monkeypatch, n: int, name: str, power: str = "700.00") -> None:
    d = tmp_path / "bin"
    d.mkdir(exist_ok=True)
    p = d / "nvidia-smi"
    p.write_text(FAKE_SMI.format(n=n, name=name, power=power))
    p.chmod(p.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{d}{os.pathsep}{os.environ['PATH']}")


def test_report_without_gpu_is_complete_and_json(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # no nvidia-smi here
    rep = envlib.env_report()
    json.dumps(rep)
    assert rep["gpus"] == [] and rep["gpu_count"] == 0 and rep["hardware"] is None
    assert rep["python"].count(".") == 2
    assert rep["fa3"]["importable"] is False and "flash_attn_interface" in rep["fa3"]["error"]
    rows = dict(envlib.summary_rows(rep))
    assert rows["GPU model"] == "absent" and rows["FlashAttention 3"] == "absent"


def test_report_reads_fake_h100_sxm(monkeypatch, tmp_path):
    fake_smi(tmp_path, monkeypatch, 8, "NVIDIA H100 80GB HBM3")
    rep = envlib.env_report()
    assert rep["gpu_count"] == 8 and rep["sxm"] is True
    assert rep["driver"] == "570.124.06" and rep["driver_cuda"] == "12.8"
    assert rep["hardware"] == "8x NVIDIA H100 80GB HBM3 (SXM)"
    errors = envlib.hardware_errors(envlib.check_env(rep, "official"))
    assert errors == []


@pytest.mark.parametrize("n,name,power,expect", [
    (1, "NVIDIA H100 PCIe", "350.00", {"gpu_count", "form_factor"}),
    (8, "NVIDIA H200", "700.00", {"gpu_model"}),
    (4, "NVIDIA H100 80GB HBM3", "700.00", {"gpu_count"}),
])
def test_official_hardware_mismatch_is_one_error_per_mismatch(monkeypatch, tmp_path, n, name, power, expect):
    fake_smi(tmp_path, monkeypatch, n, name, power)
    rep = envlib.env_report()
    errors = envlib.hardware_errors(envlib.check_env(rep, "official"))
    assert {e.data["field"] for e in errors} == expect
    # one Finding shape (harness.core.finding): the rule, the numbers behind the message, and what to do
    d = errors[0].to_dict()
    assert d["rule_id"].startswith("hardware.") and d["status"] == "violation"
    assert set(d["data"]) == {"field", "expected", "found", "logged"} and d["hint"] == envlib.HARDWARE_HINT
    # smoke and the env profile never refuse on hardware
    assert envlib.hardware_errors(envlib.check_env(rep, "smoke")) == []
    assert envlib.hardware_errors(envlib.check_env(rep, "reference-2026-04")) == []


def test_form_factor_rules():
    assert envlib.form_factor("NVIDIA H100 80GB HBM3")[0] == "SXM"
    assert envlib.form_factor("NVIDIA H100 PCIe")[0] == "PCIe"
    assert envlib.form_factor("NVIDIA H100 NVL")[0] == "PCIe"
    assert envlib.form_factor("NVIDIA A100-SXM4-80GB")[0] == "SXM"
    assert envlib.form_factor("NVIDIA L4", 72.0)[0] == "PCIe"
    assert envlib.form_factor("Some GPU")[0] is None


def test_profile_mismatch_is_a_warning_with_logged_env_beside_it():
    rep = {"torch": "2.11.0+cu130", "torch_cuda": "13.0", "python": "3.12.3", "triton": "3.6.0",
           "fa3": {"importable": True, "version": "3.0.0", "shim": False},
           "tools": {"lrzip": {"path": "/usr/bin/lrzip", "version": "0.651"}},
           "packages": {"brotli": "1.2.0", "zstandard": "0.25.0", "sentencepiece": "0.2.1",
                        "huggingface_hub": None, "python_minifier": "3.4.0"}, "gpus": []}
    logged = {"torch_version": "2.9.1+cu128", "gpu_name": "NVIDIA H100 80GB HBM3"}
    f = {x.data["field"]: x for x in envlib.check_env(rep, "reference-2026-04", logged=logged)}
    assert set(f) == {"torch", "cuda", "triton", "fa3", "huggingface_hub"}
    assert all(x.severity == "warning" for x in f.values())
    assert f["torch"].data["logged"] == "2.9.1+cu128" and f["torch"].data["found"] == "2.11.0+cu130"
    assert f["huggingface_hub"].data["found"] == "absent"
    # the shim never satisfies the FA3 pin
    rep["fa3"] = {"importable": True, "version": "0.0.0+pgolf.sdpa.shim", "shim": True}
    assert envlib.check_env(rep, "smoke")[0].severity == "info"
    assert any(x.data["field"] == "fa3" and x.data["found"] == "SDPA shim" for x in envlib.check_env(rep, "smoke"))


def test_shim_on_path_is_reported_as_shim(monkeypatch):
    pytest.importorskip("torch")
    from harness.fa3_shim import shim_dir

    env = dict(os.environ, PYTHONPATH=f"{shim_dir()}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    out = subprocess.run([sys.executable, "-c", "from harness.env import probe_fa3; import json; print(json.dumps(probe_fa3()))"],
                         env=env, capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent.parent)
    fa = json.loads(out.stdout)
    assert fa["importable"] and fa["shim"] and fa["version"].endswith("shim")


def test_cli_json_and_exit_codes(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", f"/usr/bin:/bin:{Path(sys.executable).parent}")
    run = lambda *a: run_cli("env", "check", *a)  # noqa: E731
    smoke = run("--policy", "smoke", "--json")
    assert smoke.returncode == 0, smoke.stderr
    doc = json.loads(smoke.stdout)
    assert doc["ok"] is True and doc["policy"]["id"] == "smoke" and doc["report"]["gpu_count"] == 0
    off = run("--policy", "official")
    assert off.returncode == 3
    assert "GPU count: need 8, found 0" in off.stdout + off.stderr
    bad = run("--policy", "nope")
    assert bad.returncode == 2 and "unknown env policy" in bad.stderr


def test_env_check_works_without_torch(tmp_path):
    """A torch-less interpreter (verify-only installs): torch reported absent, no crash."""
    code = ("import sys, builtins; real = builtins.__import__\n"
            "def imp(n, *a, **k):\n"
            "    if n == 'torch' or n.startswith('torch.'): raise ImportError('blocked')\n"
            "    return real(n, *a, **k)\n"
            "builtins.__import__ = imp\n"
            "from harness.env import env_report; r = env_report(); print(r['torch'], r['fa3']['importable'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parent.parent)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "False"]


def test_report_carries_cpu_cores_and_the_inherited_thread_setting(monkeypatch):
    """CPU quantization time depends on cores and OMP_NUM_THREADS (bench/cpu_threads.py), so the
    record says what the trainer inherited; the table shows it."""
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    cpu = envlib.env_report()["cpu"]
    assert cpu == {"count": os.cpu_count(), "usable": len(os.sched_getaffinity(0)), "omp_num_threads": "3"}
    assert dict(envlib.summary_rows({"cpu": cpu}))["CPU cores"].endswith("OMP_NUM_THREADS=3")
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert envlib.env_report()["cpu"]["omp_num_threads"] is None
    assert dict(envlib.summary_rows({}))["CPU cores"] == "absent"


def test_packages_are_probed_as_the_trainer_sees_them(tmp_path):
    """A package the harness reaches only through PYTHONPATH is absent for the trainer, whose environment
    is allow-listed: the report says what the trainer sees (an unseen record once died on a brotli that
    the report had listed as present)."""
    from harness.sandbox import visible_env

    site = tmp_path / "site"
    (site / "pgolf_probe_pkg").mkdir(parents=True)
    (site / "pgolf_probe_pkg" / "__init__.py").write_text("")
    dist = site / "pgolf_probe_pkg-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgolf-probe-pkg\nVersion: 1.0\n")
    names = {"probe": ("pgolf-probe-pkg",)}
    host = {**os.environ, "PYTHONPATH": str(site)}
    assert envlib.probe_packages(env=host, names=names) == {"probe": "1.0"}  # a plain interpreter finds it
    assert envlib.probe_packages(env=visible_env({}, host), names=names) == {"probe": None}  # the trainer not
    assert envlib.probe_packages(env=visible_env({"PYTHONPATH": str(site)}, host), names=names) == {"probe": "1.0"}


def test_a_record_lists_packages_as_its_trainer_saw_them(claimed_reference_run):
    res, _ = claimed_reference_run
    environment = json.loads((res.run_dir / "submission.json").read_text())["verification"]["environment"]
    assert environment["packages_seen_by"] == "the trainer's environment"
    assert environment["packages"]["numpy"]  # the trainer's interpreter has numpy
