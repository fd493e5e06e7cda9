"""Data provenance: the run trained on the variant's canonical training shards, nothing else.

A log that prints ``train_shards: N`` for an export whose canonical training set
holds fewer shards trained on data outside it: the CaseOps data rebuilt locally
with ``prepare_caseops_data.py`` (10 M-token shards, and by default only the
first 10,000 validation documents held out, so documents 10,000-49,999 of the
scored validation set land in training: issue #2127) prints 240, 488 or 1,499
shards where the organizers' export has 80. The shipped preparation script's
default is read too.
"""

from __future__ import annotations

import ast
from typing import Any

from harness.core import registry
from harness.core.finding import Evidence, Finding, excerpt
from verifier.model import Rule
from verifier.rules.common import attr, find_line, log_evidence, log_summaries
from verifier.rules.coverage import LOCAL_DATASET, variant_for
from verifier.rules.registration import rule
from verifier.subject import Subject

VAL_DOCS = 50_000  # documents in the scored validation split (every export)


def _val_docs_defaults(s: Subject) -> list[tuple[str, int, int]]:
    """(file, line, default) of every ``--val-docs`` option a shipped script declares below the full split."""
    out = []
    for u in s.all_units():
        if u.tree is None:
            continue
        for node in ast.walk(u.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "add_argument"):
                continue
            names = [a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            if not any(n.lstrip("-").replace("_", "-") == "val-docs" for n in names):
                continue
            for kw in node.keywords:
                if kw.arg == "default" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, int) \
                        and kw.value.value < VAL_DOCS:
                    out.append((u.path, node.lineno, kw.value.value))
    return out


@rule("log.train_shards", "training reads only the variant's canonical training shards", since="2026-03-18",
      severity="error", group="log", needs=("logs",),
      source="challenge README 'you can't access validation data during training' (README.md:221) and the fixed "
      "training split; CaseOps preparation leak (issue #2127, default --val-docs 10000); organizer exclusion on the "
      "train_shards fingerprint (#2146: train_shards 80 canonical, #2130 excluded at 1499)")
def check_train_shards(s: Subject, r: Rule) -> list[Finding]:
    out = _log_findings(s, r)
    canonical_run = any(f.status == "observation" for f in out)
    for path, line, default in _val_docs_defaults(s):
        unit = next((u for u in s.all_units() if u.path == path), None)
        msg = (f"{path}:{line} holds out only {default:,} validation documents by default (the scored split has "
               f"{VAL_DOCS:,}): data prepared with it trains on documents that are scored (issue #2127)")
        ev = [Evidence(path, line, excerpt(unit.line_text(line)) if unit else None)]
        if canonical_run:  # the logs show the run trained on the export's canonical shards, not on this output
            out.append(r.finding(msg + "; the logs train on the canonical shards", status="observation",
                                 severity="info", evidence=ev, default=default))
        else:
            out.append(r.finding(msg, severity="warning", status="needs_runtime_probe", evidence=ev, default=default))
    return out or [r.finding("no training-shard count in the logs and no data preparation script",
                             status="not_available", severity="info")]


def _log_findings(s: Subject, r: Rule) -> list[Finding]:
    """One finding per log that prints its training-shard count and names a known export."""
    out: list[Finding] = []
    for lg, summ in log_summaries(s):
        shards, variant = attr(summ, "train_shards"), variant_for(summ)
        if shards is None or variant in (None, LOCAL_DATASET):
            continue
        v = registry.get_variant(variant)
        canonical, most = v.default_train_shards, v.max_train_shards
        line = find_line(lg, r"train_shards")
        data: dict[str, Any] = {"log": lg.display, "variant": variant, "train_shards": shards,
                                "canonical": canonical, "max": most}
        if shards > most:
            out.append(r.finding(f"{lg.display}: trains on {shards:,} shards; the {variant} export holds {most:,} "
                                 f"(canonical {canonical:,}): training data outside the canonical set (a locally "
                                 "rebuilt dataset; for CaseOps the preparation that trains on validation documents)",
                                 evidence=[log_evidence(lg, line)], **data))
        else:
            out.append(r.finding(f"{lg.display}: {shards:,} of the {variant} export's {most:,} training shards",
                                 status="observation", severity="info", evidence=[log_evidence(lg, line)], **data))
    return out
