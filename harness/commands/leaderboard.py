"""`harness leaderboard RECORDS... --out DIR`: table, CSV, JSON, progress plot and HTML page."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from harness.core.acceptance import load_acceptance_policy
from harness.leaderboard.board import DEFAULT_POLICIES, build_leaderboard
from harness.leaderboard.render import write_outputs
from harness.core.policy import PolicyError
from harness.errors import UsageError
from harness.ui import output_console


@click.command("leaderboard")
@click.argument("records", nargs=-1, required=True, type=click.Path())
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Folder for leaderboard.md/.csv/.json, progress.png, index.html.")
@click.option(
    "--policy", "policies", multiple=True, metavar="ID|PATH",
    help="Acceptance policy id (`harness log policies`) or file; repeat for several. "
    f"Default: {', '.join(DEFAULT_POLICIES)}.",
)
@click.option("--seeds-from-logs", is_flag=True,
              help="For upstream records without per-seed values, read them from the folder's logs (one log parser).")
@click.option("--verify", "verify", is_flag=True,
              help="Run `harness verify` (log and record rules) on every record and show its error findings "
                   "beside the verdicts (acceptance is not changed by them).")
def command(records: tuple[str, ...], out_dir: str, policies: tuple[str, ...], seeds_from_logs: bool,
            verify: bool) -> None:
    """Rank RECORDS (submission.json files or folders, searched recursively).

    Records are ordered by the PR that added them (harness/core/pr_index.json;
    others by their typed date, with a note) and judged by each acceptance
    policy against the state of the art at that point, from the per-seed
    values. Exit 0 when the outputs were written.
    """
    missing = [r for r in records if not Path(r).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}", hint="Pass submission.json files or records folders.")
    try:
        pols = [load_acceptance_policy(p) for p in (policies or DEFAULT_POLICIES)]
    except PolicyError as exc:
        raise UsageError(f"{exc}.", hint="See `harness log policies`, or pass --policy PATH to an acceptance "
                                         "policy TOML file (kind = \"acceptance\").") from None
    lb = build_leaderboard(records, pols, seeds_from_logs=seeds_from_logs, verify=verify)
    if not lb.entries:
        raise UsageError("no submission*.json found under the given paths.", hint="Pass a records folder.")
    paths = write_outputs(lb, Path(out_dir))

    console = output_console(piped_width=150)
    for p in lb.policies:
        t = Table(title=f"Frontier under {p.label()}", title_justify="left")
        for col in ("#", "PR", "record", "val_bpb", "seeds", "why"):
            t.add_column(col, no_wrap=True, overflow="ellipsis", max_width=60 if col == "why" else None)
        for e in lb.frontier(p.id):
            v = e.verdicts[p.id]
            t.add_row(str(e.order), f"#{e.pr}" if e.pr else "-", e.label[:40], f"{e.val_bpb:.5f}", str(e.n_seeds),
                      v.reasons[0] if v.reasons else "")
        console.print(t)
    n_rec = sum(1 for e in lb.entries if e.track == "10min_16mb")
    console.print(f"{len(lb.entries)} records ({n_rec} on the 10-minute track); wrote:")
    for kind, path in paths.items():
        console.print(f"  {kind:8} {path}")
