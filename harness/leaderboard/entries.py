"""Leaderboard entries: every submission.json read through one schema layer, placed in PR order.

Our v1 records are read as they are, upstream ones through :class:`LegacyRecord`. The
challenge accepted records in PR creation order (the typed ``date`` is whatever the author
wrote), so entries are ordered by the PR that added each (``harness/core/pr_index.json``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from statistics import fmean
from typing import Any, Iterable

from harness.core import prindex, stats
from harness.core.legacy_record import LegacyRecord
from harness.core.records import TRACK_RECORD, find_submission_files, is_v1
from harness.core.registry import get_variant
from harness.core.verdict import Verdict


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


def bpt_for_variant(variant: str) -> float:
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
    return bpt_for_variant(v), f"dataset variant {v} named in the record (no loss/bpb pair)"


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
