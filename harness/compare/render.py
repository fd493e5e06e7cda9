"""How a `harness compare` report reads: Markdown (compare.md, PR comments) and the terminal table.

Renderers only: they read a :class:`harness.compare.report.CompareReport` and return text or
rich renderables; the command prints them.
"""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from typing import Any

from harness.compare.report import REPORT_VERSION, CompareReport
from harness.core import markdown as md
from harness.core.verdict import (COMPLIANCE_UNKNOWN, COMPLIES, COMPLIES_WITH_WARNINGS, DOES_NOT_COMPLY,
                                  DOES_NOT_REPRODUCE, NOT_COMPARABLE, REPRODUCES, REPRODUCES_WITH_WARNINGS)

ICON = {REPRODUCES: "✅", REPRODUCES_WITH_WARNINGS: "⚠️", DOES_NOT_REPRODUCE: "❌", NOT_COMPARABLE: "❔"}
COMPLIANCE_ICON = {COMPLIES: "✅", COMPLIES_WITH_WARNINGS: "⚠️", DOES_NOT_COMPLY: "❌", COMPLIANCE_UNKNOWN: "❔"}
COLOUR = {REPRODUCES: "green", REPRODUCES_WITH_WARNINGS: "yellow", DOES_NOT_REPRODUCE: "red", NOT_COMPARABLE: "yellow"}
COMPLIANCE_COLOUR = {COMPLIES: "green", COMPLIES_WITH_WARNINGS: "yellow", DOES_NOT_COMPLY: "red",
                     COMPLIANCE_UNKNOWN: "yellow"}
TEXT_WIDTH = 200  # wide enough that the per-seed table is not folded when piped or written to a file


def policy_words(report: CompareReport, md: bool = False) -> str:
    q = "`" if md else ""
    rp, cp = report.run.timing_policy or report.policy, report.claim.timing_policy or report.policy
    if rp == cp:
        return f"timing policy {q}{rp}{q}"
    return f"timing policy {q}{rp}{q} (run, as recorded) / {q}{cp}{q} (claim)"


def nodes_line(report: CompareReport) -> str:
    rn = report.run.node.label if report.run.node else "unknown"
    cn = report.claim.node.label if report.claim.node else "unknown"
    return f"reproduction on {rn}; claim on {cn}"


def spread_words(tol: dict[str, Any]) -> str:
    how = ("the claim's few seeds pooled with the records' seed spread" if tol.get("pooled_with_records")
           else "sample std of the claimed per-seed val_bpb")
    return f"{how}, floored at {tol['std_floor_bpb']}"


def text_renderables(report: CompareReport) -> list[Any]:
    """What the terminal shows, in order: rich markup lines and the per-seed table."""
    from rich.table import Table

    colour = COLOUR[report.verdict]
    out: list[Any] = [f"[bold]harness compare[/bold] {report.run.target} ({report.run.kind}) vs {report.claim.target} "
                      f"({report.claim.kind}), {policy_words(report)}",
                      f"node: {nodes_line(report)}"]
    table = Table(show_lines=False)
    for col in ("seed", "val_bpb run", "claimed", "delta", "tolerance", "bytes", "margin to cap",
                "steps run/claim", "tok/s run/claim", "timing run/claim", "status"):
        table.add_column(col, overflow="fold")
    for row in report.rows():
        st = {"error": "red", "warning": "yellow"}.get(row["status"], "green")
        table.add_row(row["seed"], row["bpb_run"], row["bpb_claim"], row["delta"], row["tolerance"], row["bytes"],
                      row["margin"], row["steps"], row["tok_s"], row["timing"], f"[{st}]{row['status']}[/{st}]")
    out.append(table)
    for c in report.comparison.mean:
        st = {"error": "red", "warning": "yellow", "ok": "green"}.get(c.status, "dim")
        out.append(f"[{st}]{c.status}[/{st}] {c.name}: {c.detail}")
    for where, c in report.problems():
        if where != "mean":
            st = "red" if c.status == "error" else "yellow"
            out.append(f"[{st}]{c.status}[/{st}] {where}: {c.name}: {c.detail}")
    for side in (report.run, report.claim):
        for n in side.notes:
            out.append(f"[dim]note ({side.role}): {n}[/dim]")
    tol = report.comparison.tolerance
    out.append(f"[dim]tolerance: s = {tol['claimed_std_bpb']:.5f} ({spread_words(tol)}); per seed "
               f"{tol['per_seed']}; mean {tol['mean']}, df {tol['df']}[/dim]")
    cc = COMPLIANCE_COLOUR[report.compliance]
    out.append(f"reproduction: [{colour}]{report.verdict}[/{colour}]; compliance of the reproduced run: "
               f"[{cc}]{report.compliance}[/{cc}]")
    return out


def to_markdown(report: CompareReport) -> str:
    tol = report.comparison.tolerance
    lines = [f"### {ICON[report.verdict]} `harness compare`: {report.verdict} · "
             f"{COMPLIANCE_ICON[report.compliance]} {report.compliance}", "",
             f"**Reproduction:** `{report.run.target}` ({report.run.kind}"
             + (f", {report.run.mode}" if report.run.mode else "") + ") · "
             f"**Claim:** `{report.claim.target}` ({report.claim.kind}) · **{policy_words(report, md=True)}**",
             f"**Node:** {md.cell(nodes_line(report))}", "",
             "| seed | val_bpb run | claimed | Δ | tolerance | bytes | margin to cap | steps run / claim "
             "| tok/s run / claim | timing run / claim | |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    icon = {"error": "❌", "warning": "⚠️", "ok": "✅"}
    for r in report.rows():
        lines.append(f"| {r['seed']} | {r['bpb_run']} | {r['bpb_claim']} | {r['delta']} | {r['tolerance']} | "
                     f"{r['bytes']} | {r['margin']} | {r['steps']} | {r['tok_s']} | {r['timing']} | "
                     f"{icon[r['status']]} |")
    lines.append("")
    for c in report.comparison.mean:
        lines.append(f"- {icon.get(c.status, 'ℹ️')} **{c.name}**: {md.cell(c.detail)}")
    problems = [(w, c) for w, c in report.problems() if w != "mean"]
    if problems:
        lines += ["", "**Per-seed problems**", ""]
        lines += [f"- {icon[c.status]} {w}: `{c.name}`: {md.cell(c.detail)}" for w, c in problems]
    lines += ["", "<details><summary>Tolerances, timing verdicts and sources</summary>", "",
              f"- s = {tol['claimed_std_bpb']:.5f}: {spread_words(tol)}",
              f"- per seed: `{tol['per_seed']}`; mean: `{tol['mean']}`, df = {tol['df']}",
              "- bytes: every reproduced seed must be <= 16,000,000; steps and tok/s below 97 % of the claim warn",
              ""]
    for side in (report.run, report.claim):
        nd = side.node
        lines.append(f"**{side.role}** `{side.target}` ({side.kind}), timing policy "
                     f"`{side.timing_policy or '-'}`, node {md.cell(nd.label if nd else 'unknown')}"
                     + (f", driver {nd.driver}" if nd and nd.driver else "")
                     + (f", CUDA {nd.cuda}" if nd and nd.cuda else "")
                     + (f" ({md.cell(nd.source)})" if nd else ""))
        lines.append("")
        for seed, verdicts in side.timing.items():
            vs = "; ".join(f"{v.get('name')} {v.get('status')}"
                           + (f" {v['value_s']:.1f} s" if isinstance(v.get("value_s"), (int, float)) else "")
                           for v in verdicts)
            lines.append(f"- seed {seed}: {md.cell(vs) or 'no verdicts'}"
                         + (f" (`{Path(side.logs[seed]).name}`)" if seed in side.logs else ""))
        for n in side.notes:
            lines.append(f"- note: {md.cell(n)}")
        lines.append("")
    lines += ["</details>", "", f"<sub>pgolf-harness {report.harness_version} · compare report v{REPORT_VERSION}</sub>"]
    return "\n".join(lines) + "\n"


def render(report: CompareReport, fmt: str) -> str:
    if fmt == "json":
        return report.to_json() + "\n"
    if fmt == "markdown":
        return to_markdown(report)
    from rich.console import Console

    buf = StringIO()
    console = Console(file=buf, width=TEXT_WIDTH, force_terminal=False, color_system=None)
    for item in text_renderables(report):
        console.print(item, highlight=False)
    return buf.getvalue()
