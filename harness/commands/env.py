"""`harness env check`: what this machine would run a submission with, against a policy."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from harness import env as envlib
from harness.errors import EnvironmentProblem
from harness.sandbox import visible_env


@click.group("env")
def command() -> None:
    """Inspect the runtime environment (GPU, driver, CUDA, torch, FA3, tools)."""


@command.command("check")
@click.option("--policy", "policy", default="official", show_default=True,
              help="official (8x H100 SXM strict; the reference-2026-04 profile as warnings), "
                   "smoke (no hardware rule; profile differences as info), reference-2026-04 "
                   "(profile only), or a path to a .toml profile")
@click.option("--json", "as_json", is_flag=True, help="print the report and findings as JSON")
def check(policy: str, as_json: bool) -> None:
    """Report GPU model/count/form factor, driver, CUDA, torch, triton, FlashAttention 3,
    lrzip, brotli, pyminify and Python, and compare them with POLICY.

    \b
    Exit codes: 0 no hardware mismatch; 3 the official policy's hardware rule
    (8x H100 SXM) is not met -- one line per mismatch. Differences from the
    reference-2026-04 env profile are warnings, never a refusal.
    """
    pol = envlib.load_env_policy(policy)
    report = envlib.env_report(trainer_env=visible_env({}))  # packages as a trainer sees them
    findings = envlib.check_env(report, pol)
    errors = envlib.hardware_errors(findings)
    if as_json:
        click.echo(json.dumps({"policy": {"id": pol.id, "version": pol.version, "source": pol.source},
                               "report": report, "findings": [f.to_dict() for f in findings],
                               "ok": not errors}, indent=2, default=str))
    else:
        console = Console()
        table = Table(title=f"environment (policy {pol.id})")
        table.add_column("item")
        table.add_column("this machine")
        for k, v in envlib.summary_rows(report):
            table.add_row(k, v)
        console.print(table)
        for f in findings:
            style = {"error": "red", "warning": "yellow"}.get(f.severity, "dim")
            console.print(f"[{style}]{f.severity.upper():7}[/] {f.message}", highlight=False, soft_wrap=True)
        if not findings:
            console.print("[green]no differences from the policy[/]")
    if errors:
        raise EnvironmentProblem(
            "hardware does not meet the official policy: " + "; ".join(f.message for f in errors) + ".",
            hint=envlib.HARDWARE_HINT)
