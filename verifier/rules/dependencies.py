"""code.dependencies: third-party imports and system tools are declared (requirements.txt, README).

A reproduction note, never a rejection: imports outside the official environment and
subprocess calls of system tools are listed with whether the folder says how to get them.
"""

from __future__ import annotations

import re
import sys

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units
from verifier.rules.network import SUBPROCESS_CALLS, argv0
from verifier.rules.registration import README_SOURCE, rule
from verifier.static.facts import CodeUnit
from verifier.subject import Subject


# Packages of the official RunPod template / root requirements.txt (M:requirements.txt), import names.
BASELINE_IMPORTS = {"numpy", "tqdm", "torch", "huggingface_hub", "kernels", "setuptools", "typing_extensions",
                    "datasets", "tiktoken", "sentencepiece", "triton"}
IMPORT_TO_DIST = {"flash_attn_interface": "flash_attn_3", "flash_attn": "flash-attn", "python_minifier":
                  "python-minifier", "yaml": "pyyaml", "sklearn": "scikit-learn", "PIL": "pillow",
                  "cv2": "opencv-python", "zstandard": "zstandard", "brotli": "brotli", "mamba_ssm": "mamba-ssm",
                  "causal_conv1d": "causal-conv1d", "fla": "flash-linear-attention"}
SYSTEM_TOOLS = {"lrzip": "used for COMPRESSOR=pergroup; apt package lrzip",
                "pyminify": "python-minifier CLI; if missing, scripts silently count the raw source",
                "zstd": "zstd CLI", "xz": "xz CLI", "7z": "p7zip", "brotli": "brotli CLI", "nvcc": "CUDA toolkit",
                "g++": "a C++ compiler", "gcc": "a C compiler", "make": "make", "cmake": "cmake"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirements(s: Subject) -> set[str] | None:
    text = s.file_text("requirements.txt")
    if text is None:
        return None
    out = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        m = re.match(r"([A-Za-z0-9_.\-]+)", line)
        if m:
            out.add(_norm(m.group(1)))
    return out


def _local_modules(s: Subject) -> set[str]:
    mods = {p.stem for p in s.code_paths}
    if s.root.is_dir():
        mods |= {p.name for p in s.root.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    return mods


@rule("code.dependencies", "imports and system tools are declared", since="2026-03-20", severity="info", group="code",
      requires="code",
      source=README_SOURCE + "'include a requirements.txt in the records folder' (README.md:231, added 2026-03-20); "
      "a reproduction note, not a rejection: the organizers merged records importing FA3 and others undeclared")
def check_dependencies(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
    reqs = _requirements(s)
    readme = (s.file_text("README.md") or "") + "\n" + (s.file_text("requirements.txt") or "")
    local = _local_modules(s)
    stdlib = set(getattr(sys, "stdlib_module_names", ()))
    out = []
    undeclared: dict[str, tuple[CodeUnit, int, bool]] = {}
    for u in units:
        for imp in u.imports:
            if imp.module.startswith("."):
                continue
            top = imp.module.split(".")[0]
            if not top or top in stdlib or top in local or top == "__future__":
                continue
            dist = _norm(IMPORT_TO_DIST.get(top, top))
            if top in BASELINE_IMPORTS:
                continue
            if reqs is not None and (dist in reqs or _norm(top) in reqs):
                continue
            if top not in undeclared or (undeclared[top][2] and not imp.in_try):
                undeclared[top] = (u, imp.line, imp.in_try or bool(imp.in_function))
    for top, (u, line, optional) in sorted(undeclared.items()):
        dist = IMPORT_TO_DIST.get(top, top)
        where = "no requirements.txt in the folder" if reqs is None else "not in requirements.txt"
        mentioned = re.search(rf"\b({re.escape(top)}|{re.escape(dist)})\b", readme) is not None
        if mentioned:
            out.append(r.finding(f"imports {top} ({dist}): {where}, but the README/requirements comments say how "
                                 "to install it", status="observation", severity="info", evidence=[code_evidence(u, line)],
                                 module=top))
            continue
        kind = "optional import (in try/function)" if optional else "imports"
        out.append(r.finding(f"{kind} {top} ({dist}), not in the official environment: {where}",
                             severity="info", evidence=[code_evidence(u, line)], module=top,
                             optional=optional))
    tools_seen: dict[str, tuple[CodeUnit, int]] = {}
    for u in units:
        for c in u.calls:
            if c.name in SUBPROCESS_CALLS or c.name.split(".")[-1] in ("run", "Popen", "check_output", "check_call", "call") \
                    and c.name.split(".")[0] == "subprocess":
                for tool in argv0(c.str_args):
                    if tool in SYSTEM_TOOLS:
                        tools_seen.setdefault(tool, (u, c.line))
    for tool, (u, line) in sorted(tools_seen.items()):
        names = [tool] + (["python-minifier", "python_minifier"] if tool == "pyminify" else [])
        declared = any(re.search(rf"\b{re.escape(n)}\b", readme) for n in names)
        out.append(r.finding(
            f"runs the system tool `{tool}` via subprocess ({SYSTEM_TOOLS[tool]})"
            + ("; the README/requirements mention it" if declared else "; not declared in README or requirements"),
            severity="info", status="observation" if declared else "violation",
            evidence=[code_evidence(u, line)], tool=tool, declared=declared))
    return out
