"""Library entry point: ``verify_path(path) -> Report``.

``path`` is a records folder (code, logs, submission.json; any may be
missing), a single log, a single script or a submission.json. Resolving PR
references is the CLI's job (``harness.resolve`` is not importable here:
the verifier depends on ``harness.core`` only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from harness.core.policy import load_policy
from harness.core.finding import SEVERITIES, Finding
from verifier.report import Report, RuleOutcome
from verifier.rules import catalogue, is_heuristic, ruleset_version
from verifier.subject import Subject, date_subject, load_subject

DEFAULT_POLICY = "organizer-tda-v1"


class NothingToVerify(ValueError):
    """The path holds none of the inputs any rule reads: a report would say "ok" about nothing."""


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("pgolf-harness")
    except Exception:  # noqa: BLE001
        return "unknown"


def auto_baseline(folder: Path) -> Path | None:
    """The state of the art when ``folder``'s PR was opened: among the sibling record folders whose
    adding PR comes earlier (``harness.core.prindex``, PR order, never the author-typed date), the one
    with the lowest claimed val_bpb that has per-seed values. None when the PR order is unknown."""
    from harness.core import prindex
    from harness.core.legacy_record import LegacyRecord

    me = prindex.pr_for_folder(folder.name)
    if me is None or not folder.parent.is_dir():
        return None
    best: tuple[float, Path] | None = None
    for other in folder.parent.iterdir():
        if other == folder or not (other / "submission.json").is_file():
            continue
        pr = prindex.pr_for_folder(other.name)
        if pr is None or pr >= me:
            continue
        try:
            rec = LegacyRecord.from_path(other)
        except Exception:  # noqa: BLE001 - a broken neighbour is not this record's problem
            continue
        if rec.val_bpb is None or len(rec.per_seed_bpb()) < 2:
            continue
        if best is None or rec.val_bpb < best[0]:
            best = (rec.val_bpb, other)
    return best[1] if best else None


def _load_baseline(baseline: str | Path | None, folder: Path) -> Any | None:
    if baseline is None:
        return None
    from harness.core.legacy_record import LegacyRecord

    if str(baseline) == "auto":
        found = auto_baseline(folder) if folder.is_dir() else None
        return LegacyRecord.from_path(found) if found else None
    return LegacyRecord.from_path(baseline)


def run_rules(subject: Subject, *, groups: Iterable[str] | None = None, only: Iterable[str] | None = None,
              exclude: Iterable[str] = ()) -> tuple[list[RuleOutcome], list[Finding]]:
    """Run every selected rule; a crashing rule becomes a finding, never a crash of the report."""
    wanted_groups = set(groups) if groups else None
    wanted = set(only) if only else None
    skipped = set(exclude)
    outcomes: list[RuleOutcome] = []
    findings: list[Finding] = []
    for rule in catalogue():
        if wanted_groups and rule.group not in wanted_groups:
            continue
        if (wanted and rule.id not in wanted) or rule.id in skipped:
            continue
        if not rule.in_force(subject.opened_on):
            fs = [rule.finding(f"took effect {rule.since}; the PR was opened {subject.opened_on} "
                               f"({subject.opened_source}): not judged by it", status="not_available",
                               severity="info", since=rule.since, opened_on=subject.opened_on)]
            outcomes.append(RuleOutcome(rule, "not_in_force", {s: 0 for s in SEVERITIES} | {"info": 1}))
            findings.extend(fs)
            continue
        try:
            fs = rule.check(subject)
        except Exception as exc:  # noqa: BLE001 - one broken rule must not hide the others
            fs = [rule.finding(f"rule crashed: {type(exc).__name__}: {exc}", status="not_available",
                               severity="warning")]
            outcome = "crashed"
        else:
            outcome = _outcome(rule.id, fs)
        counts = {s: sum(1 for f in fs if f.severity == s) for s in SEVERITIES}
        outcomes.append(RuleOutcome(rule, outcome, counts))
        findings.extend(fs)
    return outcomes, findings


def _outcome(rule_id: str, fs: list[Finding]) -> str:
    problems = [f for f in fs if f.status in ("violation", "needs_runtime_probe") and f.severity != "info"]
    if problems:
        return "findings"
    if fs and all(f.status == "not_available" for f in fs):
        return "not_available"
    if is_heuristic(rule_id):
        return "needs_runtime_probe"  # static analysis never says "clean"
    return "pass"


def verify_subject(subject: Subject, *, target: str | None = None, resolved_from: str | None = None,
                   groups: Iterable[str] | None = None, exclude: Iterable[str] = ()) -> Report:
    outcomes, findings = run_rules(subject, groups=groups, exclude=exclude)
    inputs = {
        "code": [subject.rel(p) for p in subject.code_paths],
        "entry": subject.rel(subject.entry) if subject.entry else None,
        "logs": [lg.display for lg in subject.logs],
        "submission": subject.rel(subject.submission_path) if subject.submission_path else None,
        "baseline": str(subject.baseline_record.path) if subject.baseline_record is not None else None,
        "reproduced": [lg.display for lg in subject.reproduction],
        "resolved_from": resolved_from,
    }
    ruleset = {"version": ruleset_version(), "opened_on": subject.opened_on, "opened_source": subject.opened_source,
               "not_in_force": [o.rule.id for o in outcomes if o.outcome == "not_in_force"]}
    return Report(target=target or str(subject.root), kind=subject.kind,
                  policy=subject.policy_id or DEFAULT_POLICY, inputs=inputs, outcomes=outcomes,
                  findings=findings, harness_version=_version(), ruleset=ruleset)


def verify_path(path: str | Path, policy: str | None = None, claims: dict[str, Any] | None = None, *,
                baseline: str | Path | None = None, resolved_from: str | None = None,
                groups: Iterable[str] | None = None, reproduced: str | Path | None = None,
                exclude: Iterable[str] = (), pr: int | None = None, opened_on: str | None = None) -> Report:
    """Verify a records folder, a log, a script or a submission.json.

    ``policy``: timing policy id (default organizer-tda-v1; strict is always shown beside); an unknown id or a
    policy of another kind raises :class:`harness.core.policy.PolicyError`.
    ``claims``: a submission.json object to check instead of the folder's own.
    ``baseline``: the record this one claims to beat (folder or submission.json) for significance,
    or "auto": the best earlier record beside it in PR order (see :func:`auto_baseline`).
    ``reproduced``: a folder of logs from a re-run (``runs/<id>/``) for the reproduction rules.
    ``groups`` / ``exclude``: run only these rule groups / skip these rule ids.
    ``pr`` / ``opened_on``: the PR behind the folder, or the ISO day it was opened: rules that took
    effect later do not judge it (by default the day comes from the PR index or the folder name).
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p} does not exist")
    if policy is not None:
        load_policy(policy, kind="timing")  # PolicyError now, not a "crashed" rule for each timing rule later
    subject = load_subject(p, claims=claims, policy=policy)
    if not (subject.code_paths or subject.logs or subject.submission_path or subject.claims_override):
        raise NothingToVerify(f"{p} holds no Python code, no training log and no submission.json")
    if pr is not None:
        date_subject(subject, pr)
    if opened_on is not None:
        subject.opened_on, subject.opened_source = opened_on, "given"
    subject.baseline_record = _load_baseline(baseline, p)
    if reproduced is not None:
        subject.reproduction = load_subject(Path(reproduced)).logs
    return verify_subject(subject, target=str(path), resolved_from=resolved_from, groups=groups, exclude=exclude)
