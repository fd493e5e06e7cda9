"""`harness sandbox check`: what containment this machine offers a seed."""

from __future__ import annotations

import json

import click


@click.group("sandbox")
def command() -> None:
    """Inspect the per-seed sandbox (kill method, network isolation, private /tmp)."""


@command.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print the probe result as JSON.")
def check(as_json: bool) -> None:
    """Probe cgroup v2, PID/network/mount namespaces and nvidia-smi, for real.

    Exit code 0 always: a weaker containment is reported, not refused; `harness
    reproduce` records what was in force per seed.
    """
    from rich.console import Console
    from rich.table import Table

    from harness.sandbox import detect_isolation

    info = detect_isolation()
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    table = Table(title="Seed containment available here")
    table.add_column("feature")
    table.add_column("available")
    table.add_column("detail")
    uses = {
        "cgroup_v2": "kill the whole seed with cgroup.kill",
        "pid_namespace": "kill via the seed's own PID namespace; private /proc",
        "net_namespace": "no network; lo only (torchrun/NCCL/gloo on 127.0.0.1)",
        "mount_namespace": "private /tmp and /dev/shm; harness log hidden",
        "user_namespace": "lets a non-root user create the namespaces above",
    }
    for key, use in uses.items():
        probe = info[key]
        detail = probe.get("detail") or use
        table.add_row(key, "[green]yes[/]" if probe["ok"] else "[red]no[/]", detail)
    table.add_row("kill_method", info["kill_method"],
                  {"cgroup": "strongest", "pidns": "good", "killpg": "weak: ranks in their own sessions may survive"}[info["kill_method"]])
    table.add_row("nvidia_smi", "yes" if info["nvidia_smi"] else "no",
                  "GPU memory release is checked after a kill" if info["nvidia_smi"] else "no GPU check")
    table.add_row("root", "yes" if info["is_root"] else "no",
                  f"kernel {info['kernel']}" + ("" if info["is_root"] else "; namespaces made inside a user namespace"))
    Console().print(table)
