"""What this machine would run a submission with, and how that compares with a policy.

`env_report()` gathers GPU model/count/form factor, driver, CUDA, torch, triton,
FlashAttention 3 and the tools records call (lrzip, pyminify) into one JSON-able
dict; reproduce embeds it in the record. It never needs torch or a GPU: what is
missing is reported as absent (None), because "no FA3 here" is itself the
finding a participant needs before renting 8 GPUs.

`check_env(report, policy)` compares a report with a policy:

* hardware (8x H100 SXM) is strict under the ``official`` policy: one error
  finding per mismatch, and the CLI exits 3;
* the ``reference-2026-04`` env profile (torch 2.9.1+cu128, FA3, ...) is only a
  profile: a mismatch is a warning, shown beside the env the record logged
  (DESIGN.md, Corrections: "a mismatch is a finding, never a refusal").
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.finding import Finding, Severity
from harness.core.policy import PolicyError, load_policy
from harness.errors import UsageError

ENV_PROFILE_ID = "reference-2026-04"
CHECK_POLICIES = ("official", "smoke", ENV_PROFILE_ID)

# what to do when the official hardware rule fails (the CLI's refusal says the same)
HARDWARE_HINT = "Run smoke tests with --policy smoke / --mode smoke; official reproductions need 8x H100 SXM."

_SMI_FIELDS = ("index", "name", "memory.total", "driver_version", "pci.bus_id", "power.max_limit")


# ----------------------------------------------------------------------------- probing

def _run(argv: list[str], timeout: float = 20.0, env: dict[str, str] | None = None) -> str | None:
    """stdout of a short command, or None when it is missing or fails."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def _dist_version(*names: str) -> str | None:
    for n in names:
        try:
            return md.version(n)
        except md.PackageNotFoundError:
            continue
    return None


def form_factor(name: str, power_max_w: float | None = None) -> tuple[str | None, str]:
    """("SXM" | "PCIe" | None, basis) for an NVIDIA GPU.

    nvidia-smi has no form-factor query field, so decide from the product name
    (H100 "80GB HBM3" is the SXM5 part, "PCIe"/"NVL" are boards) and, failing
    that, the power limit (SXM H100/H200 run at 700 W, PCIe boards at 300-400 W).
    """
    n = name.upper()
    if "SXM" in n:
        return "SXM", "name says SXM"
    if "PCIE" in n or " NVL" in n:
        return "PCIe", "name says PCIe/NVL"
    if ("H100" in n or "H200" in n or "H800" in n) and "HBM3" in n:
        return "SXM", "H100/H200 HBM3 parts are SXM modules"
    if power_max_w is not None and power_max_w >= 500:
        return "SXM", f"power limit {power_max_w:g} W (>= 500 W only on SXM modules)"
    if power_max_w is not None:
        return "PCIe", f"power limit {power_max_w:g} W (< 500 W)"
    return None, "unknown (name and power limit inconclusive)"


def _float(s: str) -> float | None:
    m = re.search(r"[-+]?\d+(\.\d+)?", s or "")
    return float(m.group(0)) if m else None


def probe_gpus() -> dict[str, Any]:
    """nvidia-smi's view: GPUs, driver and the driver's CUDA version."""
    smi = shutil.which("nvidia-smi")
    info: dict[str, Any] = {"nvidia_smi": smi, "gpus": [], "driver": None, "driver_cuda": None}
    if not smi:
        return info
    out = _run([smi, f"--query-gpu={','.join(_SMI_FIELDS)}", "--format=csv,noheader,nounits"])
    for line in (out or "").splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < len(_SMI_FIELDS):
            continue
        row = dict(zip(_SMI_FIELDS, parts))
        power = _float(row["power.max_limit"])
        ff, basis = form_factor(row["name"], power)
        info["gpus"].append({"index": int(_float(row["index"]) or 0), "name": row["name"],
                             "memory_mib": _float(row["memory.total"]), "pci_bus_id": row["pci.bus_id"],
                             "power_max_w": power, "form_factor": ff, "form_factor_basis": basis})
        info["driver"] = row["driver_version"]
    header = _run([smi]) or ""
    m = re.search(r"CUDA Version:\s*([\d.]+)", header)
    info["driver_cuda"] = m.group(1) if m else None
    return info


def probe_torch() -> dict[str, Any]:
    """torch / CUDA / triton versions, without failing when torch is absent."""
    rep: dict[str, Any] = {"torch": None, "torch_cuda": None, "cuda_available": False,
                           "cudnn": None, "triton": None}
    try:
        import torch  # noqa: PLC0415 - optional, heavy
    except Exception:  # ImportError, or a broken install (e.g. CUDA libs missing)
        rep["triton"] = _dist_version("triton", "pytorch-triton")
        return rep
    rep["torch"] = str(torch.__version__)
    rep["torch_cuda"] = torch.version.cuda
    try:
        rep["cuda_available"] = bool(torch.cuda.is_available())
        rep["cudnn"] = torch.backends.cudnn.version() if rep["cuda_available"] else None
    except Exception:  # noqa: BLE001 - a driver problem is a report line, not a crash
        rep["cuda_available"] = False
    rep["triton"] = _dist_version("triton", "pytorch-triton")
    return rep


def probe_fa3() -> dict[str, Any]:
    """Is `flash_attn_interface` importable, from where, and is it our SDPA shim?"""
    rep: dict[str, Any] = {"importable": False, "version": None, "path": None, "shim": False, "error": None}
    try:
        mod = importlib.import_module("flash_attn_interface")
    except Exception as e:  # noqa: BLE001 - ImportError or a CUDA symbol error: both mean "not usable"
        rep["error"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        return rep
    rep["importable"] = True
    rep["path"] = getattr(mod, "__file__", None)
    rep["shim"] = bool(getattr(mod, "IS_PGOLF_SHIM", False))
    rep["version"] = (getattr(mod, "__version__", None)
                      or _dist_version("flash_attn_3", "flash-attn-3", "flash_attn_interface", "flash-attn-interface"))
    return rep


def probe_tools() -> dict[str, Any]:
    """Command-line tools records call: lrzip (COMPRESSOR=pergroup) and pyminify (code size)."""
    tools: dict[str, Any] = {}
    lr = shutil.which("lrzip")
    ver = None
    if lr:
        try:  # `lrzip -V` prints "lrzip version 0.651" and exits 0 (some builds print to stderr)
            p = subprocess.run([lr, "-V"], capture_output=True, text=True, timeout=10)
            m = re.search(r"(\d+\.\d+(\.\d+)?)", p.stdout + p.stderr)
            ver = m.group(1) if m else None
        except (OSError, subprocess.TimeoutExpired):
            pass
    tools["lrzip"] = {"path": lr, "version": ver}
    tools["pyminify"] = {"path": shutil.which("pyminify"), "version": _dist_version("python-minifier", "python_minifier")}
    return tools


# The packages submissions import besides torch: report key -> distribution names.
PACKAGES = {"brotli": ("brotli", "Brotli"), "zstandard": ("zstandard",), "sentencepiece": ("sentencepiece",),
            "huggingface_hub": ("huggingface_hub", "huggingface-hub"),
            "python_minifier": ("python-minifier", "python_minifier"), "numpy": ("numpy",)}

# Run by the trainer's interpreter in the trainer's environment: the versions of PACKAGES found on its path.
# Self-contained (the same loop as _dist_version): the harness itself need not be importable there.
_PROBE = """import importlib.metadata as md, json, sys
out = {}
for key, names in json.loads(sys.argv[1]).items():
    out[key] = None
    for n in names:
        try:
            out[key] = md.version(n)
            break
        except md.PackageNotFoundError:
            pass
print(json.dumps(out))
"""


def probe_packages(env: dict[str, str] | None = None,
                   names: dict[str, tuple[str, ...]] = PACKAGES) -> dict[str, str | None]:
    """Package versions as this process sees them, or, given ``env``, as a fresh interpreter with that
    environment sees them: a trainer gets an allow-listed environment (no PYTHONPATH unless its manifest
    sets one, its own HOME), so what the harness can import is not always what the trainer can."""
    if env is None:
        return {k: _dist_version(*v) for k, v in names.items()}
    with tempfile.TemporaryDirectory(prefix="pgolf-probe-home-") as home:
        out = _run([sys.executable, "-c", _PROBE, json.dumps(names)], env={**env, "HOME": home})
    try:
        return json.loads(out) if out else {k: None for k in names}
    except ValueError:
        return {k: None for k in names}


def env_report(trainer_env: dict[str, str] | None = None) -> dict[str, Any]:
    """One JSON-able snapshot of the environment (embedded in every record we write); ``packages`` as the
    trainer sees them when ``trainer_env`` is given (``packages_seen_by`` says which).

    Keys: python, platform, torch, torch_cuda, cuda_available, cudnn, triton,
    gpus (list of {index, name, memory_mib, pci_bus_id, power_max_w, form_factor,
    form_factor_basis}), gpu_count, gpu_name, sxm, driver, driver_cuda,
    hardware ("8x NVIDIA H100 80GB HBM3 (SXM)" or None without GPUs), fa3,
    tools, packages, cpu ({count, usable, omp_num_threads}). Absent things are None (the CLI
    prints "absent").
    """
    gpu = probe_gpus()
    tor = probe_torch()
    gpus = gpu["gpus"]
    names = sorted({g["name"] for g in gpus})
    ffs = {g["form_factor"] for g in gpus}
    hardware = None
    if gpus:
        ff = next(iter(ffs)) if len(ffs) == 1 else None
        hardware = f"{len(gpus)}x {' + '.join(names)}" + (f" ({ff})" if ff else "")
    from harness import __version__ as harness_version  # noqa: PLC0415 - avoid import cycles at module import
    return {
        "harness_version": harness_version,
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        **tor,
        "gpus": gpus,
        "gpu_count": len(gpus),
        "gpu_name": names[0] if len(names) == 1 else (" + ".join(names) or None),
        "sxm": (ffs == {"SXM"}) if gpus else None,
        "driver": gpu["driver"],
        "driver_cuda": gpu["driver_cuda"],
        "hardware": hardware,
        "fa3": probe_fa3(),
        "tools": probe_tools(),
        "packages": probe_packages(trainer_env),
        "packages_seen_by": "the trainer's environment" if trainer_env is not None else "the harness process",
        "cpu": probe_cpu(),
        "in_container": Path("/run/.containerenv").exists() or Path("/.dockerenv").exists(),
        "image_provenance": _image_provenance(),
    }


def probe_cpu() -> dict[str, Any]:
    """CPU cores and the thread setting the trainer inherits. Records quantize and compress on
    the CPU; with OMP_NUM_THREADS unset a one-rank trainer starts one thread per core (torchrun
    sets 1 only for several ranks), so this is part of what a phase's time depends on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = None
    return {"count": os.cpu_count(), "usable": usable,
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def _image_provenance() -> dict | None:
    """The image's build record (docker/provenance.py writes it) when running inside our image."""
    p = Path(os.environ.get("PGOLF_PROVENANCE", "/etc/pgolf-harness/provenance.json"))
    try:
        return json.loads(p.read_text())
    except (OSError, ValueError):
        return None


# ----------------------------------------------------------------------------- policy

@dataclass
class EnvPolicy:
    id: str
    version: str
    effective_from: str | None
    hardware_strict: bool
    hardware: dict[str, Any]
    env: dict[str, Any]
    profile_severity: str  # "warning" (official/reference) or "info" (smoke)
    source: str
    extra: dict[str, Any] = field(default_factory=dict)


def load_profile(path_or_id: str | Path = ENV_PROFILE_ID) -> dict[str, Any]:
    """The env profile TOML as a dict (the image's pins live here); ``_path`` says which file."""
    pol = load_policy(path_or_id, kind="env")
    return {**pol.sections, "_path": pol.path}


def load_env_policy(policy: str | Path | EnvPolicy | dict | None) -> EnvPolicy:
    """`official` (strict 8x H100 SXM + the profile as warnings), `smoke` (profile as info),
    `reference-2026-04` (profile as warnings, no hardware rule), or a TOML path with
    [hardware]/[env] sections."""
    if isinstance(policy, EnvPolicy):
        return policy
    if isinstance(policy, dict):
        prof, name = policy, str(policy.get("id", "custom"))
    else:
        name = str(policy or "official")
        if name in ("official", "smoke", ENV_PROFILE_ID):
            prof = load_profile(ENV_PROFILE_ID)
        elif Path(name).suffix == ".toml" and Path(name).is_file():
            try:
                prof = load_profile(name)
            except PolicyError as exc:
                raise UsageError(f"{exc}.", hint="Give a TOML file with kind = \"env\".") from None
        else:
            raise UsageError(f"unknown env policy {name!r}.",
                             hint=f"Use one of {', '.join(CHECK_POLICIES)} or a path to a .toml profile.")
    strict = name == "official" or bool(prof.get("hardware_strict", False))
    return EnvPolicy(id=name if name in CHECK_POLICIES else str(prof.get("id", name)),
                     version=str(prof.get("version", "")), effective_from=prof.get("effective_from"),
                     hardware_strict=strict, hardware=dict(prof.get("hardware", {})),
                     env=dict(prof.get("env", {})),
                     profile_severity="info" if name == "smoke" else "warning",
                     source=str(prof.get("_path", "")), extra={"profile_id": prof.get("id")})


def env_finding(severity: Severity, field_: str, expected: Any, found: Any, message: str, rule_id: str,
                logged: Any = None) -> Finding:
    """One difference between this machine and a policy: ``data`` holds the field, what the policy expects,
    what this machine has and what the record's own log says for it (beside the finding)."""
    hint = HARDWARE_HINT if severity == "error" else ""
    return Finding(rule_id, severity, "violation", message, [],
                   {"field": field_, "expected": expected, "found": found, "logged": logged}, hint)


def _base(v: str | None) -> str | None:
    """'2.9.1+cu128' -> '2.9.1'; '3.12.3' stays (compared by prefix)."""
    return v.split("+")[0] if v else v


def _logged_for(logged: dict | None, *keys: str) -> Any:
    if not logged:
        return None
    for k in keys:
        if logged.get(k) is not None:
            return logged[k]
    return None


def check_env(report: dict[str, Any], policy: str | Path | EnvPolicy | dict | None = "official",
              logged: dict[str, Any] | None = None) -> list[Finding]:
    """Differences between `report` (env_report()) and `policy`, one Finding each.

    `logged` is what the record's own logs said (e.g. {"torch_version": "2.9.1+cu128",
    "gpu_name": ..., "gpu_count": 8}); it is put beside each finding so a reviewer
    sees "reproduced on X, record ran on Y" rather than a bare mismatch.
    """
    pol = load_env_policy(policy)
    out: list[Finding] = []
    hw = pol.hardware
    if pol.hardware_strict and hw:
        gpus = report.get("gpus") or []
        want_n = int(hw.get("gpu_count", 0) or 0)
        model = str(hw.get("gpu_model", ""))
        ff = str(hw.get("form_factor", ""))
        logged_hw = _logged_for(logged, "hardware", "gpu_name")
        if len(gpus) != want_n:
            out.append(env_finding("error", "gpu_count", want_n, len(gpus),
                                   f"GPU count: need {want_n}, found {len(gpus)}", "hardware.count", logged_hw))
        bad_model = sorted({g.get("name") for g in gpus if model and model not in str(g.get("name"))})
        if bad_model:
            out.append(env_finding("error", "gpu_model", model, bad_model,
                                   f"GPU model: need {model}, found {', '.join(bad_model)}", "hardware.model",
                                   logged_hw))
        bad_ff = sorted({str(g.get("form_factor")) for g in gpus if ff and g.get("form_factor") != ff})
        if bad_ff:
            out.append(env_finding("error", "form_factor", ff, bad_ff,
                                   f"form factor: need {ff}, found {', '.join(bad_ff)}", "hardware.form_factor",
                                   logged_hw))
    env = pol.env
    sev = pol.profile_severity
    pid = pol.extra.get("profile_id") or ENV_PROFILE_ID

    def profile(field_: str, want: Any, found: Any, same: bool, *logged_keys: str) -> None:
        if not same:
            out.append(env_finding(sev, field_, want, found if found is not None else "absent",
                                   f"{field_}: profile {pid} has {want}, this machine has "
                                   f"{found if found is not None else 'absent'}",
                                   f"env.{field_}", _logged_for(logged, *logged_keys)))

    if env.get("torch"):
        t = report.get("torch")
        profile("torch", env["torch"], t, t == env["torch"], "torch_version", "pytorch_version", "torch")
    if env.get("cuda"):
        c = report.get("torch_cuda")
        profile("cuda", env["cuda"], c, bool(c) and (c == env["cuda"] or c.startswith(env["cuda"] + ".")),
                "cuda_version", "cuda")
    if env.get("python"):
        p = str(report.get("python") or "")
        profile("python", env["python"], p or None, p == env["python"] or p.startswith(env["python"] + "."),
                "python_version", "python")
    if env.get("triton"):
        tr = report.get("triton")
        profile("triton", env["triton"], tr, _base(tr) == _base(env["triton"]), "triton")
    if env.get("fa3_version"):
        fa = report.get("fa3") or {}
        ok = bool(fa.get("importable")) and not fa.get("shim") and fa.get("version") == env["fa3_version"]
        found = ("SDPA shim" if fa.get("shim") else fa.get("version") or "importable, version unknown") \
            if fa.get("importable") else None
        profile("fa3", env["fa3_version"], found, ok, "flash_attn_version", "fa3")
    tools = report.get("tools") or {}
    if env.get("lrzip"):
        lv = (tools.get("lrzip") or {}).get("version")
        profile("lrzip", env["lrzip"], lv, lv == env["lrzip"], "lrzip")
    pk = report.get("packages") or {}
    for key in ("brotli", "zstandard", "sentencepiece", "huggingface_hub", "python_minifier"):
        if env.get(key):
            profile(key, env[key], pk.get(key), pk.get(key) == env[key], key)
    return out


def hardware_errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str]]:
    """(item, value) rows for the table; absent things read "absent"."""
    def a(v: Any) -> str:
        return "absent" if v in (None, "", []) else str(v)

    gpus = report.get("gpus") or []
    fa = report.get("fa3") or {}
    tools = report.get("tools") or {}
    pk = report.get("packages") or {}
    fa_s = "absent" if not fa.get("importable") else ("SDPA shim (unofficial)" if fa.get("shim")
                                                      else f"importable, {a(fa.get('version'))}")
    ff = ", ".join(sorted({f"{g.get('form_factor') or '?'} ({g.get('form_factor_basis')})" for g in gpus}))
    return [
        ("GPU model", a(report.get("gpu_name"))),
        ("GPU count", str(report.get("gpu_count", 0))),
        ("form factor", ff or "absent"),
        ("driver", a(report.get("driver"))),
        ("CUDA (driver)", a(report.get("driver_cuda"))),
        ("CUDA (torch)", a(report.get("torch_cuda"))),
        ("torch", a(report.get("torch"))),
        ("triton", a(report.get("triton"))),
        ("FlashAttention 3", fa_s),
        ("lrzip", a((tools.get("lrzip") or {}).get("version")) if (tools.get("lrzip") or {}).get("path") else "absent"),
        ("pyminify", a((tools.get("pyminify") or {}).get("version")) if (tools.get("pyminify") or {}).get("path")
         else "absent"),
        ("brotli", a(pk.get("brotli"))),
        ("zstandard", a(pk.get("zstandard"))),
        ("sentencepiece", a(pk.get("sentencepiece"))),
        ("huggingface_hub", a(pk.get("huggingface_hub"))),
        ("Python", a(report.get("python"))),
        ("CPU cores", _cpu_row(report.get("cpu") or {})),
    ]


def _cpu_row(cpu: dict[str, Any]) -> str:
    if not cpu.get("count"):
        return "absent"
    usable = cpu.get("usable")
    row = f"{cpu['count']}" + (f" ({usable} usable)" if usable not in (None, cpu["count"]) else "")
    omp = cpu.get("omp_num_threads")
    return row + (f", OMP_NUM_THREADS={omp}" if omp else ", OMP_NUM_THREADS unset")
