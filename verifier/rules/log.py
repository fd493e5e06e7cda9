"""Log rules: what a run's own log says about its artifact's size, its hardware and its headline metric.

All reading goes through ``harness.core`` (events -> summary); these rules only
judge. Timing (:mod:`verifier.rules.timing`), coverage (:mod:`verifier.rules.coverage`)
and the byte denominator (:mod:`verifier.rules.bytes`) have their own modules.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable

from harness.core import codesize
from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import attr, find_line, headline, is_non_record, log_evidence, log_summaries
from verifier.rules.registration import rule
from verifier.subject import Subject


@rule("log.artifact_cap", "artifact bytes (code + compressed model) <= 16,000,000 for every seed",
      since="2026-03-18", severity="error",
      group="log", requires="logs",
      source="challenge README: cap is decimal 16,000,000 bytes, code bytes + compressed model bytes (README.md:205-208)")
def check_artifact_cap(s: Subject, r: Rule) -> list[Finding]:
    out = []
    shipped_code = functools.cache(lambda: _compressed_code_bytes(s))  # once per folder: minifying is slow
    for lg, summ in log_summaries(s):
        total = attr(summ, "artifact_bytes")
        model = attr(summ, "model_bytes")
        if total is None and model is not None and attr(summ, "code_bytes") is not None:
            total = model + attr(summ, "code_bytes")
        line = find_line(lg, r"^Total submission size|^Total submission|submission size")
        if total is None:
            out.append(r.finding(f"{lg.display}: no total submission size printed", status="not_available",
                                 severity="info", log=lg.display))
            continue
        recount = _recount_under_cap(s, summ, total, shipped_code) if total > ARTIFACT_CAP_BYTES else None
        if recount is not None:
            counted, how, extra = recount
            out.append(r.finding(f"{lg.display}: the log counts {total:,} bytes with the raw source; the model's "
                                 f"{model:,} bytes plus {how}", status="observation", severity="info",
                                 evidence=[log_evidence(lg, line)], log=lg.display, artifact_bytes=counted,
                                 logged_total=total, margin=ARTIFACT_CAP_BYTES - counted, **extra))
        elif total > ARTIFACT_CAP_BYTES:
            record = s.is_record_log(lg)
            # The cap binds the record track; the non-record section has listed over-cap negative results.
            graded = ("info" if not record else "warning" if is_non_record(s) else "error")
            out.append(r.finding(f"{lg.display}: total submission size {total:,} bytes exceeds 16,000,000 by "
                                 f"{total - ARTIFACT_CAP_BYTES:,}" + ("" if record else "; not a log of the claimed runs")
                                 + ("; listed only at the organizers' discretion (non-record track)"
                                    if record and is_non_record(s) else ""),
                                 severity=graded, status="violation" if record else "observation",
                                 evidence=[log_evidence(lg, line)], log=lg.display, artifact_bytes=total,
                                 margin=ARTIFACT_CAP_BYTES - total))
        else:
            raw_code = attr(summ, "code_bytes_raw")
            note = ""
            if raw_code and model and model + raw_code > ARTIFACT_CAP_BYTES:
                note = (f"; with the raw file's {raw_code:,} code bytes it would be {model + raw_code:,} "
                        "(compressed-code convention accepted by the organizers)")
            out.append(r.finding(f"{lg.display}: {total:,} bytes, {ARTIFACT_CAP_BYTES - total:,} under the cap{note}",
                                 status="observation", severity="info", evidence=[log_evidence(lg, line)],
                                 log=lg.display, artifact_bytes=total, margin=ARTIFACT_CAP_BYTES - total))
    return out


def _recount_under_cap(s: Subject, summ: Any, total: int,
                       shipped_code: Callable[[], tuple[int, int] | None]) -> tuple[int, str, dict] | None:
    """A log total over the cap that counted the raw source, re-counted with the code as shipped or as the
    organizers accept it compressed: (total, how the message goes on, extra data) when that is under the
    cap, else None."""
    entry, model = s.entry_unit, attr(summ, "model_bytes")
    if model is None:
        return None
    if entry is not None and entry.decoded:  # a self-extracting entry: the shipped file is what counts
        counted = int(model) + entry.size_bytes
        how = (f"the shipped {entry.size_bytes:,}-byte (self-extracting) code make {counted:,}, under the cap "
               "(compressed-code convention accepted by the organizers)")
        return (counted, how, {}) if counted <= ARTIFACT_CAP_BYTES else None
    measured = shipped_code()
    if measured is None:
        return None
    code, raw = measured
    # Only a total that counted the raw source is re-counted; a script that counted compressed code itself
    # (#1978: "Code size (compressed)" in its total) is judged by its own figure.
    if total - model < 0.9 * raw or model + code > ARTIFACT_CAP_BYTES:
        return None
    counted = int(model) + code
    how = (f"{code:,} code bytes under the compressed-code convention ({COMPRESSED_CODE_RECIPE}) make "
           f"{counted:,}, under the cap (convention accepted by the organizers)")
    return counted, how, {"recipe": COMPRESSED_CODE_RECIPE}


# How later records count code (python-minifier, brotli q11, base85 in a self-extracting wrapper): the
# organizers merged records whose raw-source totals exceed the cap but whose totals under this recipe do not
# (PGOLF_FACTS §5.5), so a raw-source total over the cap is not by itself a violation.
COMPRESSED_CODE_RECIPE = "pyminify-brotli-b85"


def _compressed_code_bytes(s: Subject) -> tuple[int, int] | None:
    """(compressed, raw): the shipped code counted under COMPRESSED_CODE_RECIPE and as raw bytes: the entry,
    and each file beside it that the entry names (an ``exec(open(...))`` shim's payload, an import)."""
    entry = s.entry
    if entry is None:
        return None
    entry_text = entry.read_text(errors="replace")
    files = [entry] + [p for p in s.code_paths if p != entry and re.search(
        rf"(?<![\w.]){re.escape(p.name)}\b|\b(?:from|import)\s+{re.escape(p.stem)}\b", entry_text)]
    code = raw = 0
    for p in files:
        try:
            size = codesize.measure(p.read_bytes(), COMPRESSED_CODE_RECIPE)
        except (OSError, codesize.CodesizeError):
            return None
        code, raw = code + size.counted_bytes, raw + size.raw_bytes
    return code, raw


# ---------------------------------------------------------------------------
# hardware


@rule("log.hardware", "run on 8x H100 SXM (from the log's nvidia-smi block)",
      since="2026-03-18", severity="warning", group="log",
      requires="logs",
      source="challenge README 'must run in under 10 minutes on 8xH100s (specifically the SXM variant)' "
      "(README.md:165, SXM clause 2026-03-18); DESIGN.md: two merged records ran on H200")
def check_hardware(s: Subject, r: Rule) -> list[Finding]:
    pairs = log_summaries(s)
    lenient = is_non_record(s)
    out = []
    for lg, summ in pairs:
        hw = attr(summ, "hardware")
        name = attr(hw, "gpu_name")
        count = attr(hw, "gpu_count")
        torch_v = attr(summ, "torch_version")
        if not name:
            out.append(r.finding(f"{lg.display}: no nvidia-smi block; hardware not stated by the log",
                                 status="not_available", severity="info", log=lg.display, torch=torch_v))
            continue
        line = find_line(lg, re.escape(str(name))) if name else None
        desc = f"{count}x {name}" if count else str(name)
        ok = "H100" in name and ("SXM" in name or "HBM3" in name or "80GB" in name) and (count in (None, 8))
        if "H100" in name and "PCIe" in name:
            ok = False
        if ok:
            out.append(r.finding(f"{lg.display}: {desc}" + (f", torch {torch_v}" if torch_v else ""),
                                 status="observation", severity="info", evidence=[log_evidence(lg, line)],
                                 log=lg.display, gpu=name, count=count, torch=torch_v))
        else:
            why = "not an H100" if "H100" not in name else ("not 8 GPUs" if count not in (None, 8) else "not SXM")
            # merged records ran on 8x H200 (DESIGN.md); other logs in a folder are experiments
            accepted = lenient or not s.is_record_log(lg) or ("H200" in name and count in (None, 8))
            out.append(r.finding(f"{lg.display}: ran on {desc} ({why}); the 10-minute track is defined on 8x H100 SXM"
                                 + ("" if not accepted else " (accepted: " + ("an experiment log" if not
                                    s.is_record_log(lg) else "non-record track" if lenient else
                                    "merged records ran on 8x H200") + ")"),
                                 severity="info" if accepted else "warning", evidence=[log_evidence(lg, line)],
                                 log=lg.display, gpu=name, count=count, torch=torch_v))
    return out


@rule("log.metric", "a headline metric is found and consistent",
      since="2026-03-18", severity="warning", group="log", requires="logs",
      source="DESIGN.md 'One parser...': the headline is picked by a documented precedence, never the last line")
def check_metric(s: Subject, r: Rule) -> list[Finding]:
    pairs = log_summaries(s)
    out = []
    for lg, summ in pairs:
        head = headline(summ)
        if head is None:
            others = any(headline(sm) is not None for other, sm in pairs if other is not lg)
            lenient = others or is_non_record(s)  # a non-record submission is not ranked on it
            out.append(r.finding(f"{lg.display}: no headline metric line (run incomplete or unknown format)"
                                 + ("; other logs of the folder carry the headline" if others else ""),
                                 severity="info" if lenient else None, log=lg.display))
            continue
        loss, bpb = attr(head, "val_loss"), attr(head, "val_bpb")
        ln = attr(head, "line_no")
        reason = attr(head, "reason", "")
        out.append(r.finding(f"{lg.display}: headline {attr(head, 'name')} val_bpb {bpb} (line {ln}; {reason})",
                             status="observation", severity="info", evidence=[log_evidence(lg, ln)], log=lg.display,
                             name=attr(head, "name"), val_bpb=bpb, val_loss=loss, line_no=ln))
        if loss is not None and bpb is not None and bpb > 0 and loss / bpb < 0.4:
            out.append(r.finding(f"{lg.display}: val_loss/val_bpb = {loss / bpb:.3f} bytes-per-token ratio is "
                                 "implausible", evidence=[log_evidence(lg, ln)], log=lg.display))
    return out
