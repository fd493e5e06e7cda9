"""Record rules: submission.json itself, and whether its claims match the logs.

Claims are read through ``harness.core.legacy_record.LegacyRecord`` (one shape
for the 55 upstream variants); statistics through ``harness.core.stats`` in
BPB space with the per-tokenizer margin.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import re
from typing import Any

from harness.core import records
from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.finding import Evidence, Finding
from verifier.model import Rule
from verifier.rules.common import attr, headline, is_non_record, log_evidence
from verifier.rules.coverage import printed_decimals
from verifier.rules.registration import NO_CLAIMS, README_SOURCE, rule, unavailable
from verifier.subject import LogInput, Subject

def _sub_ev(s: Subject, key: str | None = None) -> Evidence:
    path = s.submission_path
    if path is None:
        return Evidence("submission.json")
    line = None
    if key:
        try:
            for i, text in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
                if f'"{key}"' in text:
                    line = i
                    break
        except OSError:
            pass
    return Evidence(s.rel(path), line, None if line is None else path.read_text(encoding="utf-8").split("\n")[line - 1].strip()[:160])


@rule("record.schema", "submission.json parses and carries the fields a record needs",
      since="2026-03-18", severity="error",
      group="record", needs=("claims",),
      source=README_SOURCE + "a PR adds one folder with README.md, submission.json, train logs and train_gpt.py "
      "(README.md:244-252); harness.core.records legacy subset")
def check_schema(s: Subject, r: Rule) -> list[Finding]:
    if s.submission_path is None and s.claims_override is None:
        if s.kind == "folder":
            return [r.finding("the folder has no submission.json (a log-only folder of a PR that adds several)",
                              severity="info")]
        return unavailable(r, NO_CLAIMS)
    if s.submission_error:
        return [r.finding(f"submission.json does not parse: {s.submission_error}", evidence=[_sub_ev(s)])]
    out = []
    for err in records.check_legacy_subset(s.submission):
        # free-form upstream files: the organizers merged records missing these fields
        out.append(r.finding(f"submission.json: {err}", severity="info", evidence=[_sub_ev(s)]))
    rec = s.legacy_record
    if rec is not None:
        kinds: dict[str, list[str]] = {}
        for w in rec.warnings:
            kinds.setdefault(w.kind, []).append(w.message)
        for kind, msgs in sorted(kinds.items()):
            out.append(r.finding(f"normalised with warning {kind}: {msgs[0]}" + (f" (+{len(msgs) - 1} more)" if len(msgs) > 1 else ""),
                                 status="observation", severity="info", evidence=[_sub_ev(s)], kind=kind))
    return out


_UNREAD_OK = (".pt", ".ptz", ".bin", ".npz", ".npy", ".safetensors", ".model", ".png", ".jpg", ".pdf", ".zip",
              ".gz", ".xz", ".lzma", ".br", ".zst", ".tar")


@rule("record.files", "every file of the folder could be read (the source had its blob)", since="2026-03-18",
      severity="warning", group="record",
      source="issue 22 (a PR whose model blob is missing from the mirror is reported, not aborted); README: the "
      "folder holds everything needed to run (README.md:244-252)")
def check_files(s: Subject, r: Rule) -> list[Finding]:
    out = []
    for path in s.missing_files:
        binary = path.lower().endswith(_UNREAD_OK)
        out.append(r.finding(f"{path}: its blob is missing from the source the folder was exported from; "
                             + ("an artifact/data file, not needed by the static rules" if binary else
                                "code, logs or claims in it were not verified"),
                             status="not_available" if binary else "violation",
                             severity="info" if binary else "warning", evidence=[Evidence(path)], path=path))
    return out


# ---------------------------------------------------------------------------
# claims vs logs


def _float_decimals(raw: Any) -> int:
    text = repr(raw) if isinstance(raw, float) else str(raw)
    m = re.search(r"\.(\d+)", text)
    return len(m.group(1)) if m else 0


def _close(claim: float, logged: float, claim_dec: int, log_dec: int | None) -> bool:
    tol = 0.5 * 10 ** -min(claim_dec, log_dec if log_dec is not None else claim_dec) + 1e-12
    return abs(claim - logged) <= tol


def _logs_by_seed(s: Subject) -> dict[str, list[tuple[LogInput, Any]]]:
    """Every parsed log per seed (folders may hold re-runs, experiments and originals of one seed)."""
    out: dict[str, list[tuple[LogInput, Any]]] = {}
    for lg in s.logs:
        summ = lg.summary
        if summ is None:
            continue
        seed = attr(summ, "seed")
        if seed is None:
            m = re.search(r"seed[_-]?(\d+)", lg.display)
            seed = m.group(1) if m else None
        if seed is None:
            continue
        out.setdefault(str(seed), []).append((lg, summ))
    return out


def _log_by_seed(s: Subject) -> dict[str, tuple[LogInput, Any]]:
    """One log per seed: top-level first, then not a re-run/original, then by name."""
    def rank(c: tuple[LogInput, Any]) -> tuple:
        return ("/" in c[0].display, bool(re.search(r"rerun|original", c[0].display)), c[0].display)
    return {k: min(v, key=rank) for k, v in _logs_by_seed(s).items()}


@rule("record.claims", "submission.json claims equal what the logs say (per seed: bpb, bytes, steps; mean)",
      since="2026-03-18", severity="error", group="record", needs=("claims", "logs"),
      source=README_SOURCE + "the log must be 'automatically produced by your script' (README.md:244-252); PGOLF_FACTS "
      "§5.7 V16 (KitchenSinkV3 README steps/BPB, FA3_PostQAT bytes_code differ from their logs)")
def check_claims(s: Subject, r: Rule) -> list[Finding]:
    rec = s.legacy_record
    if s.submission is None:
        return unavailable(r, NO_CLAIMS)
    if not s.logs:
        if s.kind != "folder" or is_non_record(s):
            # a submission.json given alone is checked for its own sake; the organizers merged non-record
            # submissions without logs (#73, #363, #1106)
            return [r.finding("claims without logs: nothing to check them against"
                              + (" (accepted on the non-record track)" if s.kind == "folder" else ""),
                              severity="info", evidence=[_sub_ev(s)])]
        return [r.finding("claims without logs: a record must ship the training logs its claims come from",
                          evidence=[_sub_ev(s)], hint="add the train logs the claimed figures come from")]
    if rec is None:
        return unavailable(r, "claims could not be normalised (harness.core.records)")
    by_seed = _log_by_seed(s)
    all_by_seed = _logs_by_seed(s)
    if not by_seed:
        return unavailable(r, "no log with a parsed seed/summary (log parser unavailable or logs unparsed)")
    out: list[Finding] = []
    raw_seeds = (s.submission or {}).get("seed_results") or {}
    matched_bpbs: list[float] = []
    seed_rounding = 0.0  # the largest half-unit of the claimed per-seed val_bpb figures
    for seed, res in rec.seed_results.items():
        cands = all_by_seed.get(str(seed), [])
        hit = None
        if cands:
            # the log that supports the claim if there is one (experiments and re-runs share seeds)
            def agrees(c: tuple[LogInput, Any]) -> bool:
                b = attr(headline(c[1]), "val_bpb")
                return res.val_bpb is not None and b is not None and abs(float(b) - res.val_bpb) <= 0.5e-4
            hit = next((c for c in cands if agrees(c)), by_seed.get(str(seed)))
        if hit is None:
            out.append(r.finding(f"seed {seed} is claimed but no log for it was found", severity="info",
                                 evidence=[_sub_ev(s, str(seed))], seed=seed))
            continue
        lg, summ = hit
        head = headline(summ)
        raw = raw_seeds.get(str(seed), {}) if isinstance(raw_seeds, dict) else {}
        if res.val_bpb is not None and attr(head, "val_bpb") is not None:
            logged = float(attr(head, "val_bpb"))
            matched_bpbs.append(logged)
            cd = _float_decimals(raw.get("val_bpb", res.val_bpb)) if isinstance(raw, dict) else _float_decimals(res.val_bpb)
            ld = printed_decimals(lg, head, "val_bpb")
            seed_rounding = max(seed_rounding, 0.5 * 10 ** -cd)
            if not _close(res.val_bpb, logged, cd, ld):
                side = s.is_side_run(lg)  # the only log of this seed is a side run (an experiment sub-folder)
                out.append(r.finding(f"seed {seed}: claimed val_bpb {res.val_bpb} but {lg.display} headline says "
                                     f"{logged}" + ("; that log is a side run, not the claimed one" if side else ""),
                                     severity="info" if side else None,
                                     evidence=[_sub_ev(s, str(seed)), log_evidence(lg, attr(head, 'line_no'))],
                                     seed=seed, claimed=res.val_bpb, logged=logged, field="val_bpb"))
        la = attr(summ, "artifact_bytes")
        # A claim of the model's bytes alone (the log's "Serialized model" line) is a claim of another quantity,
        # not a disagreement: the total is judged by log.artifact_cap.
        model_only = res.artifact_bytes is not None and attr(summ, "model_bytes") == int(res.artifact_bytes)
        if res.artifact_bytes is not None and la is not None and int(res.artifact_bytes) != int(la) and not model_only:
            hides_cap = int(res.artifact_bytes) <= ARTIFACT_CAP_BYTES < int(la)  # the claim reads under the cap, the log over
            out.append(r.finding(f"seed {seed}: claimed artifact {res.artifact_bytes:,} bytes but {lg.display} "
                                 f"prints {la:,}" + (": the claim is under the cap, the log over it" if hides_cap
                                                     else " (bookkeeping: the cap is judged by log.artifact_cap)"),
                                 severity="warning" if hides_cap else "info", evidence=[_sub_ev(s, str(seed))], seed=seed,
                                 claimed=res.artifact_bytes, logged=la, field="artifact_bytes"))
        ls = attr(summ, "steps")
        if res.steps is not None and ls is not None and int(res.steps) != int(ls):
            out.append(r.finding(f"seed {seed}: claimed {res.steps:,} steps but {lg.display} stopped at {ls:,}",
                                 severity="info", evidence=[_sub_ev(s, str(seed))], seed=seed, claimed=res.steps, logged=ls,
                                 field="steps"))
    # top-level figures against single-log / mean
    top_raw = s.submission or {}
    claimed_seeds = set(map(str, rec.seed_results)) | {str(x) for x in (rec.seeds or [])}
    complete = not claimed_seeds or claimed_seeds <= set(by_seed)  # a mean over a subset proves nothing
    single = _single_run_claim(s, rec) if rec.val_bpb is not None and not rec.seed_results else None
    if single is not None:
        # the claim is one run's figure (the submitted run; the other logs are extra seeds or ablations)
        lg, line = single
        out.append(r.finding(f"claimed val_bpb {rec.val_bpb} is the figure of one run ({lg.display}:{line}), "
                             "not a mean over the logs", status="observation", severity="info",
                             evidence=[_sub_ev(s, "val_bpb"), log_evidence(lg, line)], log=lg.display, field="val_bpb"))
    elif rec.val_bpb is not None and complete and not any(s.is_side_run(lg) for lg, _ in by_seed.values()):
        logged_vals = matched_bpbs or [float(attr(headline(sm), "val_bpb")) for _, sm in by_seed.values()
                                       if attr(headline(sm), "val_bpb") is not None]
        if logged_vals:
            mean = sum(logged_vals) / len(logged_vals)
            src_key = rec.provenance.get("val_bpb", "val_bpb")
            cd = _float_decimals(top_raw.get(src_key, rec.val_bpb))
            # The claim is often the mean of the rounded per-seed claims (each checked against its log
            # above): allow the claim's own rounding, the per-seed claims' rounding and the logs' rounding.
            # (2026-04-05_SP8192_GPTQ-Embeddings: seeds claimed to 5 decimals average 1.085626 -> 1.08563,
            # the logs' 8-decimal values 1.0856248.)
            allowed = 0.5 * 10 ** -cd + seed_rounding + 5e-8
            if not _close(rec.val_bpb, mean, cd, None) and abs(rec.val_bpb - mean) > allowed:
                out.append(r.finding(f"claimed val_bpb {rec.val_bpb} vs {mean:.8f}, the mean of the logs' headlines "
                                     f"over {len(logged_vals)} log(s)", evidence=[_sub_ev(s, src_key)],
                                     claimed=rec.val_bpb, logged_mean=mean, n=len(logged_vals), field="val_bpb"))
    if rec.bytes_code is not None:
        codes = {int(attr(sm, "code_bytes")) for _, sm in by_seed.values() if attr(sm, "code_bytes") is not None}
        if codes and int(rec.bytes_code) not in codes:
            out.append(r.finding(f"claimed bytes_code {rec.bytes_code:,} but the logs print {sorted(codes)}",
                                 severity="info", evidence=[_sub_ev(s, "bytes_code")], claimed=rec.bytes_code, logged=sorted(codes),
                                 field="bytes_code"))
    if rec.bytes_total is not None and rec.bytes_total > ARTIFACT_CAP_BYTES:
        out.append(r.finding(f"claimed bytes_total {rec.bytes_total:,} exceeds 16,000,000",
                             evidence=[_sub_ev(s, "bytes_total")], field="bytes_total"))
    if is_non_record(s):
        # A non-record submission is not ranked: its figures disagreeing with its logs, or an artifact over
        # the cap (the organizers have listed such negative results in the non-record section), is a warning.
        for f in out:
            if f.severity == "error":
                f.severity = "warning"
    return out


def _single_run_claim(s: Subject, rec: Any) -> tuple[LogInput, int] | None:
    """The log line whose val_bpb is the top-level claim, when the claim names no per-seed results and
    at most one seed: the claim is then one run's figure (its printed precision, any scored metric line)."""
    if len({str(x) for x in (rec.seeds or [])}) > 1:
        return None
    claim_dec = _float_decimals((s.submission or {}).get(rec.provenance.get("val_bpb", "val_bpb"), rec.val_bpb))
    for lg in s.logs:
        for ev in lg.events or []:
            f = ev.fields
            if ev.kind != "metric" or f.get("diagnostic") or f.get("val_bpb") is None:
                continue
            if _close(rec.val_bpb, float(f["val_bpb"]), claim_dec, _float_decimals(f["val_bpb"])):
                return lg, ev.line_no
    return None


# ---------------------------------------------------------------------------
# seeds, significance, track


def _is_record_claim(s: Subject) -> bool:
    rec = s.legacy_record
    track = (s.track or (rec.track if rec is not None else None) or "").replace("-", "_")
    kind = rec.submission_type if rec is not None else "record"
    return track.startswith("10min") and kind == "record"


@rule("record.seeds", "enough seeds for a record (>= 3 on the 10-minute track)", since="2026-03-19", severity="info",
      group="record", requires="record",
      source=README_SOURCE + "'statistically significant win ... usually 3 training runs' (README.md:236-252, added "
      "2026-03-19 in d2bd76079)")
def check_seeds(s: Subject, r: Rule) -> list[Finding]:
    rec = s.legacy_record
    if not _is_record_claim(s):
        return [r.finding("not a 10-minute record claim; seed count not required", status="observation",
                          severity="info")]
    seeds = {str(x) for x in (rec.seeds or [])} | set(rec.seed_results)
    log_seeds = set(_log_by_seed(s))
    n = len(seeds) if seeds else len(log_seeds)
    if n < 3:
        # README: 'usually 3 runs'; merged rows include single-run records (acceptance-organizer-2026-05)
        return [r.finding(f"{n} seed(s) claimed ({', '.join(sorted(seeds)) or 'none listed'}), logs for "
                          f"{len(log_seeds)}: the README asks for usually 3 runs; the organizers also merged single-run "
                          "records", severity="info", evidence=[_sub_ev(s, 'seeds')],
                          seeds=sorted(seeds), log_seeds=sorted(log_seeds))]
    unlogged = sorted(seeds - log_seeds) if log_seeds else []
    if unlogged and s.logs:
        return [r.finding(f"seeds {', '.join(unlogged)} are claimed without a log", severity="info",
                          evidence=[_sub_ev(s, 'seeds')],
                          seeds=sorted(seeds), log_seeds=sorted(log_seeds))]
    return []


@rule("record.significance", "beats the record it claims to beat by 0.005 nats at p < 0.01 (in BPB space)",
      since="2026-03-18", severity="warning", group="record", requires="record",
      source=README_SOURCE + "record criterion 1 'beat SOTA by at least 0.005 nats ... p < 0.01' (README.md:236-242); "
      "DESIGN.md 'Scores, significance, acceptance' (BPB space, per-tokenizer margin)")
def check_significance(s: Subject, r: Rule) -> list[Finding]:
    rec = s.legacy_record
    if not _is_record_claim(s):  # say so: an empty list would read as "beats the record" (PR #1894)
        return unavailable(r, "not a 10-minute record claim; significance not required")
    baseline = getattr(s, "baseline_record", None)
    if baseline is None:
        return unavailable(r, "no baseline record given (harness verify --baseline PATH): significance not computed")
    from harness.core import stats

    cand, base = rec.per_seed_bpb(), baseline.per_seed_bpb()
    if len(cand) < 2 or len(base) < 2:
        return unavailable(r, f"per-seed values: candidate {len(cand)}, baseline {len(base)}; need >= 2 each for Welch")
    pairs = rec.loss_bpb_pairs()
    if not pairs:
        return unavailable(r, "no (val_loss, val_bpb) pair to convert the 0.005-nat margin into BPB")
    bpt = stats.bytes_per_token_from_pairs(pairs)
    margin = stats.margin_bpb(bpt)
    res = stats.welch_one_sided(cand, base, margin)
    data = {"t": res.t, "df": res.df, "p": res.p, "mean_diff": res.mean_diff, "margin_bpb": margin,
            "baseline": str(baseline.path), "n_candidate": len(cand), "n_baseline": len(base)}
    msg = (f"Welch one-sided vs {baseline.folder}: mean diff {res.mean_diff:+.5f} BPB, margin {margin:.5f} BPB, "
           f"t={res.t:.2f}, df={res.df:.1f}, p={res.p:.4g}")
    if res.p < 0.01:
        return [r.finding(msg + " (p < 0.01)", status="observation", severity="info", **data)]
    return [r.finding(msg + " (not p < 0.01 under the README rule)", **data)]


@rule("record.track", "track claims are consistent with the logged times and hardware",
      since="2026-03-18", severity="error",
      group="record", requires="record",
      source=README_SOURCE + "10-minute track: train < 600 s and eval < 600 s on 8xH100 SXM (README.md:165, 221); "
      "non-record track may use unlimited compute if noted (README.md:254-260)")
def check_track(s: Subject, r: Rule) -> list[Finding]:
    rec = s.legacy_record
    out = []
    folder_track = s.track
    if rec.track and rec.track_folder and rec.track_folder.replace("track_", "") != rec.track:
        out.append(r.finding(f"submission.json says track {rec.track} but the folder is {rec.track_folder}",
                             evidence=[_sub_ev(s, "track")]))
    if not (folder_track or rec.track or "").startswith("10min"):
        return out
    for seed, res in rec.seed_results.items():
        for fld, cap in (("train_time_s", 600.0), ("eval_time_s", 600.0)):
            v = getattr(res, fld, None)
            if v is not None and v > cap + 0.5:
                out.append(r.finding(f"seed {seed}: claimed {fld} {v:.1f} s exceeds the 10-minute track's {cap:.0f} s",
                                     evidence=[_sub_ev(s, str(seed))], seed=seed, field=fld, value=v))
    hw = rec.hardware or ""
    if hw and not re.search(r"8\s*x?\s*H100", hw, re.I):
        smoke = ((s.submission or {}).get("verification") or {}).get("mode") == "smoke"  # a harness smoke record
        out.append(r.finding(f"claimed hardware {hw!r} is not 8xH100 on the 10-minute track"
                             + ("; a smoke run, unofficial by its record" if smoke else ""),
                             severity="info" if smoke else "warning", evidence=[_sub_ev(s, "hardware")]))
    for lg in s.logs:
        if not s.is_record_log(lg):
            continue  # an experiment or earlier run in the folder, not the claimed one
        summ = lg.summary
        steps_time = attr(summ, "train_time_s")
        if isinstance(steps_time, (int, float)) and steps_time > 600.5:
            out.append(r.finding(f"{lg.display}: the script's own train_time {steps_time:.1f} s exceeds 600 s on a "
                                 "10-minute track claim", evidence=[log_evidence(lg, None)], log=lg.display))
    return out
