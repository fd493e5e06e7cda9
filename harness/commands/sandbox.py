"""`harness sandbox check`: which trust-boundary properties a seed's sandbox holds here."""

from __future__ import annotations

import json

import click


@click.group("sandbox")
def command() -> None:
    """Inspect the per-seed sandbox (privilege separation, view, limits, kill method)."""


@command.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the properties and the machine's probe as JSON.")
@click.option("--engine", type=click.Choice(["auto", "bwrap", "fallback"]), default="auto", show_default=True,
              help="Sandbox engine to try (auto: bubblewrap when installed).")
@click.option("--official", is_flag=True, help="Exit 3 when a property official mode requires is missing.")
def check(as_json: bool, engine: str, official: bool) -> None:
    """Start a real seed sandbox around a probe that tries what a hostile trainer would
    (unmount, setns, unshare a user namespace, reach 127.0.0.1, read the harness's files and
    secrets) and list each property as held or missing.

    \b
    Examples:
      harness sandbox check
      harness sandbox check --official      # exit 3 unless official mode could run here
      harness sandbox check --json

    Exit codes: 0 (listed), 3 (--official and a required property is missing).
    """
    from rich.console import Console
    from rich.table import Table

    from harness.errors import EnvironmentProblem
    from harness.sandbox import detect_isolation
    from harness.sandbox_check import probe_properties

    props = probe_properties(engine)
    info = detect_isolation()
    if as_json:
        click.echo(json.dumps({"properties": [p.to_dict() for p in props], "machine": info}, indent=2, sort_keys=True))
    else:
        table = Table(title="Seed sandbox: trust-boundary properties on this machine")
        for col in ("property", "held", "official", "evidence"):
            table.add_column(col)
        for p in props:
            table.add_row(p.name, "[green]held[/]" if p.held else "[red]missing[/]",
                          "required" if p.required else "", p.detail)
        table.add_row("kill_method", info["kill_method"], "", "cgroup.kill, else the seed's PID namespace")
        table.add_row("nvidia_smi", "yes" if info["nvidia_smi"] else "no", "",
                      "GPU memory release is checked after a kill" if info["nvidia_smi"] else "no GPU check")
        Console().print(table)
    missing = [p.name for p in props if p.required and not p.held]
    if official and missing:
        raise EnvironmentProblem(f"official mode would refuse here: missing {', '.join(missing)}.",
                                 hint="Run as root with bubblewrap installed, or in the image (README: Isolation).")
