"""log.timing: the train and eval times a log shows pass the timing policy.

All reading goes through ``harness.core`` (events -> summary -> timeline ->
policy); this rule only judges. Timing is the policy's verdict (default
``organizer-tda-v1``, ``strict`` reported beside it), never a number computed
here.
"""

from __future__ import annotations

from typing import Any

from harness.core.finding import Finding
from harness.core.policy import load_policy
from verifier.model import Rule
from verifier.rules.common import attr, headline, is_non_record, log_evidence, log_summaries
from verifier.rules.registration import rule
from verifier.subject import LogInput, Subject

DEFAULT_POLICY = "organizer-tda-v1"
STRICT_POLICY = "strict"


def load_timing_policy(policy_id: str, **params: float) -> Any:
    """The timing policy a log is judged by (a module-level function so tests can hand in their own)."""
    return load_policy(policy_id, **params)


@rule("log.timing", "train and eval times pass the timing policy",
      since="2026-03-18", severity="error", group="log", requires="logs",
      source="challenge README 'under 10 minutes on 8xH100s' (README.md:165) and eval '10 minutes ... in addition' "
      "(README.md:221); DESIGN.md 'Timing policy' (organizer-tda-v1: training-data-access reading, as merged)")
def check_timing(s: Subject, r: Rule) -> list[Finding]:
    pairs = log_summaries(s)
    policy = load_timing_policy(s.policy_id or DEFAULT_POLICY, **s.policy_params)
    try:
        strict = load_timing_policy(STRICT_POLICY) if (s.policy_id or DEFAULT_POLICY) != STRICT_POLICY else None
    except Exception:  # noqa: BLE001 - strict is informative only
        strict = None
    lenient = is_non_record(s)
    out: list[Finding] = []
    for lg, _summ in pairs:
        tl = lg.timeline(policy)
        for v in policy.evaluate(tl):
            status = attr(v, "status")
            name = attr(v, "name")
            val, cap = attr(v, "value_s"), attr(v, "cap_s")
            nums = f"{val:.1f} s vs cap {cap:.1f} s" if isinstance(val, (int, float)) and isinstance(cap, (int, float)) \
                else "value not determinable"
            detail = attr(v, "detail") or ""
            excluded = _excluded_segments(tl, name)
            data = {"log": lg.display, "policy": attr(policy, "id"), "verdict": name, "verdict_status": status,
                    "value_s": val, "cap_s": cap, "excluded": excluded}
            msg = f"{lg.display}: {name} {status} under {attr(policy, 'id')} ({nums})" + (f"; {detail}" if detail else "")
            if excluded:
                msg += "; excluded: " + ", ".join(f"{n} {sec:.1f} s" for n, sec in excluded)
            ev = [log_evidence(lg, ln) for ln in _verdict_lines(tl, name)][:3]
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
            for w in attr(v, "warnings", []) or []:
                # the policy's notes on a verdict (grace used, a lower bound, a long artifact production) explain
                # it; a FAIL is the problem, its notes are not further problems
                out.append(r.finding(f"{lg.display}: {name}: {w}", status="observation", severity="info",
                                     log=lg.display, verdict=name))
        if strict is not None:
            try:
                for v in strict.evaluate(lg.timeline(strict)):
                    val = attr(v, "value_s")
                    out.append(r.finding(
                        f"{lg.display}: strict {attr(v, 'name')} {attr(v, 'status')}"
                        + (f" ({val:.1f} s)" if isinstance(val, (int, float)) else "")
                        + " (reported beside the verdict, never the default)",
                        status="observation", severity="info", log=lg.display, policy=STRICT_POLICY,
                        verdict=attr(v, "name"), value_s=val))
            except Exception as exc:  # noqa: BLE001
                out.append(r.finding(f"{lg.display}: strict policy could not be evaluated ({exc})",
                                     status="not_available", severity="info"))
    return out


# The organizers merged records whose GPTQ Hessian calibration on training data ran after a loop that used the
# whole 600 s (#1493 ... #1855, 0.7-4.9 s over); the #1868 compliance re-run of 2026-04-29 (bbad71f) moved it
# inside the budget (GPTQ_RESERVE_SECONDS 8.0). From then on calibration counts as the policy says.
CALIBRATION_COUNTS_SINCE = "2026-04-29"


def _over_only_by_calibration(verdict: Any, opened_on: str | None) -> bool:
    if attr(verdict, "name") != "train" or (opened_on is not None and opened_on >= CALIBRATION_COUNTS_SINCE):
        return False
    if opened_on is None:
        return False
    parts = attr(verdict, "parts", []) or []
    loop = sum(p.get("seconds", 0.0) for p in parts if p.get("role") != "post_loop_train_data")
    cap = attr(verdict, "cap_s")
    return isinstance(cap, (int, float)) and any(p.get("role") == "post_loop_train_data" for p in parts) \
        and loop <= cap + 0.5


def _claimed_metrics(s: Subject, lg: LogInput) -> set[str]:
    """The metrics (base names) the claim quotes: the headline when it agrees with the claim, else those whose
    printed values come within 2 % of the claimed val_bpb (a claim that is one eval's mean over seeds)."""
    head = headline(lg.summary)
    if head is not None and attr(head, "agrees_with_claim"):
        return {str(attr(head, "name") or "").removesuffix("_exact")}
    rec = s.legacy_record
    claim = attr(rec, "val_bpb") if rec is not None else None
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
    return list(attr(tl, "segments", []) or [])


def _excluded_segments(tl: Any, verdict_name: str | None) -> list[tuple[str, float]]:
    """Segments the verdict did not count (the policy marks them; fall back on notes)."""
    out = []
    for seg in _segments(tl):
        excl = attr(seg, "excluded")
        note = str(attr(seg, "note", "") or "")
        if excl is None:
            excl = "exclud" in note.lower() or "not counted" in note.lower()
        phase = attr(seg, "phase") or attr(seg, "counts_toward")
        if excl and (phase is None or verdict_name is None or str(phase) == verdict_name):
            sec = attr(seg, "seconds")
            if isinstance(sec, (int, float)):
                out.append((str(attr(seg, "name")), float(sec)))
    return out


def _verdict_lines(tl: Any, verdict_name: str | None) -> list[int]:
    lines = []
    for seg in _segments(tl):
        for key in ("line_no", "start_line", "end_line"):
            ln = attr(seg, key)
            if isinstance(ln, int):
                lines.append(ln)
    return sorted(set(lines))

