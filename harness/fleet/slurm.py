"""The local engine: a plan's tasks as one sbatch job array on a Slurm cluster.

SkyPilot can drive Slurm too, but through SSH to a login node it manages; a cluster
reached with plain ``sbatch`` (a university cluster, the single-node Slurm CI starts)
runs the plan's same task files here. Each task's SkyPilot fields map onto Slurm:
``envs`` are exported, ``setup`` then ``run`` run in one bash script, accelerators
become ``--gres=gpu:N``, ``cpus`` becomes ``--cpus-per-task``. Nodes of such a
cluster share a file system with the submitting machine and have the harness
installed (plan with ``--image host``): file mounts are the local folders themselves
and the store must be a folder, not a bucket. The job array's index picks the task;
``plan/launch.json`` keeps the job id for ``harness fleet status``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from harness.errors import EnvironmentProblem, UsageError
from harness.fleet import skypilot
from harness.fleet.plan import Plan, read_launch, record_launch


def available() -> str | None:
    """None when sbatch can submit here, else why not."""
    for tool in ("sbatch", "squeue", "scontrol"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        proc = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"sinfo did not answer ({exc})"
    states = proc.stdout.split()
    if proc.returncode != 0 or not any(s.rstrip("*~#") in ("idle", "mixed", "allocated") for s in states):
        return f"no Slurm node is up (sinfo: {proc.stdout.strip() or proc.stderr.strip() or 'nothing'})"
    return None


def _cpus(resources: dict) -> int:
    m = re.match(r"(\d+)", str(resources.get("cpus") or "1"))
    return int(m.group(1)) if m else 1


def _gpus(resources: dict) -> int:
    acc = resources.get("accelerators")
    if not acc:
        return 0
    name, _, count = str(acc).partition(":")
    return int(count or 1)


def task_script(config: dict, workdir: Path) -> str:
    """One task's bash script: its envs exported, then its setup and run (file mounts are local folders)."""
    mounts = {k: v for k, v in (config.get("file_mounts") or {}).items() if isinstance(v, str)}
    buckets = [k for k, v in (config.get("file_mounts") or {}).items() if not isinstance(v, str)]
    if buckets:
        raise UsageError(f"task {config['name']} mounts a bucket at {buckets[0]}; the Slurm engine needs folders the "
                         "nodes share.", hint="Plan with --store DIR (a shared folder) and no --data-source bucket.")
    lines = ["#!/bin/bash", f"# {config['name']}: rendered from its SkyPilot task by harness fleet launch --engine slurm",
             "set -euo pipefail", f"cd {shlex.quote(str(workdir))}"]
    for key, value in (config.get("envs") or {}).items():
        value = mounts.get(value, value)  # a mounted folder is the folder itself on a shared file system
        lines.append(f"export {key}={shlex.quote(str(value))}")
    for part in ("setup", "run"):
        if config.get(part):
            lines += [f"# --- {part}", f"( {config[part].strip()}\n)"]
    return "\n".join(lines) + "\n"


def array_script(plan: Plan, scripts: list[Path], resources: dict) -> str:
    out_dir = plan.folder / "slurm"
    lines = ["#!/bin/bash", f"#SBATCH --job-name=pgolf-{plan.id}"[:80], f"#SBATCH --array=0-{len(scripts) - 1}",
             f"#SBATCH --output={out_dir}/%A_%a.out", f"#SBATCH --cpus-per-task={_cpus(resources)}",
             "#SBATCH --nodes=1"]
    if _gpus(resources):
        lines.append(f"#SBATCH --gres=gpu:{_gpus(resources)}")
    lines += ["set -euo pipefail", "TASKS=(" + " ".join(shlex.quote(str(s)) for s in scripts) + ")",
              'exec bash "${TASKS[$SLURM_ARRAY_TASK_ID]}"']
    return "\n".join(lines) + "\n"


@dataclass
class Launched:
    job_id: str
    script: Path
    tasks: dict[str, str]  # task id -> array job id (<job>_<index>)


def launch(plan: Plan, workdir: Path, extra_sbatch: list[str] | None = None) -> Launched:
    """Render every task for Slurm and submit them as one array job."""
    if skypilot.is_bucket(plan.store):
        raise UsageError(f"the plan's store is the bucket {plan.store}; the Slurm engine writes to a shared folder.",
                         hint="Plan again with --store DIR.")
    why = available()
    if why:
        raise EnvironmentProblem(f"cannot submit to Slurm here: {why}.", hint="sh .ci/setup-slurm.sh starts a local one.")
    out_dir = plan.folder / "slurm"
    if read_launch(plan):
        raise UsageError(f"{plan.folder} was launched already.", hint="Plan again for a new run of the same tasks.")
    out_dir.mkdir(parents=True, exist_ok=True)
    scripts, resources = [], {}
    for task in plan.tasks:
        config = skypilot.read_task(plan.folder / task.task_file)
        resources = config.get("resources") or {}
        script = out_dir / f"{task.id}.sh"
        script.write_text(task_script(config, workdir))
        scripts.append(script)
    array = out_dir / "array.sbatch"
    array.write_text(array_script(plan, scripts, resources))
    proc = subprocess.run(["sbatch", "--parsable", *(extra_sbatch or []), str(array)], capture_output=True,
                          text=True, timeout=60)
    if proc.returncode != 0:
        raise EnvironmentProblem(f"sbatch refused the plan: {proc.stderr.strip()}")
    job_id = proc.stdout.strip().split(";")[0]
    launched = Launched(job_id, array, {t.id: f"{job_id}_{i}" for i, t in enumerate(plan.tasks)})
    record_launch(plan, "slurm", launched.tasks, job_id)
    return launched


def queue(job_id: str) -> dict[str, dict]:
    """Slurm's view of each array task still known to it: state, node, elapsed (`scontrol show job`,
    which also keeps finished jobs for a few minutes; this cluster keeps no accounting)."""
    try:
        proc = subprocess.run(["scontrol", "show", "job", "--oneliner", job_id], capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out = {}
    for line in proc.stdout.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        array_id, index = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
        if not array_id or not index or not index.isdigit():
            continue  # the pending remainder of the array ("1-3") is listed under one line
        out[f"{array_id}_{index}"] = {"state": fields.get("JobState", "").lower(),
                                      "node": fields.get("NodeList") if fields.get("NodeList") != "(null)" else "",
                                      "elapsed": fields.get("RunTime", "")}
    return out


def wait(job_id: str, timeout: float, poll: float = 3.0) -> bool:
    """Until no task of the array is pending or running (True), or timeout seconds (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        proc = subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True, timeout=30)
        if proc.returncode == 0 and not proc.stdout.strip():
            return True
        time.sleep(poll)
    return False
