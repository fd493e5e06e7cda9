"""log.coverage: the scored targets cover the canonical validation stream; and the figures of that stream.

The data variant a log ran on (from its vocabulary, paths and CaseOps switch), its full
target count, the eval window that may truncate it and the printed precision of the
headline are read here; the byte-accounting rules use them too.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from harness.core import registry
from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import attr, find_line, log_evidence, log_summaries
from verifier.rules.registration import rule
from verifier.subject import LogInput, Subject


# The registry's variant of datasets built by `harness data build-embedded` (the harness's own smoke runs):
# not the FineWeb validation text, so its coverage and byte totals are the builder's manifest's, not canonical.
LOCAL_DATASET = "embedded"


def local_dataset_note(r: Rule, lg: LogInput) -> Finding:
    """What a rule about the FineWeb validation text says of a run on a locally built dataset."""
    return r.finding(f"{lg.display}: ran on a locally built dataset (harness data build-embedded), not the FineWeb "
                     "validation set: the canonical totals do not apply", status="not_available", severity="info",
                     log=lg.display)


def variant_for(summ: Any) -> str | None:
    """The canonical dataset a log's run read, or None (unknown, or a dataset with no canonical totals)."""
    hp = attr(summ, "hyperparams") or {}
    named = _named_dataset(attr(summ, "dataset"))
    if named.startswith("embedded"):
        return LOCAL_DATASET
    # A byte sidecar is CaseOps' way of counting bytes, but not only CaseOps': a named non-CaseOps dataset wins.
    sidecar_caseops = attr(summ, "caseops_enabled") and (not named or "caseops" in named)
    if sidecar_caseops or any("caseops" in str(v).lower() for v in hp.values()):
        return "caseops-sp8192"
    vocab = hp.get("vocab_size")
    try:
        vocab = int(vocab) if vocab is not None else None
    except (TypeError, ValueError):
        vocab = None
    paths = " ".join(str(hp.get(k, "")) for k in ("data_path", "datasets_dir", "val_files", "tokenizer_path")) \
        + " " + str(attr(summ, "dataset") or "")
    if vocab is None:
        m = re.search(r"sp(\d{3,5})|_(\d{3,5})_bpe", paths)
        if m:
            vocab = int(m.group(1) or m.group(2))
    if vocab == 1024:
        return "sp1024-legacy" if attr(summ, "val_tokens") == 63_779_840 else "sp1024"
    if vocab in (4096, 8192):
        return f"sp{vocab}"
    if "byte260" in paths or vocab == 260:
        return "byte260"
    return None


def _named_dataset(dataset: Any) -> str:
    """The dataset directory a loader line names (``fineweb10B_sp1024``, or the folder of a val-shard
    pattern), lower-cased; "" when none is named."""
    text = str(dataset or "").rstrip("/")
    if "*" in text or text.endswith(".bin"):
        text = text.rsplit("/", 1)[0] if "/" in text else ""
    return text.rsplit("/", 1)[-1].lower()


def _decimals(x: Any, text: str | None = None) -> int | None:
    if text:
        m = re.search(r"\.(\d+)", text)
        return len(m.group(1)) if m else 0
    if isinstance(x, float):
        d = Decimal(repr(x)).as_tuple().exponent
        return -d if isinstance(d, int) and d < 0 else 0
    return None


def printed_decimals(lg: LogInput, head: Any, key: str) -> int | None:
    line = lg.line(attr(head, "line_no"))
    m = re.search(rf"{key}[:=\s]+(-?\d+\.(\d+))", line)
    if m:
        return len(m.group(2))
    return _decimals(attr(head, key))


def scored_targets(summ: Any) -> int | None:
    t = attr(summ, "target_tokens")
    return t if t else attr(summ, "val_tokens")


@rule("log.coverage", "the scored targets cover the canonical validation stream",
      since="2026-03-18", severity="error", group="log",
      requires="logs",
      source="DESIGN.md 'Coverage and byte accounting'; PGOLF_FACTS §2.4 (a tail shorter than one eval sequence is "
      "dropped by the multiple-of-context truncation, accepted: #2146 checked val_tokens 47851520)")
def check_coverage(s: Subject, r: Rule) -> list[Finding]:
    pairs = log_summaries(s)
    out = []
    for lg, summ in pairs:
        scored = scored_targets(summ)
        variant = variant_for(summ)
        if variant == LOCAL_DATASET:
            out.append(local_dataset_note(r, lg))
            continue
        if scored is not None and variant is None and scored * MAX_BYTES_PER_TOKEN < _smallest_text(registry):
            # whatever the tokenizer, so few targets cannot span the validation text
            line = find_line(lg, r"val_tokens|val_loader|target_tokens")
            out.append(r.finding(f"{lg.display}: scores {scored:,} targets: even at {MAX_BYTES_PER_TOKEN} bytes a token "
                                 f"that is under {scored * MAX_BYTES_PER_TOKEN:,} of the validation text's "
                                 f"{_smallest_text(registry):,} bytes, whatever the tokenizer", evidence=[log_evidence(lg, line)],
                                 log=lg.display, scored=scored))
            continue
        if scored is None or variant is None:
            out.append(r.finding(f"{lg.display}: scored target count or data variant not printed "
                                 f"(targets={scored}, variant={variant})", status="not_available", severity="info",
                                 log=lg.display))
            continue
        try:
            fig = registry.get_variant(variant).figures.get("val_targets")
        except Exception:  # noqa: BLE001
            fig = None
        line = find_line(lg, r"val_tokens|target_tokens")
        if fig is None:
            out.append(r.finding(f"{lg.display}: no canonical target count for {variant}", status="not_available",
                                 severity="info", log=lg.display, variant=variant))
            continue
        canon = int(fig.value)
        # the canonical full stream is N-1 targets; printed multiples of the eval length are truncations
        full = full_targets(registry, variant) or canon
        if scored >= full:
            out.append(r.finding(f"{lg.display}: scores {scored:,} targets = the full {variant} stream",
                                 status="observation", severity="info", evidence=[log_evidence(lg, line)], log=lg.display,
                                 variant=variant, scored=scored, canonical=full))
        else:
            missing_n = full - scored
            window = _longest_context(summ)
            data = dict(log=lg.display, variant=variant, scored=scored, canonical=full, unscored=missing_n,
                        window_tokens=window)
            if missing_n < window:
                # the multiple-of-context truncation: the organizers accepted it (#2146 checked val_tokens 47851520)
                out.append(r.finding(f"{lg.display}: scores {scored:,} of {full:,} {variant} targets: the {missing_n:,}-"
                                     f"target tail, shorter than one {window:,}-token eval sequence, is dropped "
                                     "(multiple-of-context truncation, accepted)", status="observation",
                                     severity="info", evidence=[log_evidence(lg, line)], **data))
            else:
                out.append(r.finding(f"{lg.display}: scores {scored:,} of {full:,} {variant} targets ({missing_n:,} "
                                     f"unscored, {missing_n / full:.4%}): more than one {window:,}-token eval sequence "
                                     "short of the validation set", evidence=[log_evidence(lg, line)], **data))
    return out


MAX_BYTES_PER_TOKEN = 32  # far above any tokenizer of the challenge (sp8192 averages 3.7)


def _smallest_text(registry: Any) -> int:
    """The smallest validation text total any export carries (bytes)."""
    totals = [int(v.figures["val_bytes"].value) for v in registry.load_registry().values() if "val_bytes" in v.figures]
    return min(totals) if totals else 0


_SEQ_KEYS = ("eval_seq_len", "ttt_eval_seq_len", "train_seq_len", "seq_len", "max_seq_len")
LONGEST_EVAL_CONTEXT = 32_768  # the longest eval sequence in the records' logs (sp1024 at seq 32768: 61,997,056)


def _longest_context(summ: Any) -> int:
    """The longest sequence length the log's hyperparameters name (the truncation unit), else the longest seen."""
    hp = attr(summ, "hyperparams") or {}
    lens = [v for k in _SEQ_KEYS if isinstance(v := hp.get(k), int) and v > 0]
    return max(lens) if lens else LONGEST_EVAL_CONTEXT


def eval_window_tokens(summ: Any, head: Any) -> int | None:
    """One eval window in tokens when the headline comes from a windowed eval (sliding or TTT)."""
    name = str(attr(head, "name") or "").lower()
    hp = attr(summ, "hyperparams") or {}
    # some scripts print the sliding eval under the roundtrip name, announced by "final_eval_mode:sliding_window"
    mode = str(hp.get("final_eval_mode", "")).lower()
    if "sliding" not in name and "ttt" not in name and "sliding" not in mode:
        return None
    for key in _SEQ_KEYS:
        v = hp.get(key)
        if isinstance(v, int) and v > 0:
            return v
    return 2048  # the longest context the 10-minute records evaluate with when the log names none


def full_targets(registry: Any, variant: str) -> int | None:
    """Largest scored_targets row or the val_tokens-1 figure: the full stream when the registry knows it."""
    try:
        v = registry.get_variant(variant)
    except Exception:  # noqa: BLE001
        return None
    vt = v.figures.get("val_tokens")
    cands = [int(row.scored_targets) for row in getattr(v, "scored_bytes", ())]
    if vt is not None and getattr(vt, "exact", False):
        cands.append(int(vt.value) - 1)
    return max(cands) if cands else None

