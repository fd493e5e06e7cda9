"""`harness fleet plan|launch|status|collect`: seeds and submissions on many nodes, one record each."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click

from harness.commands.reproduce import SeedList
from harness.errors import EnvironmentProblem, UsageError

STORE_HELP = ("Record store: a bucket (s3://, gs://, r2://...) mounted on every node, or a folder every node "
              "sees (a Slurm cluster's shared file system).")


@click.group("fleet")
def command() -> None:
    """Run (submission, seed) pairs on many nodes (SkyPilot or Slurm) and merge their records."""


@command.command("plan")
@click.argument("submissions", nargs=-1, required=True)
@click.option("--seeds", type=SeedList(), default="42,314,0", show_default=True, help="Comma-separated seeds, one task each.")
@click.option("--mode", type=click.Choice(["official", "smoke"]), default="official", show_default=True)
@click.option("--store", required=True, help=STORE_HELP)
@click.option("--out", type=click.Path(path_type=Path), required=True, help="The plan folder to write.")
@click.option("--infra", default=None, help="SkyPilot infra: a cloud (runpod, aws...), k8s, k8s/CONTEXT, slurm/CLUSTER.")
@click.option("--accelerators", default=None, help="Smoke plans: GPU:COUNT per task, or none for CPU (default H100:<nproc>).")
@click.option("--cpus", default="2+", show_default=True, help="CPU-only tasks (--accelerators none): SkyPilot's cpus.")
@click.option("--image", default=None, metavar="REF|profile|host",
              help="A harness image pinned by digest; `profile` (default): the env profile's base image, set up with "
                   "its pins; `host`: nodes have the harness installed (Slurm).")
@click.option("--data-source", default=None, help="A bucket or folder holding the dataset (default: harness data fetch on the node).")
@click.option("--train-seconds", type=float, default=None, help="Smoke training budget passed to each seed.")
@click.option("--compile-cache", is_flag=True,
              help="Seeds keep torch.compile caches in the store (one folder per submission version), so a seed "
                   "that starts after another seed of its submission finished starts warm.")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE", help="Smoke: trainer environment, as reproduce --env.")
@click.option("--harness-cmd", default="harness", show_default=True, help="How a node calls the harness.")
@click.option("--source-repo", default=None, help="Mirror or URL of openai/parameter-golf for PR references.")
def plan_cmd(submissions, seeds, mode, store, out, infra, accelerators, cpus, image, data_source, train_seconds,
             compile_cache, env_pairs, harness_cmd, source_repo) -> None:
    """Write one SkyPilot task per (SUBMISSION, seed) and plan.json into --out."""
    from harness.fleet.plan import make_plan

    extra = [a for pair in env_pairs for a in ("--env", pair)]
    plan = make_plan(list(submissions), seeds, mode=mode, store=store, out=out, infra=infra,
                     accelerators=accelerators, cpus=cpus, image=image, data_source=data_source, harness_cmd=harness_cmd,
                     train_seconds=train_seconds, compile_cache=compile_cache, extra_args=extra,
                     source_repo=source_repo)
    for t in plan.tasks:
        click.echo(f"{t.id:40} {t.task_file}  -> {plan.store}/{t.out}")
    click.echo(f"plan {plan.id}: {len(plan.tasks)} task(s) in {plan.folder}")


@command.command("validate")
@click.argument("plan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
def validate_cmd(plan_dir: Path) -> None:
    """Parse every task file of PLAN_DIR with SkyPilot's own task parser (offline)."""
    from harness.errors import VerificationFailed
    from harness.fleet.plan import load_plan
    from harness.fleet.skypilot import validate_tasks

    plan = load_plan(plan_dir)
    results = validate_tasks([plan.folder / t.task_file for t in plan.tasks])
    bad = {p: r for p, r in results.items() if not r["ok"]}
    for path, r in results.items():
        click.echo(f"{'OK ' if r['ok'] else 'BAD'} {path}  {', '.join(r.get('resources', [])) or r.get('error')}")
    if bad:
        raise VerificationFailed(f"{len(bad)} task file(s) rejected by SkyPilot.")


@command.command("launch")
@click.argument("plan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--engine", type=click.Choice(["skypilot", "slurm"]), default="skypilot", show_default=True)
@click.option("--unmanaged", is_flag=True, help="SkyPilot: `sky launch` one cluster per task instead of managed jobs.")
@click.option("--wait", "wait_s", type=float, default=None, help="Slurm: wait up to this many seconds for the array to end.")
def launch_cmd(plan_dir: Path, engine: str, unmanaged: bool, wait_s: float | None) -> None:
    """Submit every task of PLAN_DIR: SkyPilot managed jobs (sky jobs launch), or one Slurm job array."""
    from harness.fleet.plan import load_plan

    plan = load_plan(plan_dir)
    if engine == "slurm":
        from harness.fleet import slurm
        from harness.resolve import REPO_ROOT

        launched = slurm.launch(plan, REPO_ROOT)
        click.echo(f"slurm job array {launched.job_id}: {len(launched.tasks)} task(s) ({launched.script})")
        if wait_s and not slurm.wait(launched.job_id, wait_s):
            raise EnvironmentProblem(f"job array {launched.job_id} still runs after {wait_s:g} s.",
                                     hint=f"harness fleet status {plan_dir}")
        return
    from harness.fleet.plan import read_launch, record_launch
    from harness.fleet.skypilot import launch_argv
    from harness.resolve import REPO_ROOT

    if read_launch(plan):
        raise UsageError(f"{plan_dir} was launched already.", hint="Plan again for a new run of the same tasks.")
    jobs: dict[str, str] = {}
    for t in plan.tasks:
        argv = launch_argv(plan.folder / t.task_file, f"pgolf-{plan.id}-{t.id}"[:63], managed=not unmanaged)
        click.echo(" ".join(argv))
        try:  # from the harness checkout: it is the tasks' workdir
            proc = subprocess.run(argv, timeout=1800, cwd=REPO_ROOT)
        except FileNotFoundError:
            raise EnvironmentProblem("the `sky` command is not on PATH.", hint="pipx install skypilot") from None
        if proc.returncode != 0:
            raise EnvironmentProblem(f"sky refused task {t.id} (exit {proc.returncode}).")
        jobs[t.id] = argv[argv.index("--name" if "--name" in argv else "--cluster") + 1]
        record_launch(plan, "skypilot", jobs)


@command.command("status")
@click.argument("plan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--store", type=click.Path(path_type=Path), default=None, help="Where the store is here, if not the plan's path (a synced bucket).")
def status_cmd(plan_dir: Path, store: Path | None) -> None:
    """A table of PLAN_DIR's tasks: job, node, phase, elapsed, verdict."""
    from rich.console import Console
    from rich.table import Table

    from harness.fleet import slurm
    from harness.fleet.plan import load_plan, read_launch
    from harness.fleet.store import status_rows

    plan = load_plan(plan_dir)
    launch = read_launch(plan) or {}
    jobs = launch.get("tasks", {})
    # Slurm still knows its jobs (state, node, elapsed); for SkyPilot jobs the store tells the phase.
    queue = slurm.queue(launch["job_id"]) if launch.get("engine") == "slurm" else {}
    table = Table(title=f"plan {plan.id} ({plan.mode})")
    for col in ("task", "job", "node", "phase", "elapsed", "verdict"):
        table.add_column(col)
    for r in status_rows(plan, jobs, queue, store):
        table.add_row(r.task, r.job, r.node, r.phase, r.elapsed, r.verdict)
    Console(width=160).print(table)


@command.command("collect")
@click.argument("plan_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Where merged records go (default PLAN_DIR/records).")
@click.option("--store", type=click.Path(path_type=Path), default=None, help="Where the store is here, if not the plan's path (a synced bucket).")
def collect_cmd(plan_dir: Path, out: Path | None, store: Path | None) -> None:
    """Merge each submission's finished seed records into one record. Exit 1 when a seed has none yet."""
    from harness.errors import VerificationFailed
    from harness.fleet.plan import load_plan
    from harness.fleet.store import collect

    plan = load_plan(plan_dir)
    results = collect(plan, out or plan.folder / "records", store, say=click.echo)
    for c in results:
        click.echo(f"{c.submission}: seeds {c.seeds} merged -> {c.record}" if c.record
                   else f"{c.submission}: no finished seed yet")
        if c.missing:
            click.secho(f"{c.submission}: no record yet for seed(s) {c.missing}", fg="yellow")
    if any(c.missing for c in results):
        raise VerificationFailed("some seeds have no record yet.", hint=f"harness fleet status {plan_dir}")
    if not results:
        raise UsageError("the plan has no tasks.")
