"""`harness compare RUN CLAIM`: claimed vs reproduced, per seed and for the mean."""

from __future__ import annotations

from pathlib import Path

import click

from harness.ui import output_console

HELP = """Compare a reproduction RUN with what CLAIM says, per seed and for the mean.

\b
RUN    a runs/<id>/ folder written by `harness reproduce`, any folder of training
       logs, or one log.
CLAIM  a submission.json (upstream or ours) or a records folder holding one (its
       seed logs beside it add steps, tok/s, the node and timing), a
       submissions/NAME entry whose harness.toml has [[claim.seeds]], or a PR
       reference github:openai/parameter-golf#N[@sha] (needs --source-repo or the
       default mirror).

\b
Tolerances (s = sample std of the claimed per-seed val_bpb, floored at 0.0005):
  per seed  |bpb_run - bpb_claim| <= 3 s
  mean      |mean_run - mean_claim| <= t(0.995, n_claim-1) * s * sqrt(1/n_claim + 1/n_run)
  bytes     every reproduced seed <= 16,000,000 (margin shown); steps and tok/s
            below 97 % of the claim warn and both nodes are named.
Timing verdicts of logs use --policy (default organizer-tda-v1); a runs/<id>/
record's verdicts are the ones measured on the harness clock.

\b
Examples:
  harness compare runs/20261124T1000Z-reference-official runs/20261124T0900Z-reference-official
  harness compare runs/pr2014-smoke records/track_10min_16mb/2026-04-27_X --format markdown --out compare.md
  harness compare runs/my-rerun github:openai/parameter-golf#1934 --source-repo ./parameter-golf.git
  harness compare ./rerun-logs/ submissions/pr2014 --format json

\b
Exit codes: 0 reproduces (warnings allowed); 1 does not reproduce, or nothing
could be compared; 2 usage error (a path that does not exist, no seeds, an
unknown policy); 3 environment problem (log parser missing, PR not fetchable).
"""


@click.command("compare", help=HELP)
@click.argument("run")
@click.argument("claim")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the report to FILE (the verdict line still goes to stdout).")
@click.option("--source-repo", default=None, metavar="MIRROR",
              help="Local openai/parameter-golf mirror (or URL) for PR references.")
@click.option("--policy", "policy_id", default=None, help="Timing policy for logs (default organizer-tda-v1).")
def command(run: str, claim: str, fmt: str, out: Path | None, source_repo: str | None, policy_id: str | None) -> None:

    from harness.compare.judge import compare_paths
    from harness.compare.render import TEXT_WIDTH, text_renderables

    report = compare_paths(run, claim, policy=policy_id, source_repo=source_repo)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report.render(fmt), encoding="utf-8")
        click.echo(f"{report.verdict}: report written to {out}")
    elif fmt == "text":
        console = output_console(piped_width=TEXT_WIDTH)
        for item in text_renderables(report):
            console.print(item, highlight=False)
    else:
        click.echo(report.render(fmt), nl=False)
    raise SystemExit(report.exit_code)
