"""The leaderboard's five outputs: Markdown, CSV, JSON, the progress plot and one HTML page."""

from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.core import markdown as md
from harness.core.acceptance import AcceptancePolicy
from harness.core.records import TRACK_RECORD
from harness.core.verdict import ACCEPTED, BASELINE, FRONTIER, Verdict
from harness.leaderboard.board import Leaderboard, fmt_p
from harness.leaderboard.entries import Entry


def row(e: Entry, pols: list[AcceptancePolicy]) -> dict[str, Any]:
    row: dict[str, Any] = {
        "order": e.order, "pr": e.pr, "pr_method": e.pr_method, "record": e.key, "name": e.name,
        "author": e.author, "github_id": e.github_id, "date": e.date.isoformat() if e.date else None,
        "track": e.track, "type": e.submission_type, "val_bpb": e.val_bpb, "val_bpb_claimed": e.val_bpb_claimed,
        "seeds": e.n_seeds, "bytes_max": e.bytes_max, "bytes_per_token": e.bytes_per_token,
        "source": e.source, "order_note": e.order_note,
        "verifier_errors": None if e.verifier_errors is None else len(e.verifier_errors),
    }
    for p in pols:
        v = e.verdicts[p.id]
        row[f"{p.id}.status"] = v.status
        row[f"{p.id}.p"] = v.p
        row[f"{p.id}.reason"] = "; ".join(v.reasons)
    return row


def to_json(lb: Leaderboard) -> dict[str, Any]:
    return {
        "ordering": "PR number of the PR that added the record (harness/core/pr_index.json); "
        "records outside the index placed by their typed date, with a note",
        "policies": [asdict(p) for p in lb.policies],
        "entries": [
            {
                **{k: v for k, v in row(e, lb.policies).items() if "." not in k},
                "per_seed_bpb": e.per_seed_bpb,
                "bpt_source": e.bpt_source,
                "notes": e.notes,
                "verdicts": {pid: v.to_dict() for pid, v in e.verdicts.items()},
            }
            for e in lb.entries
        ],
    }


def write_csv(lb: Leaderboard, path: Path) -> None:
    rows = [row(e, lb.policies) for e in lb.entries]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()) if rows else ["order"])
        w.writeheader()
        w.writerows(rows)


def verdict_text(v: Verdict) -> str:
    if v.status in FRONTIER:
        return ("**accepted**" if v.status == ACCEPTED else BASELINE) + (f" (p={fmt_p(v.p)})" if v.p is not None else "")
    return f"{v.status}: {v.reasons[0]}" if v.reasons else v.status


def to_markdown(lb: Leaderboard) -> str:
    lines = ["# Leaderboard", "",
             "Ordered by the PR that added each record; each policy walks that order and keeps its own state of the art.", ""]
    for p in lb.policies:
        lines.append(f"- `{p.id}` v{p.version} (sha256 {p.sha256[:12]}): {p.terms()}" + (f" — {p.description}" if p.description else ""))
    lines.append("")
    verified = any(e.verifier_errors is not None for e in lb.entries)
    head = ["#", "PR", "Record", "Author", "Date", "val_bpb", "Seeds", "Bytes"] + [p.id for p in lb.policies] \
        + (["harness verify"] if verified else [])
    for title, keep in (("10-minute track", lambda e: e.track == TRACK_RECORD),
                        ("Other records (not ranked)", lambda e: e.track != TRACK_RECORD)):
        rows = [e for e in lb.entries if keep(e)]
        if not rows:
            continue
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        for e in rows:
            cells = [e.order, f"#{e.pr}" if e.pr else "-", e.label, e.author or "?",
                     e.date.isoformat() if e.date else "?", f"{e.val_bpb:.5f}" if e.val_bpb is not None else "?",
                     e.n_seeds, f"{e.bytes_max:,}" if e.bytes_max else "?"]
            cells += [verdict_text(e.verdicts[p.id]) for p in lb.policies]
            if verified:
                errs = e.verifier_errors or []
                cells.append("ok" if not errs else f"{len(errs)} error(s): "
                             + ", ".join(sorted({x.split(':', 1)[0] for x in errs})))
            lines.append("| " + " | ".join(md.cell(c) for c in cells) + " |")
        lines.append("")
    notes = [e for e in lb.entries if e.order_note and "launch snapshot" not in e.order_note]
    if notes:
        lines += ["Ordering notes:", ""] + [f"- {e.label}: {e.order_note}" for e in notes] + [""]
    return "\n".join(lines)


PLOT_SIZE_IN = (12.0, 6.5)
PLOT_DPI = 100


def plot_progress(lb: Leaderboard, path: Path) -> int:
    """val_bpb against PR order for the 10-minute track: every record a labelled point, each policy's frontier a
    step line. Returns the number of point labels that still overlap an earlier one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = [e for e in lb.entries if e.track == TRACK_RECORD and e.submission_type != "record_support" and e.val_bpb]
    fig, ax = plt.subplots(figsize=PLOT_SIZE_IN, dpi=PLOT_DPI)
    xs = list(range(len(rec)))
    ax.scatter(xs, [e.val_bpb for e in rec], s=18, color="0.55", zorder=2, label="records")
    labels = [ax.annotate(e.label[:28], (x, e.val_bpb), fontsize=5.5, rotation=90, xytext=(0, 4),
                          textcoords="offset points", color="0.3") for x, e in zip(xs, rec)]
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, p in enumerate(lb.policies):
        pts = [(x, e.val_bpb) for x, e in zip(xs, rec) if e.verdicts[p.id].status in FRONTIER]
        if not pts:
            continue
        fx, fy = zip(*pts)
        fx, fy = list(fx) + [xs[-1]], list(fy) + [fy[-1]]
        ax.step(fx, fy, where="post", color=colors[i % 4], lw=1.8, label=f"frontier: {p.id}", zorder=3)
        ax.scatter(fx[:-1], fy[:-1], s=40, facecolors="none", edgecolors=colors[i % 4], zorder=4)
    ax.set_xticks(xs)
    ax.set_xticklabels([f"#{e.pr}" if e.pr else "launch" for e in rec], rotation=90, fontsize=6)
    ax.set_xlabel("records in PR order (PR number that added each)")
    ax.set_ylabel("val_bpb (lower is better)")
    ax.set_title("Parameter Golf 10-minute track: records and accepted frontier")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    overlaps = separate_labels(fig, labels)
    fig.savefig(path, dpi=PLOT_DPI)
    plt.close(fig)
    return overlaps


LABEL_STEP_PT = 7.0  # how far a label moves up when it would cover an earlier one
LABEL_TRIES = 12


def separate_labels(fig: Any, labels: list[Any]) -> int:
    """Lift each point label, in PR order, until its box clears the boxes placed before it (early records
    sit close together in both PR order and val_bpb, and their labels covered each other). Returns how many
    labels still overlap an earlier one (0 when every one found room)."""
    renderer = fig.canvas.get_renderer()
    placed: list[Any] = []
    left = 0
    for ann in labels:
        for k in range(LABEL_TRIES + 1):
            box = ann.get_window_extent(renderer)
            if not any(box.overlaps(other) for other in placed):
                break
            if k < LABEL_TRIES:
                ann.xyann = (0.0, 4.0 + (k + 1) * LABEL_STEP_PT)
        else:
            left += 1
        placed.append(ann.get_window_extent(renderer))
    return left


def to_html(lb: Leaderboard, png: bytes) -> str:
    esc = html.escape
    pol_items = "".join(f"<li><code>{esc(p.id)}</code> v{esc(p.version)}: {esc(p.terms())}"
                        + (f" — {esc(p.description)}" if p.description else "") + "</li>" for p in lb.policies)
    head = ["#", "PR", "Record", "Author", "Date", "Track", "val_bpb", "Seeds", "Bytes"] + [p.id for p in lb.policies]
    rows = []
    for e in lb.entries:
        cells = [str(e.order), f"#{e.pr}" if e.pr else "-", esc(e.label), esc(e.author or "?"),
                 e.date.isoformat() if e.date else "?", esc(e.track or "?"),
                 f"{e.val_bpb:.5f}" if e.val_bpb is not None else "?", str(e.n_seeds),
                 f"{e.bytes_max:,}" if e.bytes_max else "?"]
        for p in lb.policies:
            v = e.verdicts[p.id]
            cells.append(f'<span class="{esc(v.status)}" title="{esc("; ".join(v.reasons))}">{esc(verdict_text(v).replace("**", ""))}</span>')
        rows.append(f'<tr data-record="{esc(e.key)}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    img = base64.b64encode(png).decode("ascii")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Parameter Golf leaderboard</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2em;color:#222}} table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px;vertical-align:top}} th{{background:#f3f3f3}}
.accepted{{color:#06600a;font-weight:600}} .baseline{{color:#333;font-weight:600}} .rejected{{color:#a00}} .not_ranked{{color:#777}}
img{{max-width:100%}}
</style></head><body>
<h1>Parameter Golf leaderboard</h1>
<p>Records ordered by the PR that added them; each acceptance policy walks that order with its own state of the art.
Statistics are recomputed from per-seed values in BPB space.</p>
<ul>{pol_items}</ul>
<img alt="val_bpb progress" src="data:image/png;base64,{img}">
<table id="leaderboard"><thead><tr>{"".join(f"<th>{esc(h)}</th>" for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""


def write_outputs(lb: Leaderboard, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: out / n for k, n in {"markdown": "leaderboard.md", "csv": "leaderboard.csv", "json": "leaderboard.json",
                                     "png": "progress.png", "html": "index.html"}.items()}
    paths["markdown"].write_text(to_markdown(lb), encoding="utf-8")
    write_csv(lb, paths["csv"])
    paths["json"].write_text(json.dumps(to_json(lb), indent=1, default=str) + "\n", encoding="utf-8")
    plot_progress(lb, paths["png"])
    paths["html"].write_text(to_html(lb, paths["png"].read_bytes()), encoding="utf-8")
    return paths
