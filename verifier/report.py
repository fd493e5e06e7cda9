"""A verification report and its three renderings: JSON, rich text, Markdown.

The JSON form is the contract (``verifier/report.schema.json``); text and
Markdown are views of it. Counts are by severity over all findings; the
verdict is "errors" when any error-severity finding exists (exit 1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core import schema
from harness.core import markdown as md
from harness.core.finding import SEVERITIES, Finding
from verifier.model import Rule

SCHEMA_FILE = "report.schema.json"  # package data, read by harness.core.schema
REPORT_VERSION = 1

_ICON = {"error": "❌", "warning": "⚠️", "info": "ℹ️"}


@dataclass
class RuleOutcome:
    rule: Rule
    outcome: str  # "pass" | "findings" | "needs_runtime_probe" | "not_available" | "crashed"
    counts: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {**self.rule.to_dict(), "outcome": self.outcome, "counts": self.counts}


@dataclass
class Report:
    target: str
    kind: str
    policy: str
    inputs: dict[str, Any]
    outcomes: list[RuleOutcome] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    harness_version: str = ""
    ruleset: dict[str, Any] = field(default_factory=dict)  # version, the PR's opening day, rules not yet in force

    # ------------------------------------------------------------------ facts
    @property
    def counts(self) -> dict[str, int]:
        c = {s: 0 for s in SEVERITIES}
        for f in self.findings:
            if f.status != "observation" and f.status != "not_available":
                c[f.severity] += 1
        return c

    @property
    def has_errors(self) -> bool:
        return self.counts["error"] > 0

    @property
    def verdict(self) -> str:
        c = self.counts
        return "errors" if c["error"] else ("warnings" if c["warning"] else "no errors found")

    def by_rule(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {}
        for f in self.findings:
            out.setdefault(f.rule_id, []).append(f)
        return out

    # ------------------------------------------------------------------ JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "harness_version": self.harness_version,
            "target": self.target,
            "kind": self.kind,
            "policy": self.policy,
            "ruleset": self.ruleset,
            "inputs": self.inputs,
            "verdict": self.verdict,
            "counts": self.counts,
            "rules": [o.to_dict() for o in self.outcomes],
            "findings": [f.to_dict() for f in self.findings],
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=_jsonable)

    # ------------------------------------------------------------------ text
    def render_text(self, console: Any, *, show_info: bool = True) -> None:
        """Print the report on ``console`` (the command's: the library builds none)."""
        from rich.table import Table

        c = self.counts
        colour = "red" if c["error"] else ("yellow" if c["warning"] else "green")
        console.print(f"[bold]harness verify[/bold] {self.target} ({self.kind}, policy {self.policy}, "
                      f"{self._ruleset_line()})")
        console.print(f"inputs: {self._inputs_line()}")
        table = Table(show_lines=False)
        for col in ("rule", "outcome", "severity", "finding"):
            table.add_column(col, overflow="fold")
        by_rule = self.by_rule()
        for o in self.outcomes:
            fs = by_rule.get(o.rule.id, [])
            shown = [f for f in fs if show_info or f.severity != "info"]
            if not shown:
                table.add_row(o.rule.id, o.outcome, "", o.rule.title if o.outcome == "pass" else
                              ("heuristic: nothing found statically - needs runtime probe"
                               if o.outcome == "needs_runtime_probe" else ""))
                continue
            for i, f in enumerate(shown):
                sev_style = {"error": "red", "warning": "yellow"}.get(f.severity, "dim")
                ev = f.evidence[0] if f.evidence else None
                where = f" [{ev.file}:{ev.line}]" if ev and ev.file and ev.line else ""
                table.add_row(o.rule.id if i == 0 else "", o.outcome if i == 0 else "",
                              f"[{sev_style}]{f.severity}[/{sev_style}]", f.message + where)
        console.print(table)
        notes = sum(1 for f in self.findings if f.status in ("observation", "not_available"))
        console.print(f"[{colour}]{self.verdict}[/{colour}]: {c['error']} error, {c['warning']} warning, "
                      f"{c['info']} info finding(s), and {notes} note(s) (observations, inputs not available)")

    def _ruleset_line(self) -> str:
        r = self.ruleset
        line = f"ruleset {r.get('version', '?')}"
        if r.get("opened_on"):
            line += f" as of {r['opened_on']} ({r.get('opened_source')})"
        return line

    def _inputs_line(self) -> str:
        i = self.inputs
        parts = [f"code: {', '.join(i.get('code') or []) or 'none'}", f"logs: {len(i.get('logs') or [])}",
                 f"claims: {'yes' if i.get('submission') else 'no'}"]
        return "; ".join(parts)

    # -------------------------------------------------------------- markdown
    def to_markdown(self) -> str:
        c = self.counts
        head = "❌" if c["error"] else ("⚠️" if c["warning"] else "✅")
        lines = [f"### {head} `harness verify`: {self.verdict}", "",
                 f"**Target:** `{self.target}` ({self.kind}) · **policy:** `{self.policy}` · "
                 f"{c['error']} error, {c['warning']} warning, {c['info']} info",
                 f"**Inputs:** {self._inputs_line()} · **{self._ruleset_line()}**", ""]
        by_rule = self.by_rule()
        problems = [f for f in self.findings if f.severity in ("error", "warning") and f.status != "observation"]
        if problems:
            lines += ["| | rule | finding | evidence |", "|---|---|---|---|"]
            for f in problems:
                ev = f.evidence[0] if f.evidence else None
                evs = f"`{ev.file}:{ev.line}`" if ev and ev.file and ev.line else (f"`{ev.file}`" if ev and ev.file else "")
                if ev and ev.excerpt:
                    evs += f" `{md.code_cell(ev.excerpt)}`"
                lines.append(f"| {_ICON[f.severity]} | `{f.rule_id}` | {md.cell(f.message)} | {evs} |")
            lines.append("")
        probe = [o.rule.id for o in self.outcomes if o.outcome == "needs_runtime_probe"]
        if probe:
            lines.append("Static heuristics cannot prove these clean (need a runtime probe): "
                         + ", ".join(f"`{x}`" for x in probe) + ".")
            lines.append("")
        lines += ["<details><summary>All rules and observations</summary>", "",
                  "| rule | outcome | notes |", "|---|---|---|"]
        for o in self.outcomes:
            notes = "; ".join(md.cell(f.message) for f in by_rule.get(o.rule.id, [])
                              if f.status in ("observation", "not_available") or f.severity == "info")
            lines.append(f"| `{o.rule.id}` | {o.outcome} | {notes[:600]} |")
        lines += ["", "</details>", "", f"<sub>pgolf-harness {self.harness_version} · report v{REPORT_VERSION}</sub>"]
        return "\n".join(lines) + "\n"


def _jsonable(o: Any) -> Any:
    if isinstance(o, (set, tuple)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    if hasattr(o, "to_dict"):
        return o.to_dict()
    return str(o)


def validate_report_json(obj: dict[str, Any]) -> list[str]:
    """Errors of ``obj`` against the report schema (empty list = valid)."""
    return schema.errors(schema.packaged_validator(__package__, SCHEMA_FILE), obj)
