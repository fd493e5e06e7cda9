"""`harness log events|timeline|policies`: what the core parser reads from a training log."""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.core.verdict import FAIL, PASS, PASS_GRACE
from harness.errors import UsageError


def _timing_policies(ids: tuple[str, ...]) -> list:
    from harness.core.policy import PolicyError, load_policy

    out = []
    for pid in ids:
        try:
            out.append(load_policy(pid, kind="timing"))
        except PolicyError as exc:
            raise UsageError(f"{exc}.", hint="See `harness log policies`.") from None
    return out


@click.group("log")
def command() -> None:
    """Read training logs through the one core parser (events, headline, timeline, timing verdicts).

    \b
    Examples:
      harness log timeline records/.../train_seed42.log
      harness log timeline runs/<id>/seed-42/harness.log --policy smoke --json
      harness log events train.log --kind metric --kind stop
      harness log events train.log --json > events.json
      harness log policies
    """


@command.command("events")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", "kinds", multiple=True, help="only events of this kind (repeatable)")
@click.option("--text", is_flag=True, help="include each event's line text")
@click.option("--json", "as_json", is_flag=True, help="one JSON array instead of JSON lines")
def events_cmd(log: Path, kinds: tuple[str, ...], text: bool, as_json: bool) -> None:
    """Print LOG's events (kind, line, fields, stamp) as JSON lines, or one array with --json."""
    from harness.core.events import events_json, parse_file

    rows = [d for d in events_json(parse_file(log), with_text=text) if not kinds or d["kind"] in kinds]
    if as_json:
        click.echo(json.dumps(rows, indent=1, default=str))
        return
    for d in rows:
        click.echo(json.dumps(d, default=str))


@command.command("timeline")
@click.argument("log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--policy", "policy_ids", multiple=True, default=("organizer-tda-v1", "strict"), show_default=True,
              help="timing policy id or file (repeatable)")
@click.option("--claimed-bpb", type=float, default=None, help="check the headline against this claimed val_bpb")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def timeline_cmd(log: Path, policy_ids: tuple[str, ...], claimed_bpb: float | None, as_json: bool) -> None:
    """Summary, headline metric, timeline segments and timing verdicts of LOG.

    Exit status: 0 when every verdict of the first policy passes (PASS or
    PASS_GRACE), 1 when one FAILs, 2 usage error.
    """
    from harness.core.logreport import analyze_log

    pols = _timing_policies(policy_ids)
    a = analyze_log(log, pols, claimed_bpb=claimed_bpb)
    if as_json:
        click.echo(json.dumps(a, indent=2, default=str))
    else:
        _print(a)
    first = a["policies"][pols[0].id]["verdicts"] if pols else []
    raise SystemExit(1 if any(v["status"] == FAIL for v in first) else 0)


def _print(a: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    import sys

    c = Console(width=None if sys.stdout.isatty() else 140)  # pipes and CI logs: no 80-column wrapping
    s, h = a["summary"], a["headline"]
    c.print(f"[bold]{a['log']}[/bold]")
    hw = s["hardware"]
    c.print(f"seed {s['seed']}  world {s['world_size']}  steps {s['steps']}  train_time {s['train_time_s']} s  "
            f"artifact {s['artifact_bytes']} B  gpu "
            + (f"{hw['gpu_count']}x {hw['gpu_name']}" if hw["gpu_name"] else "not logged")
            + f"  torch {s['torch_version'] or 'not logged'}",
            highlight=False)
    if h:
        c.print(f"headline: {h['name']} val_loss {h['val_loss']} val_bpb {h['val_bpb']} (line {h['line_no']}; "
                f"{h['reason']})", highlight=False)
    else:
        c.print("headline: none (no scored metric line)")
    for pid, p in a["policies"].items():
        t = Table(title=f"{pid} (clock: {p['clock'] or 'no stamps: script figures'})")
        for col in ("segment", "role", "seconds", "source", "script", "counted"):
            t.add_column(col)
        for seg in p["segments"]:
            secs = "-" if seg["seconds"] is None else f"{seg['seconds']:.3f}"
            scr = "-" if seg["script_seconds"] is None else f"{seg['script_seconds']:.3f}"
            t.add_row(seg["name"], seg["role"], secs, seg["source"], scr, "no" if seg["excluded"] else "yes")
        c.print(t)
        for v in p["verdicts"]:
            col = {PASS: "green", PASS_GRACE: "yellow", FAIL: "red"}.get(v["status"], "blue")
            val = "-" if v["value_s"] is None else f"{v['value_s']:.3f} s"
            cap = "" if v["cap_s"] is None else f" / cap {v['cap_s']:g} s"
            c.print(f"  {v['name']}: [{col}]{v['status']}[/] {val}{cap}  {v['detail']}", highlight=False)
            for w in v["warnings"]:
                c.print(f"    [yellow]warning[/] {w}", highlight=False)
        for f in p["findings"]:
            c.print(f"  [yellow]{f['severity']}[/] {f['message']}", highlight=False)


@command.command("policies")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def policies_cmd(as_json: bool) -> None:
    """List the shipped policies (id, kind, version, effective date, sha256)."""
    from harness.core.policy import list_policies, load_policy

    rows = []
    for pid in list_policies():
        p = load_policy(pid)
        rows.append({"id": p.id, "kind": p.kind, "version": p.version, "effective_from": p.effective_from,
                     "sha256": p.sha256, "description": p.description})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for r in rows:
        click.echo(f"{r['id']:<30} {r['kind']:<10} v{r['version']:<3} from {r['effective_from']}  {r['sha256'][:12]}  "
                   f"{r['description']}")
