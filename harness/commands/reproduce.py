"""`harness reproduce`: run a submission's seeds under the harness and write a verified record."""

from __future__ import annotations

from pathlib import Path

import click

from harness.errors import UsageError

HELP = """Run SUBMISSION's seeds under the harness's clock and write runs/<run-id>/submission.json.

\b
SUBMISSION is a records folder, a registry entry (submissions/NAME or NAME), or
github:openai/parameter-golf#N[@sha] (fetched with git from --source-repo).

\b
Examples:
  harness reproduce submissions/reference --mode smoke --seeds 1,2
  harness reproduce github:openai/parameter-golf#2014 --mode smoke --nproc 1 --fa3-shim \\
      --source-repo /path/to/parameter-golf-mirror --data ./data/datasets/caseops --train-seconds 120
  harness reproduce submissions/pr2014 --mode official --seeds 42,314,0 --compile-cache ~/.cache/pgolf-compile

\b
Exit codes: 0 every seed ran and no verdict failed; 1 a seed failed, a timing verdict
is FAIL or an error finding (artifact over the cap, wrong byte denominator);
2 usage error; 3 environment problem (hardware for official mode, missing data or tools).
"""


class SeedList(click.ParamType):
    """Comma-separated, distinct integers: "42,314,0". An empty item ("1,,2", "1,") is a typo, not a skip."""

    name = "SEEDS"

    def convert(self, value, param, ctx) -> list[int]:
        if isinstance(value, list):
            return value
        items = [x.strip() for x in str(value).split(",")]
        try:
            seeds = [int(x) for x in items]
        except ValueError:
            self.fail(f"comma-separated integers without empty items, e.g. 42,314,0 (got {value!r})", param, ctx)
        if len(set(seeds)) != len(seeds):
            self.fail(f"{value!r} repeats a seed", param, ctx)
        return seeds


@click.command("reproduce", help=HELP)
@click.argument("submission")
@click.option("--seeds", type=SeedList(), default="42,314,0", show_default=True, help="Comma-separated seeds.")
@click.option("--nproc", type=click.IntRange(min=1), default=None, help="Ranks per seed (default: 8 official, the manifest's nproc in smoke).")
@click.option("--mode", type=click.Choice(["official", "smoke"]), default="smoke", show_default=True)
@click.option("--policy", "policy_id", default=None, help="Timing policy id (default organizer-tda-v1; smoke in smoke mode).")
@click.option("--train-seconds", type=float, default=None, help="Smoke training budget (default: the manifest's, else 60).")
@click.option("--eval-seconds", type=float, default=None, help="Smoke eval budget (default: the manifest's, else 60).")
@click.option("--data", type=click.Path(path_type=Path), default=None, help="Dataset directory (shards); default: the manifest's variant.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs"), show_default=True)
@click.option("--source-repo", default=None, help="Local mirror or URL of openai/parameter-golf for PR references.")
@click.option("--fa3-shim", is_flag=True, help="Provide flash_attn_interface via SDPA (smoke only; marks the record unofficial).")
@click.option("--no-network-isolation", is_flag=True, help="Let the trainer reach the network (recorded).")
@click.option("--env", "env_pairs", multiple=True, metavar="KEY=VALUE",
              help="Extra trainer environment for smoke runs (recorded as an override). Repeatable.")
@click.option("--compile-cache", type=click.Path(path_type=Path), default=None, metavar="DIR",
              help="Keep torch.compile caches under DIR, one folder per submission version, shared by its seeds "
                   "and later runs (the record says per seed cold or warm). Default: a fresh cache per seed.")
@click.option("--run-id", default=None, help="Name of the run directory under --out.")
@click.option("--no-progress", is_flag=True, help="No live table (logs and CI).")
@click.option("--sandbox", "sandbox_engine", type=click.Choice(["auto", "bwrap", "fallback"]), default="auto",
              show_default=True, help="Seed sandbox: bubblewrap (the trust boundary; auto picks it when installed) "
                                      "or the hand-written fallback (contains a runaway, not an adversary; smoke only).")
def command(submission, seeds, nproc, mode, policy_id, train_seconds, eval_seconds, data, out, source_repo,
            fa3_shim, no_network_isolation, env_pairs, compile_cache, run_id, no_progress, sandbox_engine) -> None:
    from rich.console import Console
    from rich.table import Table

    from harness.reproduce import ReproduceOptions, reproduce, summary_rows
    from harness.ui import LiveSeedTable

    if fa3_shim and mode == "official":
        raise UsageError("--fa3-shim is for smoke runs; official runs need FlashAttention 3 itself.")
    import sys

    piped = not sys.stdout.isatty()
    # Logs and CI: tables get 140 columns instead of 80; lines (paths, findings) are never wrapped at all.
    console = Console(width=140 if piped else None, soft_wrap=piped)
    user_env = {}
    for pair in env_pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--env takes KEY=VALUE (got {pair!r}).")
        user_env[key] = value
    opts = ReproduceOptions(seeds=seeds, nproc=nproc, mode=mode, policy=policy_id,
                            train_seconds=train_seconds, eval_seconds=eval_seconds, data=data, out=out,
                            source_repo=source_repo, fa3_shim=fa3_shim, isolate_network=not no_network_isolation,
                            run_id=run_id, progress=not no_progress, env=user_env,
                            compile_cache=compile_cache, sandbox_engine=sandbox_engine)
    result = reproduce(submission, opts, console_print=lambda s: console.print(s, highlight=False),
                       progress_view=LiveSeedTable)
    if not no_progress and not sys.stderr.isatty():
        click.echo(err=True)  # the live table's last frame ends without a newline when it is not a terminal
    table = Table(title=f"{result.record['name']} — {mode}")
    for col in ("seed", "status", "val_loss", "val_bpb", "bytes (disk)", "bytes (log)", "steps", "wall", "verdicts"):
        table.add_column(col)
    fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
    for r in summary_rows(result):
        table.add_row(str(r["seed"]), r["status"], fmt(r["val_loss"], ".6f"), fmt(r["val_bpb"], ".8f"),
                      fmt(r["bytes"], ","), fmt(r["bytes_logged"], ","), fmt(r["steps"], "d"),
                      fmt(r["wall_s"], ".1f"), r["verdicts"])
    console.print(table, soft_wrap=False)
    stats = result.record["verification"]["stats"]  # val_bpb statistics (val_loss nested)
    if stats and stats.get("mean") is not None:
        std = stats["std_sample"]
        console.print(f"val_bpb mean {stats['mean']:.8f}  std(sample) {'-' if std is None else f'{std:.8f}'}  "
                      f"std(pop) {stats['std_population']:.8f}  n={stats['n']}")
    for f in result.record["verification"]["findings"]:
        if f.get("severity") in ("error", "warning"):
            console.print(f"[{'red' if f['severity'] == 'error' else 'yellow'}]{f['severity']}[/] "
                          f"seed {f.get('seed')}: {f.get('message')}", highlight=False)
    if mode == "smoke":
        console.print("smoke mode: budgets scaled; the record is marked unofficial.")
    console.print(f"record: {result.record_path}  (wall {result.wall_s:.1f}s)")
    raise SystemExit(result.exit_code)
