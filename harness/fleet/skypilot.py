"""SkyPilot task files for a plan, their validation by SkyPilot itself, and launching them.

A task file is SkyPilot's task YAML (name, resources, envs, file_mounts, setup,
run). The harness never imports SkyPilot: it pins click below what the harness's
own dependencies need, so it lives in its own environment (pipx or a venv) and
the harness calls its interpreter (validation) or its ``sky`` command (launch).
``sky_python()`` finds that interpreter: ``$PGOLF_SKY_PYTHON``, else the one
behind the ``sky`` command on PATH.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import EnvironmentProblem, UsageError

STORE_MOUNT = "/pgolf-store"
DATA_MOUNT = "/pgolf-data"
COMPILE_CACHE_DIR = "compile-cache"  # under the store, beside the plans
VENV = "$HOME/pgolf-venv"
BUCKET_SCHEMES = ("s3://", "gs://", "r2://", "cos://", "oci://", "https://", "nebius://")
# Images: a harness image pinned by digest, `profile` (the env profile's base image; setup installs the
# profile's pins and the harness from the synced workdir) or `host` (nodes have the harness: a Slurm
# cluster's shared install).
IMAGE_PROFILE = "profile"
IMAGE_HOST = "host"


def is_bucket(store: str) -> bool:
    return store.startswith(BUCKET_SCHEMES)


def accelerators_for(mode: str, given: str | None, nproc: int) -> str | None:
    """H100:8 in official mode; in smoke mode what was given (``none``: CPU only), else H100:<nproc>."""
    if mode == "official":
        return "H100:8"
    if given is not None:
        return None if given.lower() in ("none", "cpu", "") else given
    return f"H100:{nproc}"


@dataclass
class TaskSpec:
    name: str
    plan_id: str
    task: Any  # harness.fleet.plan.Task
    mode: str
    store: str
    infra: str | None
    accelerators: str | None
    image: str | None
    data_variant: str
    data_source: str | None
    cpus: str = "2+"  # CPU-only smoke tasks (SkyPilot's "N+": at least N)
    mounts: dict[str, str] = field(default_factory=dict)
    harness_cmd: str = "harness"
    train_seconds: float | None = None
    compile_cache: bool = False  # seeds share torch.compile caches through the store (one per submission version)
    extra_args: list[str] = field(default_factory=list)
    source_repo: str | None = None


def _image_id(image: str | None) -> str | None:
    from harness.image import build_args

    if image in (None, IMAGE_PROFILE):
        return f"docker:{build_args()['BASE']}"
    if image == IMAGE_HOST:
        return None
    if "@sha256:" not in image:
        raise UsageError(f"--image {image} is not pinned by digest (name@sha256:...).",
                         hint=f"Push the harness image and pass its digest, or use --image {IMAGE_PROFILE}.")
    return image if image.startswith("docker:") else f"docker:{image}"


def _install_steps() -> list[str]:
    """What the Dockerfile does, as a setup script on the profile's base image (same pins)."""
    from harness.image import build_args

    a = build_args()
    q = shlex.quote
    steps = [
        'SUDO=$(command -v sudo || true)',
        "$SUDO apt-get update -q && $SUDO apt-get install -y -q --no-install-recommends "
        "python3 python3-venv python3-dev gcc g++ lrzip git ca-certificates",
        f"[ -x {VENV}/bin/python ] || python3 -m venv {VENV}",
        f". {VENV}/bin/activate",
        f"pip install -q --extra-index-url {q(a['TORCH_INDEX'])} {q(a['TORCH_SPEC'])}",
    ]
    if a.get("FA3_SPEC"):
        steps.append(f"pip install -q --no-deps --find-links {q(a['FA3_FIND_LINKS'])} {q(a['FA3_SPEC'])}")
    steps.append("pip install -q " + " ".join(q(f"{pkg}=={a[arg]}") for pkg, arg in (
        ("brotli", "BROTLI_VERSION"), ("zstandard", "ZSTANDARD_VERSION"), ("sentencepiece", "SENTENCEPIECE_VERSION"),
        ("huggingface_hub", "HUGGINGFACE_HUB_VERSION"), ("python-minifier", "PYTHON_MINIFIER_VERSION"))))
    steps.append("pip install -q -e .")
    return steps


def task_config(spec: TaskSpec) -> dict:
    """The SkyPilot task (as a dict) of one (submission, seed)."""
    t = spec.task
    resources: dict[str, Any] = {}
    if spec.infra:
        resources["infra"] = spec.infra
    if spec.accelerators:
        resources["accelerators"] = spec.accelerators
    else:
        resources["cpus"] = spec.cpus
    image_id = _image_id(spec.image)
    if image_id:
        resources["image_id"] = image_id
    if spec.mode == "official":
        resources["disk_size"] = 200  # canonical shards, the image, the artifacts of a seed
    # Managed jobs: a preempted node is replaced and the seed starts again in a new run folder; a seed
    # that failed on its own is not rerun (its failure is the finding).
    resources["job_recovery"] = {"strategy": "FAILOVER", "max_restarts_on_errors": 0}

    bucket = is_bucket(spec.store)
    store_root = STORE_MOUNT if bucket else spec.store
    file_mounts: dict[str, Any] = {}
    if bucket:
        file_mounts[STORE_MOUNT] = {"source": spec.store, "mode": "MOUNT"}
    file_mounts.update(spec.mounts)

    setup: list[str] = ["set -euo pipefail"]
    if spec.image in (None, IMAGE_PROFILE):
        setup += _install_steps()
    run_args = [spec.harness_cmd, "reproduce", '"$PGOLF_REF"', "--mode", spec.mode, "--seeds", '"$PGOLF_SEED"',
                "--out", '"$PGOLF_OUT"', "--no-progress"]
    if spec.data_variant != "embedded":
        if spec.data_source:
            file_mounts[DATA_MOUNT] = {"source": spec.data_source, "mode": "COPY"}
            run_args += ["--data", f"{DATA_MOUNT}"]
        else:
            setup.append(f"{spec.harness_cmd} data fetch {shlex.quote(spec.data_variant)} --dest data")
    if spec.train_seconds:
        run_args += ["--train-seconds", f"{spec.train_seconds:g}"]
    if spec.compile_cache:
        # reproduce keeps one cache folder per submission version under it (never shared across
        # submissions) and records per seed whether it started cold or warm.
        run_args += ["--compile-cache", f"{store_root}/{COMPILE_CACHE_DIR}"]
    if spec.source_repo:
        run_args += ["--source-repo", shlex.quote(spec.source_repo)]
    run_args += [shlex.quote(a) for a in spec.extra_args]
    run = ["set -euo pipefail"]
    if spec.image in (None, IMAGE_PROFILE):
        run.append(f". {VENV}/bin/activate")
    run.append(" ".join(run_args))

    config: dict[str, Any] = {
        "name": spec.name,
        "resources": resources,
        "envs": {"PGOLF_PLAN": spec.plan_id, "PGOLF_TASK": t.id, "PGOLF_REF": t.ref, "PGOLF_SEED": str(t.seed),
                 "PGOLF_OUT": f"{store_root}/{t.out}"},
    }
    if spec.image in (None, IMAGE_PROFILE):
        config["workdir"] = "."  # the harness checkout the plan is launched from
    if file_mounts:
        config["file_mounts"] = file_mounts
    if len(setup) > 1:
        config["setup"] = "\n".join(setup) + "\n"
    config["run"] = "\n".join(run) + "\n"
    return config


class _TaskDumper(yaml.SafeDumper):
    """Scripts (setup, run) as literal blocks, readable as the shell they are."""


_TaskDumper.add_representer(str, lambda d, s: d.represent_scalar("tag:yaml.org,2002:str", s,
                                                                 style="|" if "\n" in s else None))


def write_task(path: Path, spec: TaskSpec) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# harness fleet task {spec.task.id} of plan {spec.plan_id} (SkyPilot task YAML)\n"
                    + yaml.dump(task_config(spec), Dumper=_TaskDumper, sort_keys=False, width=120))
    return path


def read_task(path: Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8"))


# ------------------------------------------------------------------ SkyPilot itself

def sky_python() -> str | None:
    """The Python interpreter SkyPilot is installed in, or None."""
    given = os.environ.get("PGOLF_SKY_PYTHON")
    if given:
        return given if Path(given).is_file() else None
    sky = shutil.which("sky")
    if not sky:
        return None
    try:
        first = Path(sky).read_text(errors="replace").splitlines()[0]
    except (OSError, IndexError):
        return None
    return first[2:].strip() if first.startswith("#!") and Path(first[2:].strip()).is_file() else None


_VALIDATE = """
import json, sys
import sky
out = {}
for path in sys.argv[1:]:
    try:
        task = sky.Task.from_yaml(path)
        out[path] = {"ok": True, "name": task.name, "resources": [str(r) for r in task.resources],
                     "sky": sky.__version__}
    except Exception as exc:
        out[path] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out))
"""


def validate_tasks(paths: list[Path], python: str | None = None, timeout: float = 300) -> dict[str, dict]:
    """Parse each task file with SkyPilot's own task parser (offline: no cloud is contacted)."""
    python = python or sky_python()
    if python is None:
        raise EnvironmentProblem("SkyPilot is not installed (no `sky` on PATH, PGOLF_SKY_PYTHON unset).",
                                 hint="pipx install skypilot (or a venv) and put `sky` on PATH.")
    proc = subprocess.run([python, "-c", _VALIDATE, *map(str, paths)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "SKYPILOT_DISABLE_USAGE_COLLECTION": "1"})
    if proc.returncode != 0:
        raise EnvironmentProblem(f"SkyPilot's task parser did not run: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def launch_argv(task_file: Path, name: str, managed: bool = True) -> list[str]:
    """`sky jobs launch` (managed: recovers from preemption) or `sky launch` on a cluster of its own."""
    if managed:
        return ["sky", "jobs", "launch", "--yes", "--detach-run", "--name", name, str(task_file)]
    return ["sky", "launch", "--yes", "--detach-run", "--down", "--cluster", name, str(task_file)]
