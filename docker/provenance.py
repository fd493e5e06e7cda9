#!/usr/bin/env python3
"""Write the image's provenance file (/etc/pgolf-harness/provenance.json) at build time.

What a reviewer needs to say what ran: the base image reference, the build
arguments, the git commit of pgolf-harness, the env profile it was built from
(with the profile file's sha256), every installed Python distribution with its
version, the distribution packages that matter (lrzip, python3, gcc) and the OS.
Stdlib only: it runs before anything else is certain to be importable.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import hashlib
import importlib.metadata as md
import importlib.resources
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path


def _dpkg(pkg: str) -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _canonical(name: str) -> str:
    """PEP 503 name (huggingface_hub -> huggingface-hub), so lookups do not depend on the spelling."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _os_release() -> dict[str, str]:
    rel: dict[str, str] = {}
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            k, _, v = line.partition("=")
            if k in ("ID", "VERSION_ID", "PRETTY_NAME"):
                rel[k] = v.strip('"')
    except OSError:
        pass
    return rel


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--base", required=True)
    ap.add_argument("--profile", required=True)
    ap.add_argument("--git-commit", default="unknown")
    ap.add_argument("--arg", action="append", default=[], help="NAME=VALUE build argument (repeatable)")
    ap.add_argument("--policies", type=Path, default=None,
                    help="folder of policy files (default: the installed harness package's policies)")
    a = ap.parse_args(argv)
    # The profile the installed wheel carries (package data), i.e. the one `harness env check` reads.
    policies = a.policies or Path(str(importlib.resources.files("harness").joinpath("policies")))
    prof = policies / f"{a.profile}.toml"
    dists = sorted({_canonical(d.metadata["Name"] or ""): d.version for d in md.distributions()}.items())
    doc = {
        "schema": "pgolf-harness/image-provenance-v1",
        "created_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "base": a.base,
        "build_args": dict(x.split("=", 1) for x in a.arg),
        "git_commit": a.git_commit,
        "env_profile": {"id": a.profile, "path": str(prof),
                        "sha256": hashlib.sha256(prof.read_bytes()).hexdigest() if prof.is_file() else None},
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "cuda_version_env": os.environ.get("CUDA_VERSION"),
        "os": _os_release(),
        "system_packages": {p: _dpkg(p) for p in ("lrzip", "python3", "gcc", "libcudnn9-cuda-12")},
        "python_packages": dict(dists),
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    print(f"provenance: {a.out} ({len(dists)} python packages)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
