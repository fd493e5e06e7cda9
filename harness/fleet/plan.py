"""`harness fleet plan`: one task per (submission, seed), written once, run by any engine.

A plan folder holds ``plan.json`` (the index: which submission and seed each task
runs and where its record lands in the store) and ``tasks/<task>.yaml``, one
SkyPilot task file per (submission, seed). SkyPilot launches those files on a
cloud, Kubernetes or Slurm; the local Slurm engine (``harness.fleet.slurm``) runs
the same files' setup and run commands as sbatch array jobs. Every task writes
its one-seed record to ``<store>/<plan>/<submission>/seed-<S>/<run-id>/``, and
``harness fleet collect`` merges them per submission.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness import __version__
from harness.errors import UsageError
from harness.fleet import skypilot

PLAN_FILE = "plan.json"
LAUNCH_FILE = "launch.json"  # which engine took the plan, and each task's job there
PLAN_FORMAT = "pgolf-harness/fleet-plan-v1"
OFFICIAL_ACCELERATORS = "H100:8"


@dataclass
class Task:
    id: str  # <submission>-seed-<S>
    submission: str  # the submission's name (the store folder)
    ref: str  # what the node passes to `harness reproduce`
    seed: int
    task_file: str  # relative to the plan folder
    out: str  # the seed's folder, relative to the store


@dataclass
class Plan:
    id: str
    mode: str
    store: str  # a bucket URI (s3://, gs://, r2://, ...) or a folder every node sees
    folder: Path  # where plan.json is
    tasks: list[Task] = field(default_factory=list)
    infra: str | None = None
    created_at: str = ""
    harness_version: str = __version__

    def store_path(self, task: Task) -> Path:
        """A task's seed folder when the store is a shared folder (not a bucket)."""
        if skypilot.is_bucket(self.store):
            raise UsageError(f"the plan's store is the bucket {self.store}, not a folder on this machine.",
                             hint="Mount or sync the bucket and pass --store DIR to the command.")
        return Path(self.store) / task.out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["folder"] = str(self.folder)
        return {"format": PLAN_FORMAT, **d}


def load_plan(folder: Path) -> Plan:
    path = Path(folder) / PLAN_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{folder} is not a fleet plan ({exc}).", hint="Write one with `harness fleet plan`.") from None
    if raw.get("format") != PLAN_FORMAT:
        raise UsageError(f"{path} is not a {PLAN_FORMAT} plan.")
    tasks = [Task(**t) for t in raw.pop("tasks")]
    raw.pop("format")
    raw["folder"] = Path(folder).resolve()
    return Plan(tasks=tasks, **raw)


def _safe(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "x"


def node_ref(sub) -> tuple[str, dict[str, str]]:
    """How a node names the submission, and the file mounts that make it there.

    Registry entries travel with the harness (the image or the synced workdir holds
    submissions/), PR heads are fetched by the node at their pinned commit, and any other
    folder is mounted into the task."""
    from harness.resolve import is_registry_entry

    origin = sub.origin
    manifest = Path(origin.get("manifest") or origin.get("path") or sub.folder)
    entry = manifest.parent if manifest.is_file() else manifest
    if is_registry_entry(entry):
        # A registry name: every harness install has submissions/ beside it (manifest, env, claims
        # included), and `harness reproduce NAME` finds it from any working directory.
        return entry.name, {}
    if origin.get("kind") == "pr":
        return f"github:{origin['repo']}#{origin['pr']}@{origin['sha']}", {}
    path = Path(origin.get("path") or sub.folder)
    remote = f"/pgolf-submissions/{_safe(sub.name)}"
    return remote, {remote: str(path)}


def make_plan(refs: list[str], seeds: list[int], *, mode: str, store: str, out: Path, infra: str | None = None,
              accelerators: str | None = None, cpus: str = "2+", image: str | None = None, data_source: str | None = None,
              harness_cmd: str = "harness", train_seconds: float | None = None, compile_cache: bool = False,
              extra_args: list[str] | None = None, source_repo: str | None = None) -> Plan:
    """Resolve every submission, then write plan.json and one task file per (submission, seed)."""
    from harness.resolve import resolve

    if not refs:
        raise UsageError("give at least one submission.")
    if not seeds:
        raise UsageError("give at least one seed (--seeds 42,314,0).")
    if mode == "official" and accelerators not in (None, OFFICIAL_ACCELERATORS):
        raise UsageError(f"official plans run on {OFFICIAL_ACCELERATORS}; --accelerators is for smoke plans.")
    out = Path(out)
    if (out / PLAN_FILE).exists():
        raise UsageError(f"{out} already holds a plan.", hint="Pick another --out.")
    plan = Plan(id=_safe(out.resolve().name), mode=mode, store=store, folder=out.resolve(), infra=infra,
                created_at=_dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat())
    subs = [resolve(r, source_repo=source_repo) for r in refs]
    for sub in subs:
        if mode == "official" and sub.manifest.data == "embedded":
            raise UsageError(f"{sub.name} reads the embedded toy data; official runs need a canonical dataset.",
                             hint="Plan it with --mode smoke.")
    names = [s.name for s in subs]
    if len(set(names)) != len(names):
        raise UsageError(f"two submissions share the name {next(n for n in names if names.count(n) > 1)!r}; "
                         "their records would land in one folder.")
    (out / "tasks").mkdir(parents=True, exist_ok=True)
    for sub in subs:
        ref, mounts = node_ref(sub)
        for seed in seeds:
            task = Task(id=f"{_safe(sub.name)}-seed-{seed}", submission=sub.name, ref=ref, seed=seed,
                        task_file=f"tasks/{_safe(sub.name)}-seed-{seed}.yaml",
                        out=f"{plan.id}/{sub.name}/seed-{seed}")
            spec = skypilot.TaskSpec(
                name=f"pgolf-{plan.id}-{task.id}"[:63].rstrip("-"), plan_id=plan.id, task=task, mode=mode,
                store=store, infra=infra,
                accelerators=skypilot.accelerators_for(mode, accelerators, sub.manifest.nproc),
                image=image, data_variant=sub.manifest.data, data_source=data_source, cpus=cpus, mounts=mounts,
                harness_cmd=harness_cmd, train_seconds=train_seconds, compile_cache=compile_cache,
                extra_args=list(extra_args or []),
                source_repo=source_repo if source_repo and "://" in source_repo else None)
            skypilot.write_task(out / task.task_file, spec)
            plan.tasks.append(task)
    (out / PLAN_FILE).write_text(json.dumps(plan.to_dict(), indent=2) + "\n")
    return plan


def record_launch(plan: Plan, engine: str, jobs: dict[str, str], job_id: str | None = None) -> Path:
    """Note which engine runs the plan and each task's job (fleet status shows them)."""
    path = plan.folder / LAUNCH_FILE
    path.write_text(json.dumps({"engine": engine, "job_id": job_id, "tasks": jobs,
                                "submitted_at": _dt.datetime.now(_dt.timezone.utc).isoformat()}, indent=2) + "\n")
    return path


def read_launch(plan: Plan) -> dict | None:
    path = plan.folder / LAUNCH_FILE
    return json.loads(path.read_text()) if path.is_file() else None
