"""Leaderboard from submission.json files: PR order, two acceptance policies, five outputs.

Why computed and not copied: the upstream leaderboard was a hand-edited README
table.  Here every record is read through one schema layer (our v1 records
and upstream ones via :class:`LegacyRecord`), ordered by the PR that added it
(the challenge accepted records in PR creation order; the typed ``date`` is
whatever the author wrote), and judged against the state of the art *at that
point* by each acceptance policy, with the statistics recomputed from the
per-seed values.  Every verdict carries its reasons, so a reader sees why a
record did not make the frontier (one seed only, not significant, worse than
SOTA, over the cap).

Acceptance policies are TOML files (``harness/policies/acceptance-*.toml``); the keys
read from their ``[acceptance]`` section are documented on
:class:`AcceptancePolicy`.
"""

from __future__ import annotations

import base64
import csv
import html
import json
import math
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from statistics import fmean
from typing import Any, Iterable

from harness.core import markdown as md
from harness.core import prindex, stats
from harness.core.acceptance import AcceptancePolicy, load_acceptance_policy
from harness.core.registry import get_variant
from harness.core.records import (
    ARTIFACT_CAP_BYTES,
    TRACK_RECORD,
    LegacyRecord,
    find_submission_files,
    is_v1,
)

DEFAULT_POLICIES = ("acceptance-readme", "acceptance-organizer-2026-05")

# ----------------------------------------------------------------- entries


@dataclass
class Verdict:
    status: str  # baseline | accepted | rejected | not_ranked
    reasons: list[str] = field(default_factory=list)
    sota_before: str | None = None  # folder of the frontier record it was compared with
    sota_bpb: float | None = None
    margin_bpb: float | None = None
    test: str | None = None  # welch | one_sample | None
    t: float | None = None
    df: float | None = None
    p: float | None = None
    seeds_used: int = 0

    def short(self) -> str:
        if self.status in ("accepted", "baseline"):
            return self.status
        return f"{self.status}: {self.reasons[0]}" if self.reasons else self.status


@dataclass
class Entry:
    key: str  # folder name (legacy) or path (ours)
    source: str  # legacy | v1
    path: str
    name: str | None
    author: str | None
    github_id: str | None
    date: date | None
    track: str | None
    submission_type: str
    supports_pr: int | None
    pr: int | None
    pr_method: str | None
    order_note: str | None
    val_bpb: float | None  # computed: mean of per-seed values when there are any
    val_bpb_claimed: float | None
    per_seed_bpb: dict[str, float]
    bytes_max: int | None
    bytes_per_token: float | None
    bpt_source: str | None
    notes: list[str] = field(default_factory=list)
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    # error findings of `harness verify` (log + record rules) when the board was built with verify=True;
    # None: not verified. Acceptance is not changed by them: the board shows them beside the verdicts.
    verifier_errors: list[str] | None = None
    order: int = 0
    sort_key: float = 0.0

    @property
    def n_seeds(self) -> int:
        return len(self.per_seed_bpb)

    @property
    def label(self) -> str:
        base = self.key if self.source == "legacy" else (self.name or self.key)
        parts = base.split("_", 1)
        return parts[1] if len(parts) == 2 and parts[0][:4].isdigit() else base


def _variant_hint(text: str) -> str | None:
    """A dataset variant named in a record's folder/name, or None when it names none."""
    t = text.lower()
    if "caseops" in t:
        return "caseops-sp8192"
    if "sp8192" in t:
        return "sp8192"
    if "sp4096" in t or "vocab4096" in t:
        return "sp4096"
    if "sp1024" in t:
        return "sp1024"
    return None


def _bpt_for_variant(variant: str) -> float:
    """Bytes per scored token of a registry variant (val_bytes / val_targets)."""
    figs = get_variant(variant).figures
    return float(figs["val_bytes"].value) / float(figs["val_targets"].value)


def _bytes_per_token(pairs: list[tuple[float, float]], hint_text: str) -> tuple[float | None, str | None]:
    """Bytes/token from the record's own (val_loss, val_bpb) pairs, else from a variant its name states.

    None when neither exists; :func:`judge` then uses the state of the art's figure (the record
    builds on it) and says so.
    """
    if pairs:
        return stats.bytes_per_token_from_pairs(pairs), f"val_loss/val_bpb of {len(pairs)} seed(s)"
    v = _variant_hint(hint_text)
    if v is None:
        return None, None
    return _bpt_for_variant(v), f"dataset variant {v} named in the record (no loss/bpb pair)"


def entry_from_legacy(rec: LegacyRecord) -> Entry:
    per_seed = {k: r.val_bpb for k, r in rec.seed_results.items() if r.val_bpb is not None}
    computed = fmean(per_seed.values()) if per_seed else rec.val_bpb
    bpt, bpt_src = _bytes_per_token(rec.loss_bpb_pairs(), f"{rec.folder} {rec.name or ''}")
    e = Entry(
        key=rec.folder, source="legacy", path=str(rec.path), name=rec.name, author=rec.author,
        github_id=rec.github_id, date=rec.date, track=rec.track, submission_type=rec.submission_type,
        supports_pr=rec.supports_pr, pr=None, pr_method=None, order_note=None,
        val_bpb=computed, val_bpb_claimed=rec.val_bpb, per_seed_bpb=per_seed,
        bytes_max=rec.max_artifact_bytes(), bytes_per_token=bpt, bpt_source=bpt_src,
    )
    if per_seed and rec.val_bpb is not None and abs(computed - rec.val_bpb) > 5e-5:
        e.notes.append(f"claimed val_bpb {rec.val_bpb} but the per-seed mean is {computed:.5f}")
    if rec.claimed.get("p_value") is not None:
        e.notes.append(f"the record claims p={rec.claimed['p_value']} (not used: the verdicts recompute it)")
    for w in rec.warnings:
        if w.kind in ("val_bpb_under_val_loss", "val_bpb_from_mean_key", "bytes_total_not_max_seed", "over_cap"):
            e.notes.append(w.message)
    return e


def entry_from_v1(obj: dict[str, Any], path: Path) -> Entry:
    sres = obj.get("seed_results", {})
    ok = {k: v for k, v in sres.items() if v.get("status", "ok") == "ok" and v.get("val_bpb") is not None}
    per_seed = {k: float(v["val_bpb"]) for k, v in ok.items()}
    pairs = [(float(v["val_loss"]), float(v["val_bpb"])) for v in ok.values() if v.get("val_loss")]
    sizes = [v["artifact_bytes"] for v in ok.values() if v.get("artifact_bytes") is not None]
    ver = obj.get("verification", {})
    try:
        d = date.fromisoformat(obj.get("date", ""))
    except ValueError:
        d = None
    bpt = ver.get("stats", {}).get("bytes_per_token")
    bpt_src = "verification.stats.bytes_per_token"
    if not bpt:
        bpt, bpt_src = _bytes_per_token(pairs, f"{ver.get('data', {}).get('variant', '')} {obj.get('name', '')}")
    e = Entry(
        key=str(path), source="v1", path=str(path), name=obj.get("name"), author=obj.get("author"),
        github_id=obj.get("github_id"), date=d, track=obj.get("track"), submission_type="record"
        if obj.get("track") == TRACK_RECORD else "non_record", supports_pr=None,
        pr=None, pr_method=None, order_note=None,
        val_bpb=fmean(per_seed.values()) if per_seed else obj.get("val_bpb"),
        val_bpb_claimed=obj.get("val_bpb"), per_seed_bpb=per_seed,
        bytes_max=max(sizes) if sizes else obj.get("bytes_total"), bytes_per_token=bpt, bpt_source=bpt_src,
    )
    src = ver.get("source") or {}
    pr = src.get("pr") if isinstance(src, dict) else None
    if isinstance(pr, int):
        e.pr, e.pr_method = pr, "verification.source.pr"
    if ver.get("mode") == "smoke":
        e.notes.append("smoke-mode record (unofficial): " + "; ".join(ver.get("unofficial_reasons", [])))
    return e


def seeds_from_logs(folder: Path) -> dict[str, tuple[float, float | None]]:
    """Per-seed (val_bpb, val_loss) read from the folder's logs through the one log parser.

    Uses ``harness.core.events.parse_file`` and ``harness.core.metrics.summarize``
    (its headline picker); raises ImportError when those modules are absent.
    Logs without a seed or a headline are skipped; the first log per seed wins.
    """
    from harness.core.events import parse_file  # type: ignore
    from harness.core.metrics import summarize  # type: ignore

    out: dict[str, tuple[float, float | None]] = {}
    for log in sorted([*folder.glob("*.log"), *folder.glob("*.txt")]):
        try:
            summ = summarize(parse_file(log))
        except Exception:  # noqa: BLE001 - one unreadable log must not sink the board
            continue
        head = summ.headline
        if head is None or summ.seed is None or head.val_bpb is None:
            continue
        out.setdefault(str(summ.seed), (float(head.val_bpb), head.val_loss))
    return out


def _enrich_from_logs(e: Entry) -> None:
    """Give a legacy record with fewer than two per-seed values the ones its logs show."""
    if e.source != "legacy" or e.n_seeds >= 2:
        return
    found = seeds_from_logs(Path(e.path).parent)
    if len(found) < 2:
        return
    e.per_seed_bpb = {k: v[0] for k, v in found.items()}
    e.val_bpb = fmean(e.per_seed_bpb.values())
    pairs = [(float(loss), bpb) for bpb, loss in found.values() if loss]
    own_pairs = (e.bpt_source or "").startswith("val_loss/val_bpb")
    if pairs and not own_pairs:
        e.bytes_per_token = stats.bytes_per_token_from_pairs(pairs)
        e.bpt_source = f"val_loss/val_bpb of {len(pairs)} log(s)"
    e.notes.append(f"per-seed values from {len(found)} logs in the folder (headline metric of each)")
    if e.val_bpb_claimed is not None and abs(e.val_bpb - e.val_bpb_claimed) > 5e-5:
        e.notes.append(f"claimed val_bpb {e.val_bpb_claimed} but the logs' mean is {e.val_bpb:.5f}")


def load_entries(paths: Iterable[str | Path], logs: bool = False) -> list[Entry]:
    """Read every submission*.json under ``paths``: ours (v1) as is, upstream ones through LegacyRecord.

    ``logs``: for upstream records with fewer than two per-seed values, take them
    from the folder's logs through the one log parser (``harness.core.events``).
    """
    entries = []
    for f in find_submission_files(list(paths)):
        obj = json.loads(f.read_text(encoding="utf-8"))
        if is_v1(obj):
            entries.append(entry_from_v1(obj, f))
        else:
            entries.append(entry_from_legacy(LegacyRecord.from_dict(obj, path=f)))
    if logs:
        for e in entries:
            _enrich_from_logs(e)
    return entries


# ---------------------------------------------------------------- ordering


def order_entries(entries: list[Entry]) -> list[Entry]:
    """PR order (the index, or a v1 record's own PR); records outside it placed by typed date, with a note."""
    idx = prindex.load_pr_index()["folders"]
    for e in entries:
        ent = idx.get(e.key) if e.source == "legacy" else None
        if ent is not None:
            e.pr, e.pr_method = ent["pr"], ent["method"]
            e.sort_key = -1.0 if ent["pr"] is None else float(ent["pr"])
            if ent["pr"] is None:
                e.order_note = "launch snapshot (no PR)"
        elif e.pr is not None:
            e.sort_key = float(e.pr)
    # Records outside the index go after the highest PR among indexed records typed on or before
    # their own date: the typed date is the only clue, and it is compared with typed dates.
    landed = [(e.date, e.pr) for e in entries if e.pr is not None and e.date is not None]
    for e in entries:
        if e.pr is None and e.order_note is None:
            if e.date is not None:
                before = [pr for d, pr in landed if d <= e.date]
                e.sort_key = (max(before) if before else 0) + 0.5
                e.order_note = f"not in the PR index: placed by its typed date {e.date.isoformat()}"
            else:
                e.sort_key = math.inf
                e.order_note = "not in the PR index and no date: placed last"
    out = sorted(entries, key=lambda e: (e.sort_key, e.date or date.max, e.key))
    for i, e in enumerate(out, start=1):
        e.order = i
    return out


# ------------------------------------------------------------- acceptance


def _fmt_p(p: float) -> str:
    return f"{p:.3g}" if p >= 1e-3 else f"{p:.1e}"


def judge(entries: list[Entry], policy: AcceptancePolicy) -> list[Entry]:
    """Walk the ordered entries; record each one's verdict under ``policy`` in ``entry.verdicts[policy.id]``."""
    support: dict[int, list[Entry]] = {}
    for e in entries:
        if e.submission_type == "record_support" and e.supports_pr is not None:
            support.setdefault(e.supports_pr, []).append(e)

    sota: Entry | None = None
    sota_seeds: dict[str, float] = {}
    for e in entries:
        v = Verdict(status="rejected")
        e.verdicts[policy.id] = v
        if e.submission_type == "record_support":
            v.status = "not_ranked"
            v.reasons.append(f"support package for PR #{e.supports_pr}, not a record of its own")
            continue
        if e.track != TRACK_RECORD:
            v.status = "not_ranked"
            v.reasons.append("non-record track: not ranked")
            continue
        seeds = dict(e.per_seed_bpb)
        if policy.use_support_packages and e.pr is not None:
            for s in support.get(e.pr, []):
                extra = {k: x for k, x in s.per_seed_bpb.items() if k not in seeds}
                if extra:
                    seeds.update(extra)
                    v.reasons.append(f"with {len(extra)} seed(s) from support package {s.key}")
        v.seeds_used = len(seeds)
        mean = fmean(seeds.values()) if seeds else e.val_bpb
        if mean is None:
            v.reasons.insert(0, "no val_bpb")
            continue
        if sota is None:
            v.status = "baseline"
            v.reasons.insert(0, "first record in PR order: the starting state of the art")
            sota, sota_seeds = e, seeds
            continue
        sota_mean = fmean(sota_seeds.values()) if sota_seeds else sota.val_bpb
        v.sota_before, v.sota_bpb = sota.key, sota_mean
        bpt = e.bytes_per_token
        if bpt is None:
            bpt = sota.bytes_per_token or _bpt_for_variant("sp1024")
            v.reasons.append("no val_loss/val_bpb pair: the margin uses the SOTA record's bytes/token")
        margin = stats.margin_bpb(bpt, policy.margin_nats) if policy.margin_nats else 0.0
        v.margin_bpb = margin
        fails: list[str] = []
        if e.bytes_max is not None and e.bytes_max > ARTIFACT_CAP_BYTES:
            fails.append(f"over the {ARTIFACT_CAP_BYTES:,}-byte cap ({e.bytes_max:,} bytes)")
        if mean >= sota_mean:
            fails.append(f"worse than SOTA: {mean:.5f} vs {sota_mean:.5f} ({sota.label})")
        elif mean >= sota_mean - margin:
            fails.append(
                f"improvement {sota_mean - mean:.5f} BPB is below the margin {margin:.5f} BPB "
                f"({policy.margin_nats:g} nats)"
            )
        if policy.alpha is not None and not fails:
            if len(seeds) < 2:
                if not policy.allow_single_run:
                    fails.append("one seed only: significance cannot be computed" if seeds
                                 else "no per-seed values: significance cannot be computed")
                else:
                    v.reasons.append("single run: accepted on its mean (no significance test)")
            elif len(sota_seeds) >= 2:
                r = stats.welch_one_sided(list(seeds.values()), list(sota_seeds.values()), margin)
                v.test, v.t, v.df, v.p = "welch", r.t, r.df, r.p
                if r.p >= policy.alpha:
                    fails.append(f"not significant: p={_fmt_p(r.p)} >= {policy.alpha:g} (Welch vs {sota.label})")
            else:
                r1 = stats.one_sample_vs_threshold(list(seeds.values()), sota_mean - margin)
                v.test, v.t, v.df, v.p = "one_sample", r1.t, float(r1.df), r1.p
                v.reasons.append("SOTA has no per-seed values: one-sample test vs SOTA - margin")
                if r1.p >= policy.alpha:
                    fails.append(f"not significant: p={_fmt_p(r1.p)} >= {policy.alpha:g} (one-sample vs SOTA - margin)")
        if fails:
            v.reasons[:0] = fails
            continue
        v.status = "accepted"
        head = f"beats {sota.label} by {sota_mean - mean:.5f} BPB"
        if v.p is not None:
            head += f", p={_fmt_p(v.p)} ({v.test}, n={len(seeds)} vs {len(sota_seeds)})"
        v.reasons.insert(0, head)
        sota, sota_seeds = e, seeds
    return entries


@dataclass
class Leaderboard:
    entries: list[Entry]
    policies: list[AcceptancePolicy]

    def frontier(self, policy_id: str) -> list[Entry]:
        return [e for e in self.entries if e.verdicts[policy_id].status in ("baseline", "accepted")]


def verify_entries(entries: list[Entry]) -> None:
    """Run the verifier's log and record rules on each record's folder; keep the error findings."""
    from verifier.api import verify_path

    for e in entries:
        folder = Path(e.path).parent
        rep = verify_path(folder, groups=["log", "record"])
        e.verifier_errors = [f"{f.rule_id}: {f.message}" for f in rep.findings if f.severity == "error"]
        if e.verifier_errors:
            rules = sorted({x.split(":", 1)[0] for x in e.verifier_errors})
            e.notes.append(f"harness verify: {len(e.verifier_errors)} error finding(s) ({', '.join(rules)})")


def build_leaderboard(
    paths: Iterable[str | Path],
    policies: Iterable[str | AcceptancePolicy] = DEFAULT_POLICIES,
    seeds_from_logs: bool = False,
    verify: bool = False,
) -> Leaderboard:
    """Entries in PR order, judged by each acceptance policy; ``verify`` adds the verifier's errors per record."""
    pols = [p if isinstance(p, AcceptancePolicy) else load_acceptance_policy(p) for p in policies]
    entries = order_entries(load_entries(paths, logs=seeds_from_logs))
    if verify:
        verify_entries(entries)
    for pol in pols:
        judge(entries, pol)
    return Leaderboard(entries, pols)


# ----------------------------------------------------------------- outputs


def _row(e: Entry, pols: list[AcceptancePolicy]) -> dict[str, Any]:
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
                **{k: v for k, v in _row(e, lb.policies).items() if "." not in k},
                "per_seed_bpb": e.per_seed_bpb,
                "bpt_source": e.bpt_source,
                "notes": e.notes,
                "verdicts": {pid: asdict(v) for pid, v in e.verdicts.items()},
            }
            for e in lb.entries
        ],
    }


def write_csv(lb: Leaderboard, path: Path) -> None:
    rows = [_row(e, lb.policies) for e in lb.entries]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0].keys()) if rows else ["order"])
        w.writeheader()
        w.writerows(rows)


def _verdict_text(v: Verdict) -> str:
    if v.status in ("accepted", "baseline"):
        return ("**accepted**" if v.status == "accepted" else "baseline") + (f" (p={_fmt_p(v.p)})" if v.p is not None else "")
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
            cells += [_verdict_text(e.verdicts[p.id]) for p in lb.policies]
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


def plot_progress(lb: Leaderboard, path: Path) -> None:
    """val_bpb against PR order for the 10-minute track: every record a labelled point, each policy's frontier a step line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = [e for e in lb.entries if e.track == TRACK_RECORD and e.submission_type != "record_support" and e.val_bpb]
    fig, ax = plt.subplots(figsize=PLOT_SIZE_IN, dpi=PLOT_DPI)
    xs = list(range(len(rec)))
    ax.scatter(xs, [e.val_bpb for e in rec], s=18, color="0.55", zorder=2, label="records")
    for x, e in zip(xs, rec):
        ax.annotate(e.label[:28], (x, e.val_bpb), fontsize=5.5, rotation=35, xytext=(3, 3),
                    textcoords="offset points", color="0.3")
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for i, p in enumerate(lb.policies):
        pts = [(x, e.val_bpb) for x, e in zip(xs, rec) if e.verdicts[p.id].status in ("baseline", "accepted")]
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
    fig.savefig(path, dpi=PLOT_DPI)
    plt.close(fig)


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
            cells.append(f'<span class="{esc(v.status)}" title="{esc("; ".join(v.reasons))}">{esc(_verdict_text(v).replace("**", ""))}</span>')
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
