"""Log rules: what a run's own log says about time, bytes, coverage and hardware.

All reading goes through ``harness.core`` (events -> summary -> timeline ->
policy); these rules only judge. Timing is the policy's verdict (default
``organizer-tda-v1``, ``strict`` reported beside it), never a number computed
here.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from harness.core import registry
from verifier.model import Evidence, Finding, excerpt
from verifier.rules._registry import RULES, rule
from verifier.subject import LogInput, Subject

CAP_BYTES = 16_000_000
DEFAULT_POLICY = "organizer-tda-v1"
STRICT_POLICY = "strict"


def _no_logs(rule_id: str, why: str = "no training log in the submission") -> list[Finding]:
    return [RULES[rule_id].finding(why, status="not_available", severity="info")]


def _core_missing(rule_id: str) -> list[Finding]:
    return _no_logs(rule_id, "harness.core log parser (events/metrics) is not importable; log rules skipped")


def _g(obj: Any, name: str, default: Any = None) -> Any:
    """Attribute or key access: summaries are dataclasses, but be lenient with dicts."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _ev(lg: LogInput, line: int | None) -> Evidence:
    return Evidence(lg.display, line, excerpt(lg.line(line)) if line else None)


def _is_non_record(s: Subject) -> bool:
    t = (s.track or "").replace("-", "_")
    return "non_record" in t


def _logs_with_summary(s: Subject, rule_id: str) -> tuple[list[tuple[LogInput, Any]], list[Finding]]:
    if not s.logs:
        return [], _no_logs(rule_id)
    pairs = []
    for lg in s.logs:
        summ = lg.summary
        if summ is None:
            return [], _core_missing(rule_id)
        pairs.append((lg, summ))
    return pairs, []


def _find_line(lg: LogInput, pattern: str) -> int | None:
    rx = re.compile(pattern)
    for i, line in enumerate(lg.lines, start=1):
        if rx.search(line):
            return i
    return None


# ---------------------------------------------------------------------------
# timing


def _load_policy(policy_id: str):
    from harness.core import policy as pol

    return pol.load_policy(policy_id)


@rule("log.timing", "train and eval times pass the timing policy", since="2026-03-18", severity="error", group="log", needs=("logs",),
      source="challenge README 'under 10 minutes on 8xH100s' (README.md:165) and eval '10 minutes ... in addition' "
      "(README.md:221); DESIGN.md 'Timing policy' (organizer-tda-v1: training-data-access reading, as merged)")
def check_timing(s: Subject) -> list[Finding]:
    r = RULES["log.timing"]
    pairs, missing = _logs_with_summary(s, r.id)
    if missing:
        return missing
    policy = _load_policy(s.policy_id or DEFAULT_POLICY)
    try:
        strict = _load_policy(STRICT_POLICY) if (s.policy_id or DEFAULT_POLICY) != STRICT_POLICY else None
    except Exception:  # noqa: BLE001 - strict is informative only
        strict = None
    lenient = _is_non_record(s)
    out: list[Finding] = []
    for lg, _summ in pairs:
        tl = lg.timeline(policy)
        if tl is None:
            return _no_logs(r.id, "harness.core.timeline is not importable; timing not judged")
        for v in policy.evaluate(tl):
            status = _g(v, "status")
            name = _g(v, "name")
            val, cap = _g(v, "value_s"), _g(v, "cap_s")
            nums = f"{val:.1f} s vs cap {cap:.1f} s" if isinstance(val, (int, float)) and isinstance(cap, (int, float)) \
                else "value not determinable"
            detail = _g(v, "detail") or ""
            excluded = _excluded_segments(tl, name)
            data = {"log": lg.display, "policy": _g(policy, "id"), "verdict": name, "verdict_status": status,
                    "value_s": val, "cap_s": cap, "excluded": excluded}
            msg = f"{lg.display}: {name} {status} under {_g(policy, 'id')} ({nums})" + (f"; {detail}" if detail else "")
            if excluded:
                msg += "; excluded: " + ", ".join(f"{n} {sec:.1f} s" for n, sec in excluded)
            ev = [_ev(lg, ln) for ln in _verdict_lines(tl, name)][:3]
            claimed_out = _claimed_eval_excluded(s, lg, name, excluded)
            if claimed_out and isinstance(val, (int, float)) and isinstance(cap, (int, float)) and s.is_record_log(lg):
                seg, sec = claimed_out
                total = val + sec
                if total > cap + 0.5:
                    out.append(r.finding(f"{lg.display}: the claimed val_bpb is the number of '{seg}' ({sec:.1f} s), "
                                         f"which the eval verdict left out; counting the eval that produced the claim, "
                                         f"eval is {total:.1f} s > {cap:.0f} s", evidence=ev, **data,
                                         claimed_segment=seg, claimed_eval_s=total))
                    continue
            if status == "FAIL" and not s.is_record_log(lg):
                out.append(r.finding(msg + "; not a log of the claimed runs (an experiment or earlier run)",
                                     status="observation", severity="info", evidence=ev, **data))
            elif status == "FAIL" and _over_only_by_calibration(v, s.opened_on):
                out.append(r.finding(msg + f"; the loop alone is within the cap: post-loop calibration on training "
                                     f"data was merged outside the 600 s before {CALIBRATION_COUNTS_SINCE} (#1855; "
                                     "the #1868 compliance re-run, bbad71f)", status="observation", severity="info",
                                     evidence=ev, **data))
            elif status == "FAIL":
                out.append(r.finding(msg, severity="info" if lenient else "error", evidence=ev, **data))
            elif status == "PASS_GRACE":
                # within the policy's grace is a pass: the organizers merged records 0.1-0.5 s over
                out.append(r.finding(msg, status="observation", severity="info", evidence=ev, **data))
            elif status == "UNDETERMINED":
                out.append(r.finding(msg, status="not_available", severity="info", evidence=ev, **data))
            else:
                out.append(r.finding(msg, status="observation", severity="info", evidence=ev, **data))
            for w in _g(v, "warnings", []) or []:
                # the policy's notes on a verdict (grace used, a lower bound, a long artifact production) explain
                # it; a FAIL is the problem, its notes are not further problems
                out.append(r.finding(f"{lg.display}: {name}: {w}", status="observation", severity="info",
                                     log=lg.display, verdict=name))
        if strict is not None:
            try:
                for v in strict.evaluate(lg.timeline(strict)):
                    val = _g(v, "value_s")
                    out.append(r.finding(
                        f"{lg.display}: strict {_g(v, 'name')} {_g(v, 'status')}"
                        + (f" ({val:.1f} s)" if isinstance(val, (int, float)) else "")
                        + " (reported beside the verdict, never the default)",
                        status="observation", severity="info", log=lg.display, policy=STRICT_POLICY,
                        verdict=_g(v, "name"), value_s=val))
            except Exception as exc:  # noqa: BLE001
                out.append(r.finding(f"{lg.display}: strict policy could not be evaluated ({exc})",
                                     status="not_available", severity="info"))
    return out


# The organizers merged records whose GPTQ Hessian calibration on training data ran after a loop that used the
# whole 600 s (#1493 ... #1855, 0.7-4.9 s over); the #1868 compliance re-run of 2026-04-29 (bbad71f) moved it
# inside the budget (GPTQ_RESERVE_SECONDS 8.0). From then on calibration counts as the policy says.
CALIBRATION_COUNTS_SINCE = "2026-04-29"


def _over_only_by_calibration(verdict: Any, opened_on: str | None) -> bool:
    if _g(verdict, "name") != "train" or (opened_on is not None and opened_on >= CALIBRATION_COUNTS_SINCE):
        return False
    if opened_on is None:
        return False
    parts = _g(verdict, "parts", []) or []
    loop = sum(p.get("seconds", 0.0) for p in parts if p.get("role") != "post_loop_train_data")
    cap = _g(verdict, "cap_s")
    return isinstance(cap, (int, float)) and any(p.get("role") == "post_loop_train_data" for p in parts) \
        and loop <= cap + 0.5


def _claimed_metrics(s: Subject, lg: LogInput) -> set[str]:
    """The metrics (base names) the claim quotes: the headline when it agrees with the claim, else those whose
    printed values come within 2 % of the claimed val_bpb (a claim that is one eval's mean over seeds)."""
    head = _headline(lg.summary)
    if head is not None and _g(head, "agrees_with_claim"):
        return {str(_g(head, "name") or "").removesuffix("_exact")}
    rec = s.legacy_record
    claim = _g(rec, "val_bpb") if rec is not None else None
    if not isinstance(claim, (int, float)) or claim <= 0:
        return set()
    return {str(e.fields.get("base") or e.fields["name"]).removesuffix("_exact") for e in lg.events or []
            if e.kind == "metric" and e.fields.get("val_bpb") is not None
            and abs(float(e.fields["val_bpb"]) - claim) <= 0.02 * claim}


def _claimed_eval_excluded(s: Subject, lg: LogInput, verdict: str | None,
                           excluded: list[tuple[str, float]]) -> tuple[str, float] | None:
    """The excluded eval segment whose metric is the claimed one (a SLOT eval listed beside the timed one)."""
    bases = _claimed_metrics(s, lg) if verdict == "eval" else set()
    hits = [(n, sec) for n, sec in excluded if n.split()[-1].removesuffix("_exact") in bases]
    return max(hits, key=lambda h: h[1]) if hits else None


def _segments(tl: Any) -> list[Any]:
    return list(_g(tl, "segments", []) or [])


def _excluded_segments(tl: Any, verdict_name: str | None) -> list[tuple[str, float]]:
    """Segments the verdict did not count (the policy marks them; fall back on notes)."""
    out = []
    for seg in _segments(tl):
        excl = _g(seg, "excluded")
        note = str(_g(seg, "note", "") or "")
        if excl is None:
            excl = "exclud" in note.lower() or "not counted" in note.lower()
        phase = _g(seg, "phase") or _g(seg, "counts_toward")
        if excl and (phase is None or verdict_name is None or str(phase) == verdict_name):
            sec = _g(seg, "seconds")
            if isinstance(sec, (int, float)):
                out.append((str(_g(seg, "name")), float(sec)))
    return out


def _verdict_lines(tl: Any, verdict_name: str | None) -> list[int]:
    lines = []
    for seg in _segments(tl):
        for key in ("line_no", "start_line", "end_line"):
            ln = _g(seg, key)
            if isinstance(ln, int):
                lines.append(ln)
    return sorted(set(lines))


# ---------------------------------------------------------------------------
# artifact size


@rule("log.artifact_cap", "artifact bytes (code + compressed model) <= 16,000,000 for every seed", since="2026-03-18", severity="error",
      group="log", needs=("logs",),
      source="challenge README: cap is decimal 16,000,000 bytes, code bytes + compressed model bytes (README.md:205-208)")
def check_artifact_cap(s: Subject) -> list[Finding]:
    r = RULES["log.artifact_cap"]
    pairs, missing = _logs_with_summary(s, r.id)
    if missing:
        return missing
    out = []
    for lg, summ in pairs:
        total = _g(summ, "artifact_bytes")
        if total is None:
            model, code = _g(summ, "model_bytes"), _g(summ, "code_bytes")
            if model is not None and code is not None:
                total = model + code
        line = _find_line(lg, r"^Total submission size|^Total submission|submission size")
        if total is None:
            out.append(r.finding(f"{lg.display}: no total submission size printed", status="not_available",
                                 severity="info", log=lg.display))
            continue
        shipped = _shipped_total(s, summ)
        if total > CAP_BYTES and shipped is not None and shipped <= CAP_BYTES:
            out.append(r.finding(f"{lg.display}: the log counts {total:,} bytes with the raw source; the model's "
                                 f"{_g(summ, 'model_bytes'):,} bytes plus the shipped {s.entry_unit.size_bytes:,}-byte "
                                 f"(self-extracting) code make {shipped:,}, under the cap (compressed-code convention "
                                 "accepted by the organizers)", status="observation", severity="info",
                                 evidence=[_ev(lg, line)], log=lg.display, artifact_bytes=shipped, logged_total=total,
                                 margin=CAP_BYTES - shipped))
        elif total > CAP_BYTES:
            record = s.is_record_log(lg)
            out.append(r.finding(f"{lg.display}: total submission size {total:,} bytes exceeds 16,000,000 by "
                                 f"{total - CAP_BYTES:,}" + ("" if record else "; not a log of the claimed runs"),
                                 severity="error" if record else "info",  # the 16 MB cap binds both tracks
                                 status="violation" if record else "observation",
                                 evidence=[_ev(lg, line)], log=lg.display, artifact_bytes=total,
                                 margin=CAP_BYTES - total))
        else:
            raw_code = _g(summ, "code_bytes_raw")
            model = _g(summ, "model_bytes")
            note = ""
            if raw_code and model and model + raw_code > CAP_BYTES:
                note = (f"; with the raw file's {raw_code:,} code bytes it would be {model + raw_code:,} "
                        "(compressed-code convention accepted by the organizers)")
            out.append(r.finding(f"{lg.display}: {total:,} bytes, {CAP_BYTES - total:,} under the cap{note}",
                                 status="observation", severity="info", evidence=[_ev(lg, line)],
                                 log=lg.display, artifact_bytes=total, margin=CAP_BYTES - total))
    return out


def _shipped_total(s: Subject, summ: Any) -> int | None:
    """Model bytes plus the shipped entry's bytes, when the entry is a self-extracting wrapper (the log then
    counts the raw source it decodes to)."""
    entry, model = s.entry_unit, _g(summ, "model_bytes")
    if entry is None or model is None or not entry.decoded:
        return None
    return int(model) + entry.size_bytes


# ---------------------------------------------------------------------------
# hardware


@rule("log.hardware", "run on 8x H100 SXM (from the log's nvidia-smi block)", since="2026-03-18", severity="warning", group="log",
      needs=("logs",),
      source="challenge README 'must run in under 10 minutes on 8xH100s (specifically the SXM variant)' "
      "(README.md:165, SXM clause 2026-03-18); DESIGN.md: two merged records ran on H200")
def check_hardware(s: Subject) -> list[Finding]:
    r = RULES["log.hardware"]
    pairs, missing = _logs_with_summary(s, r.id)
    if missing:
        return missing
    lenient = _is_non_record(s)
    out = []
    for lg, summ in pairs:
        hw = _g(summ, "hardware")
        name = _g(hw, "gpu_name")
        count = _g(hw, "gpu_count")
        torch_v = _g(summ, "torch_version")
        if not name:
            out.append(r.finding(f"{lg.display}: no nvidia-smi block; hardware not stated by the log",
                                 status="not_available", severity="info", log=lg.display, torch=torch_v))
            continue
        line = _find_line(lg, re.escape(str(name))) if name else None
        desc = f"{count}x {name}" if count else str(name)
        ok = "H100" in name and ("SXM" in name or "HBM3" in name or "80GB" in name) and (count in (None, 8))
        if "H100" in name and "PCIe" in name:
            ok = False
        if ok:
            out.append(r.finding(f"{lg.display}: {desc}" + (f", torch {torch_v}" if torch_v else ""),
                                 status="observation", severity="info", evidence=[_ev(lg, line)],
                                 log=lg.display, gpu=name, count=count, torch=torch_v))
        else:
            why = "not an H100" if "H100" not in name else ("not 8 GPUs" if count not in (None, 8) else "not SXM")
            # merged records ran on 8x H200 (DESIGN.md); other logs in a folder are experiments
            accepted = lenient or not s.is_record_log(lg) or ("H200" in name and count in (None, 8))
            out.append(r.finding(f"{lg.display}: ran on {desc} ({why}); the 10-minute track is defined on 8x H100 SXM"
                                 + ("" if not accepted else " (accepted: " + ("an experiment log" if not
                                    s.is_record_log(lg) else "non-record track" if lenient else
                                    "merged records ran on 8x H200") + ")"),
                                 severity="info" if accepted else "warning", evidence=[_ev(lg, line)],
                                 log=lg.display, gpu=name, count=count, torch=torch_v))
    return out


# ---------------------------------------------------------------------------
# coverage and byte denominator


def _variant_for(summ: Any) -> str | None:
    hp = _g(summ, "hyperparams") or {}
    if _g(summ, "caseops_enabled") or any("caseops" in str(v).lower() for v in hp.values()):
        return "caseops-sp8192"
    vocab = hp.get("vocab_size")
    try:
        vocab = int(vocab) if vocab is not None else None
    except (TypeError, ValueError):
        vocab = None
    paths = " ".join(str(hp.get(k, "")) for k in ("data_path", "datasets_dir", "val_files", "tokenizer_path")) \
        + " " + str(_g(summ, "dataset") or "")
    if vocab is None:
        m = re.search(r"sp(\d{3,5})|_(\d{3,5})_bpe", paths)
        if m:
            vocab = int(m.group(1) or m.group(2))
    if vocab == 1024:
        return "sp1024-legacy" if _g(summ, "val_tokens") == 63_779_840 else "sp1024"
    if vocab in (4096, 8192):
        return f"sp{vocab}"
    if "byte260" in paths or vocab == 260:
        return "byte260"
    return None


def _decimals(x: Any, text: str | None = None) -> int | None:
    if text:
        m = re.search(r"\.(\d+)", text)
        return len(m.group(1)) if m else 0
    if isinstance(x, float):
        d = Decimal(repr(x)).as_tuple().exponent
        return -d if isinstance(d, int) and d < 0 else 0
    return None


def _headline(summ: Any) -> Any:
    return _g(summ, "headline")


def _printed_decimals(lg: LogInput, head: Any, key: str) -> int | None:
    line = lg.line(_g(head, "line_no"))
    m = re.search(rf"{key}[:=\s]+(-?\d+\.(\d+))", line)
    if m:
        return len(m.group(2))
    return _decimals(_g(head, key))


def _scored_targets(summ: Any) -> int | None:
    t = _g(summ, "target_tokens")
    return t if t else _g(summ, "val_tokens")


@rule("log.coverage", "the scored targets cover the canonical validation stream", since="2026-03-18", severity="error", group="log",
      needs=("logs",),
      source="DESIGN.md 'Coverage and byte accounting'; PGOLF_FACTS §2.4 (a tail shorter than one eval sequence is "
      "dropped by the multiple-of-context truncation, accepted: #2146 checked val_tokens 47851520)")
def check_coverage(s: Subject) -> list[Finding]:
    r = RULES["log.coverage"]
    pairs, missing = _logs_with_summary(s, r.id)
    if missing:
        return missing
    out = []
    for lg, summ in pairs:
        scored = _scored_targets(summ)
        variant = _variant_for(summ)
        if scored is not None and variant is None and scored * MAX_BYTES_PER_TOKEN < _smallest_text(registry):
            # whatever the tokenizer, so few targets cannot span the validation text
            line = _find_line(lg, r"val_tokens|val_loader|target_tokens")
            out.append(r.finding(f"{lg.display}: scores {scored:,} targets: even at {MAX_BYTES_PER_TOKEN} bytes a token "
                                 f"that is under {scored * MAX_BYTES_PER_TOKEN:,} of the validation text's "
                                 f"{_smallest_text(registry):,} bytes, whatever the tokenizer", evidence=[_ev(lg, line)],
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
        line = _find_line(lg, r"val_tokens|target_tokens")
        if fig is None:
            out.append(r.finding(f"{lg.display}: no canonical target count for {variant}", status="not_available",
                                 severity="info", log=lg.display, variant=variant))
            continue
        canon = int(fig.value)
        # the canonical full stream is N-1 targets; printed multiples of the eval length are truncations
        full = _full_targets(registry, variant) or canon
        if scored >= full:
            out.append(r.finding(f"{lg.display}: scores {scored:,} targets = the full {variant} stream",
                                 status="observation", severity="info", evidence=[_ev(lg, line)], log=lg.display,
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
                                     severity="info", evidence=[_ev(lg, line)], **data))
            else:
                out.append(r.finding(f"{lg.display}: scores {scored:,} of {full:,} {variant} targets ({missing_n:,} "
                                     f"unscored, {missing_n / full:.4%}): more than one {window:,}-token eval sequence "
                                     "short of the validation set", evidence=[_ev(lg, line)], **data))
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
    hp = _g(summ, "hyperparams") or {}
    lens = [v for k in _SEQ_KEYS if isinstance(v := hp.get(k), int) and v > 0]
    return max(lens) if lens else LONGEST_EVAL_CONTEXT


def _eval_window_tokens(summ: Any, head: Any) -> int | None:
    """One eval window in tokens when the headline comes from a windowed eval (sliding or TTT)."""
    name = str(_g(head, "name") or "").lower()
    hp = _g(summ, "hyperparams") or {}
    # some scripts print the sliding eval under the roundtrip name, announced by "final_eval_mode:sliding_window"
    mode = str(hp.get("final_eval_mode", "")).lower()
    if "sliding" not in name and "ttt" not in name and "sliding" not in mode:
        return None
    for key in _SEQ_KEYS:
        v = hp.get(key)
        if isinstance(v, int) and v > 0:
            return v
    return 2048  # the longest context the 10-minute records evaluate with when the log names none


def _full_targets(registry: Any, variant: str) -> int | None:
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


# ---------------------------------------------------------------------------
# metric consistency and code identity


@rule("log.metric", "a headline metric is found and consistent", since="2026-03-18", severity="warning", group="log", needs=("logs",),
      source="DESIGN.md 'One parser...': the headline is picked by a documented precedence, never the last line")
def check_metric(s: Subject) -> list[Finding]:
    r = RULES["log.metric"]
    pairs, missing = _logs_with_summary(s, r.id)
    if missing:
        return missing
    out = []
    for lg, summ in pairs:
        head = _headline(summ)
        if head is None:
            others = any(_headline(sm) is not None for other, sm in pairs if other is not lg)
            lenient = others or _is_non_record(s)  # a non-record submission is not ranked on it
            out.append(r.finding(f"{lg.display}: no headline metric line (run incomplete or unknown format)"
                                 + ("; other logs of the folder carry the headline" if others else ""),
                                 severity="info" if lenient else None, log=lg.display))
            continue
        loss, bpb = _g(head, "val_loss"), _g(head, "val_bpb")
        ln = _g(head, "line_no")
        reason = _g(head, "reason", "")
        out.append(r.finding(f"{lg.display}: headline {_g(head, 'name')} val_bpb {bpb} (line {ln}; {reason})",
                             status="observation", severity="info", evidence=[_ev(lg, ln)], log=lg.display,
                             name=_g(head, "name"), val_bpb=bpb, val_loss=loss, line_no=ln))
        if loss is not None and bpb is not None and bpb > 0 and loss / bpb < 0.4:
            out.append(r.finding(f"{lg.display}: val_loss/val_bpb = {loss / bpb:.3f} bytes-per-token ratio is "
                                 "implausible", evidence=[_ev(lg, ln)], log=lg.display))
    return out


@rule("log.code_measured", "the source a log embeds is the code it measured", since="2026-03-18", severity="warning", group="log",
      needs=("logs",),
      source="issue 11 item 3/5 (VarLenAttn train0/train1: identical embedded sources, different logged sizes); "
      "PGOLF_FACTS §5.5")
def check_code_measured(s: Subject) -> list[Finding]:
    from harness.core import codesize

    r = RULES["log.code_measured"]
    if not s.logs:
        return _no_logs(r.id)
    out = []
    for lg in s.logs:
        if "Source code:" not in lg.text:
            continue
        emb = codesize.extract_embedded_source(lg.text)
        recipe = codesize.guess_recipe(emb.text) if emb else None
        res = codesize.check_embedded_identity(lg.text, recipe)
        ev = [Evidence(lg.display, res.embedded_line, "Source code:"), _ev(lg, res.logged_line)]
        if res.status == "differs" and res.recomputed_compressed is not None:
            # raw bytes agree: the dump is what was measured; only our re-measurement differs
            m = re.search(r"^Running Python (\d+\.\d+(?:\.\d+)?)", lg.text, re.M)
            logged_py = m.group(1) if m else None
            same_minor = logged_py is not None and logged_py.rsplit(".", 1)[0] == res.interpreter.split()[-1].rsplit(".", 1)[0]
            note = f" (the run used Python {logged_py}, we measured under {res.interpreter})" if logged_py else ""
            out.append(r.finding(f"{lg.display}: {res.detail}{note}", status="observation" if not same_minor else "violation",
                                 severity="warning" if same_minor else "info", evidence=ev, logged_python=logged_py,
                                 identity=res.to_dict()))
        elif res.status == "differs":
            out.append(r.finding(f"{lg.display}: {res.detail}", evidence=ev, identity=res.to_dict()))
        elif res.status == "match":
            out.append(r.finding(f"{lg.display}: {res.detail}", status="observation", severity="info",
                                 evidence=ev, identity=res.to_dict()))
    return out
