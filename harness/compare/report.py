"""The report of `harness compare`: two sides, the comparison, its two verdicts, its JSON.

Two verdicts, because they answer two questions (see :mod:`harness.core.compare`):
*reproduction* (do the reproduced numbers match the claim) and *compliance* (did the
reproduced run keep the rules: the artifact cap and the timing policy). The Markdown
and terminal forms are written by :mod:`harness.compare.render`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import __version__
from harness.compare.sides import Side
from harness.core import schema
from harness.core.compare import Check, Comparison
from harness.core.verdict import (COMPLIANCE_STATUSES, DOES_NOT_COMPLY, REPRODUCES, REPRODUCES_WITH_WARNINGS,
                                  REPRODUCTION_STATUSES)

REPORT_VERSION = 1


@dataclass
class CompareReport:
    run: Side
    claim: Side
    comparison: Comparison
    policy: str
    harness_version: str = __version__

    @property
    def verdict(self) -> str:
        return self.comparison.verdict

    @property
    def compliance(self) -> str:
        """Whether the reproduced run kept the rules (cap, timing policy): a verdict apart from reproduction."""
        return self.comparison.compliance

    @property
    def exit_code(self) -> int:
        """0 reproduces (warnings included) and does not break a rule; 1 otherwise or nothing could be compared."""
        reproduces = self.verdict in (REPRODUCES, REPRODUCES_WITH_WARNINGS)
        return 0 if reproduces and self.compliance != DOES_NOT_COMPLY else 1

    def to_dict(self) -> dict[str, Any]:
        return {"report_version": REPORT_VERSION, "kind": "compare", "harness_version": self.harness_version,
                "verdict": self.verdict, "compliance": self.compliance, "exit_code": self.exit_code, "policy": self.policy,
                "run": self.run.to_dict(), "claim": self.claim.to_dict(), "comparison": self.comparison.to_dict()}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, default=str)

    def summary(self) -> dict[str, Any]:
        """The short form a record embeds (``verification.comparison``)."""
        mean = check_named(self.comparison.mean, "mean_val_bpb")
        return {
            "verdict": self.verdict,
            "compliance": self.compliance,
            "claim": self.claim.target,
            "claim_kind": self.claim.kind,
            "policy": self.policy,
            "run_node": self.run.node.label if self.run.node else None,
            "claim_node": self.claim.node.label if self.claim.node else None,
            "mean_delta_bpb": (mean.numbers.get("delta") if mean else None),
            "mean_tolerance_bpb": (mean.numbers.get("tolerance") if mean else None),
            "claimed_std_bpb": self.comparison.tolerance.get("claimed_std_bpb"),
            "seeds": {seed: {c.name: c.status for c in checks} for seed, checks in self.comparison.seeds.items()},
            "problems": [f"{where}: {c.detail}" for where, c in self.problems()],
        }

    def problems(self) -> list[tuple[str, Check]]:
        out = [(f"seed {s}", c) for s, cs in self.comparison.seeds.items() for c in cs if c.status in ("error", "warning")]
        out += [("mean", c) for c in self.comparison.mean if c.status in ("error", "warning")]
        return out

    # ------------------------------------------------------------------ rows
    def rows(self) -> list[dict[str, str]]:
        claim_by = {s.seed: s for s in self.claim.seeds}
        run_by = {s.seed: s for s in self.run.seeds}
        rows = []
        for seed, checks in self.comparison.seeds.items():
            r, c = run_by.get(seed), claim_by.get(seed)
            bpb = check_named(checks, "val_bpb")
            by = check_named(checks, "bytes")
            worst = "error" if any(x.status == "error" for x in checks) else (
                "warning" if any(x.status == "warning" for x in checks) else "ok")
            rows.append({
                "seed": seed,
                "bpb_run": fmt_figure(r.val_bpb if r else None, ".6f"),
                "bpb_claim": fmt_figure(c.val_bpb if c else None, ".6f"),
                "delta": fmt_figure(bpb.numbers.get("delta") if bpb else None, "+.5f"),
                "tolerance": fmt_figure(bpb.numbers.get("tolerance") if bpb else None, ".5f", prefix="±"),
                "bytes": fmt_figure(r.artifact_bytes if r else None, ","),
                "margin": fmt_figure(by.numbers.get("margin_to_cap") if by else None, ","),
                "steps": f"{fmt_figure(r.steps if r else None, ',')} / {fmt_figure(c.steps if c else None, ',')}",
                "tok_s": f"{fmt_figure(r.tok_per_s if r else None, ',.0f')} / {fmt_figure(c.tok_per_s if c else None, ',.0f')}",
                "timing": f"{(r.timing if r else None) or '-'} / {(c.timing if c else None) or '-'}",
                "status": worst,
            })
        return rows


    def render(self, fmt: str) -> str:
        """The report as text, JSON or Markdown (:mod:`harness.compare.render`)."""
        from harness.compare import render  # the renderers read this report: imported when asked for

        return render.render(self, fmt)

    def to_markdown(self) -> str:
        from harness.compare import render

        return render.to_markdown(self)


def check_named(checks: list[Check], name: str) -> Check | None:
    return next((c for c in checks if c.name == name), None)


def fmt_figure(v: Any, spec: str, prefix: str = "") -> str:
    """A figure for a table cell: ``-`` when absent, never ``-0.00000``."""
    if v is None:
        return "-"
    if spec.startswith("+") and isinstance(v, float) and abs(v) < 5e-6:
        v = 0.0  # no "-0.00000"
    return prefix + format(v, spec)


_STATUS = {"enum": ["ok", "warning", "error", "n/a"]}
_CHECK = {"type": "object", "required": ["name", "status", "detail", "numbers"], "additionalProperties": False,
          "properties": {"name": {"type": "string"}, "status": _STATUS, "detail": {"type": "string"},
                         "numbers": {"type": "object"}}}
_NUM = {"type": ["number", "null"]}
_SEED = {"type": "object", "required": ["seed", "val_bpb", "artifact_bytes", "steps", "tok_per_s", "timing", "source"],
         "properties": {"seed": {"type": "string"}, "val_bpb": _NUM, "val_loss": _NUM,
                        "artifact_bytes": {"type": ["integer", "null"]}, "steps": {"type": ["integer", "null"]},
                        "tok_per_s": _NUM, "timing": {"type": ["string", "null"]}, "source": {"type": "string"}}}
_SIDE = {"type": "object", "required": ["role", "target", "kind", "node", "timing_policy", "seeds", "timing", "notes"],
         "properties": {"role": {"enum": ["run", "claim"]}, "target": {"type": "string"},
                        "kind": {"enum": ["harness-run", "logs", "submission.json", "manifest", "pr"]},
                        "mode": {"type": ["string", "null"]}, "track": {"type": ["string", "null"]},
                        "node": {"type": ["object", "null"], "required": ["key", "label", "source"]},
                        "timing_policy": {"type": ["string", "null"]},
                        "seeds": {"type": "array", "items": _SEED},
                        "timing": {"type": "object", "additionalProperties": {"type": "array"}},
                        "logs": {"type": "object", "additionalProperties": {"type": "string"}},
                        "metrics": {"type": "object", "additionalProperties": {"type": "string"}},
                        "notes": {"type": "array", "items": {"type": "string"}}}}
REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "harness compare report (--format json, compare.json)",
    "type": "object",
    "required": ["report_version", "kind", "harness_version", "verdict", "compliance", "exit_code", "policy", "run",
                 "claim",
                 "comparison"],
    "properties": {
        "report_version": {"const": REPORT_VERSION},
        "kind": {"const": "compare"},
        "harness_version": {"type": "string"},
        "verdict": {"enum": list(REPRODUCTION_STATUSES)},
        "compliance": {"enum": list(COMPLIANCE_STATUSES)},
        "exit_code": {"enum": [0, 1]},
        "policy": {"type": "string"},
        "run": _SIDE,
        "claim": _SIDE,
        "comparison": {
            "type": "object", "required": ["verdict", "compliance", "tolerance", "seeds", "mean"],
            "properties": {"verdict": {"enum": list(REPRODUCTION_STATUSES)}, "compliance": {"enum": list(COMPLIANCE_STATUSES)},
                           "tolerance": {"type": "object"},
                           "claim_node": {"type": ["string", "null"]}, "run_node": {"type": ["string", "null"]},
                           "seeds": {"type": "object", "additionalProperties": {"type": "array", "items": _CHECK}},
                           "mean": {"type": "array", "items": _CHECK}}},
    },
}
_REPORT_VALIDATOR = schema.validator(REPORT_SCHEMA)


def validate_report_json(obj: Any) -> list[str]:
    """Errors of a compare report (``CompareReport.to_dict()`` or compare.json) against :data:`REPORT_SCHEMA`."""
    return schema.errors(_REPORT_VALIDATOR, obj)



def write_outputs(report: CompareReport, run_dir: Path) -> dict[str, str]:
    """compare.json + compare.md beside a run's record; returns their names."""
    (run_dir / "compare.json").write_text(report.to_json() + "\n", encoding="utf-8")
    (run_dir / "compare.md").write_text(report.to_markdown(), encoding="utf-8")
    return {"json": "compare.json", "markdown": "compare.md"}
