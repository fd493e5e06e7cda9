"""What is being verified: a records folder, a single log, or a single file.

The subject gathers inputs once and caches what rules derive from them
(static facts per code file, parsed events and summary per log), so twenty
rules do not parse the same log twenty times. Log parsing goes through the
one parser in ``harness.core`` (events / metrics / timeline / policy).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from harness.core import events as ev
from harness.core import metrics
from harness.core import timeline as tl
from harness.core.logfiles import is_training_log
from harness.core.legacy_record import LegacyRecord
from harness.core.schema import loads_json
from verifier.static import CodeUnit, analyse

# sub-folders that hold a submission's side runs (2026-04-04_GDN_Hybrid_LongContext's logs_experiment/)
_EXPERIMENT_DIR = re.compile(r"(^|/)[^/]*(experiment|ablation|sweep|archive|old|supplement)[^/]*/", re.I)


@dataclass
class LogInput:
    path: Path
    display: str  # path relative to the subject root
    # the folder's claimed val_bpb per seed: the headline picker checks each log against its seed's claim
    claims_by_seed: dict[str, float] = field(default_factory=dict)

    @cached_property
    def text(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def events(self) -> list[ev.Event]:
        return ev.parse_file(self.path)

    @cached_property
    def summary(self) -> metrics.LogSummary:
        return metrics.summarize(self.events, claimed_bpb=self.claims_by_seed or None)

    def timeline(self, policy: Any | None = None) -> tl.Timeline:
        head = self.summary.headline
        claimed = head.val_bpb if head is not None and head.agrees_with_claim else None
        return tl.build_timeline(self.events, policy, claimed_bpb=claimed)

    def line(self, n: int | None) -> str:
        if not n or n < 1 or n > len(self.lines):
            return ""
        return self.lines[n - 1]


@dataclass
class Subject:
    root: Path
    kind: str  # "folder" | "log" | "code" | "claims"
    code_paths: list[Path] = field(default_factory=list)
    entry: Path | None = None
    logs: list[LogInput] = field(default_factory=list)
    submission_path: Path | None = None
    claims_override: dict[str, Any] | None = None
    policy_id: str | None = None
    # the policy's parameters (a harness smoke run's own budgets: train_seconds, eval_seconds)
    policy_params: dict[str, float] = field(default_factory=dict)
    other_files: list[Path] = field(default_factory=list)  # README, requirements.txt, ...
    baseline_record: Any = None  # LegacyRecord this submission claims to beat (significance)
    reproduction: list[LogInput] = field(default_factory=list)  # logs of a re-run (reproduction rules)
    # files of the folder whose blobs the mirror it was exported from lacks (never read)
    missing_files: list[str] = field(default_factory=list)
    # the day the PR was opened: rules that took effect later do not judge it (None: every rule judges)
    opened_on: str | None = None
    opened_source: str = "unknown"

    # ---- code -----------------------------------------------------------------
    @cached_property
    def code_units(self) -> dict[str, CodeUnit]:
        out: dict[str, CodeUnit] = {}
        for p in self.code_paths:
            try:
                data = p.read_bytes()
            except OSError as exc:
                out[self.rel(p)] = CodeUnit(path=self.rel(p), text="", size_bytes=0, syntax_error=f"unreadable: {exc}")
                continue
            out[self.rel(p)] = analyse(data, self.rel(p))
        return out

    @property
    def entry_unit(self) -> CodeUnit | None:
        if self.entry is None:
            return None
        return self.code_units.get(self.rel(self.entry))

    def entry_units(self) -> list[CodeUnit]:
        """The entry file and everything decoded from it (what actually runs)."""
        u = self.entry_unit
        return u.all_units() if u else []

    def all_units(self) -> list[CodeUnit]:
        out: list[CodeUnit] = []
        for u in self.code_units.values():
            out.extend(u.all_units())
        return out

    # ---- claims ---------------------------------------------------------------
    @cached_property
    def submission(self) -> dict[str, Any] | None:
        if self.claims_override is not None:
            return self.claims_override
        if self.submission_path is None:
            return None
        try:
            return loads_json(self.submission_path.read_bytes(), str(self.submission_path))
        except (OSError, ValueError):
            return None

    @cached_property
    def submission_error(self) -> str | None:
        if self.submission_path is None or self.claims_override is not None:
            return None
        try:
            loads_json(self.submission_path.read_bytes(), str(self.submission_path))
        except (OSError, ValueError) as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    @cached_property
    def legacy_record(self) -> Any | None:
        if self.submission_path is None or self.submission is None:
            return None
        try:
            return LegacyRecord.from_path(self.submission_path)
        except Exception:  # noqa: BLE001 - the schema rule reports the problem
            return None

    @property
    def track(self) -> str | None:
        """The records track: the folder's ``track_*`` parent first (where the PR put it), else the
        claim's ``track`` (spelled several ways upstream: non-record-16mb, non_record_16mb, ...)."""
        for p in [self.root, *self.root.parents]:
            if p.name.startswith("track_"):
                return p.name[len("track_"):]
        sub = self.submission or {}
        t = sub.get("track")
        if isinstance(t, str) and t:
            return t.replace("-", "_")
        return None

    @cached_property
    def record_logs(self) -> set[str]:
        """Logs of the claimed runs: those printing a claimed val_bpb (per seed, or the top-level figure). Other
        logs in the folder are experiments, ablations or earlier runs; when no log prints a claimed figure (or
        there are no claims) every log counts."""
        rec = self.legacy_record
        claimed: list[float] = []
        if rec is not None:
            claimed = [float(r.val_bpb) for r in rec.seed_results.values() if isinstance(r.val_bpb, (int, float))]
            if isinstance(rec.val_bpb, (int, float)):
                claimed.append(float(rec.val_bpb))
        hits = {lg.display for lg in self.logs
                if any(e.kind == "metric" and e.fields.get("val_bpb") is not None
                       and any(abs(float(e.fields["val_bpb"]) - c) <= 5e-5 for c in claimed) for e in lg.events or [])}
        return hits or {lg.display for lg in self.logs if not _EXPERIMENT_DIR.search(lg.display)}

    def is_record_log(self, lg: LogInput) -> bool:
        return lg.display in self.record_logs

    def is_side_run(self, lg: LogInput) -> bool:
        """A log in an experiment sub-folder (logs_experiment/, ablations/ ...) that prints no claimed figure."""
        return bool(_EXPERIMENT_DIR.search(lg.display)) and lg.display not in self.record_logs

    def file_text(self, name: str) -> str | None:
        for p in self.other_files:
            if p.name.lower() == name.lower():
                try:
                    return p.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    return None
        return None

    def rel(self, p: Path) -> str:
        try:
            return str(p.relative_to(self.root)) if self.root.is_dir() else p.name
        except ValueError:
            return str(p)


def _pick_entry(code: list[Path]) -> Path | None:
    names = {p.name: p for p in code}
    for candidate in ("train_gpt.py", "train.py"):
        if candidate in names:
            return names[candidate]
    trains = sorted(p for p in code if p.name.startswith("train"))
    return trains[0] if trains else (code[0] if len(code) == 1 else None)


def load_subject(path: str | Path, *, claims: dict[str, Any] | None = None, policy: str | None = None) -> Subject:
    """Collect the inputs under ``path`` (a folder or one file)."""
    root = Path(path)
    if root.is_file():
        suffix = root.suffix.lower()
        if suffix == ".py":
            return Subject(root.parent, "code", code_paths=[root], entry=root, claims_override=claims, policy_id=policy)
        if suffix == ".json":
            return Subject(root.parent, "claims", submission_path=root, claims_override=claims, policy_id=policy)
        return Subject(root.parent, "log", logs=[LogInput(root, root.name)], claims_override=claims, policy_id=policy)
    run = _harness_run(root)
    if run is not None:
        return _load_harness_run(root, run, claims=claims, policy=policy)
    files = sorted(p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts)
    code = [p for p in files if p.suffix == ".py" and p.parent == root]
    # code in sub-folders (helpers the entry may import) is listed too but the entry is top-level
    code += [p for p in files if p.suffix == ".py" and p.parent != root and "tokenizers" not in p.parts]
    logs = [LogInput(p, str(p.relative_to(root))) for p in files
            if is_training_log(p)]
    sub = root / "submission.json"
    others = [p for p in files if p.suffix.lower() in (".md", ".txt", ".toml", ".cfg", ".sh")
              and not any(p == lg.path for lg in logs)]
    top_code = [p for p in code if p.parent == root]
    subject = Subject(root, "folder", code_paths=code, entry=_pick_entry(top_code), logs=logs,
                      submission_path=sub if sub.is_file() else None, claims_override=claims,
                      policy_id=policy, other_files=others)
    _attach_claims(subject)
    date_subject(subject)
    subject.missing_files = _missing_files(root)
    return subject


def _harness_run(root: Path) -> dict[str, Any] | None:
    """The record of a run folder ``harness reproduce`` wrote (``runs/<id>``: a v1 submission.json beside
    ``seed-N/`` folders), else None."""
    from harness.core.records import is_v1

    if not any(root.glob("seed-*/harness.log")):
        return None
    try:
        doc = loads_json((root / "submission.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if is_v1(doc) else None


def _load_harness_run(root: Path, record: dict[str, Any], *, claims: dict[str, Any] | None,
                      policy: str | None) -> Subject:
    """A harness run read as what it is: one log per seed (the harness's stamped harness.log; the trainer's
    own log file under work/ holds the same lines), the code of the pristine copy, the run's own policy."""
    verification = record.get("verification") or {}
    seeds = sorted(root.glob("seed-*/harness.log"), key=lambda p: p.parent.name)
    logs = [LogInput(p, str(p.relative_to(root))) for p in seeds]
    code_dir = seeds[0].parent / "code"
    files = sorted(p for p in code_dir.rglob("*") if p.is_file())
    code = [p for p in files if p.suffix == ".py"]
    subject = Subject(root, "folder", code_paths=code, entry=_pick_entry([p for p in code if p.parent == code_dir]),
                      logs=logs, submission_path=root / "submission.json", claims_override=claims,
                      policy_id=policy or (verification.get("policy") or {}).get("id"),
                      policy_params={} if policy else _run_budgets(verification),
                      other_files=[p for p in files if p.suffix.lower() in (".md", ".txt", ".toml", ".cfg", ".sh")])
    _attach_claims(subject)
    date_subject(subject)
    return subject


def _run_budgets(verification: dict[str, Any]) -> dict[str, float]:
    """The budgets a smoke run was judged by (its ``smoke.scaling`` finding), so that verifying the run
    uses them instead of the smoke policy's defaults."""
    for f in verification.get("findings") or []:
        if isinstance(f, dict) and f.get("rule") == "smoke.scaling":
            ev = f.get("evidence") or {}
            return {k: float(ev[k]) for k in ("train_seconds", "eval_seconds") if isinstance(ev.get(k), (int, float))}
    return {}


def _missing_files(root: Path) -> list[str]:
    from harness.core.records import MISSING_BLOBS_FILE

    try:
        doc = json.loads((root / MISSING_BLOBS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [str(m.get("path")) for m in doc.get("missing", []) if isinstance(m, dict)]


def date_subject(subject: Subject, pr: int | None = None) -> None:
    """The opening day of the PR behind the folder (``harness.core.prindex``)."""
    from harness.core import prindex

    subject.opened_on, subject.opened_source = prindex.opened_on(subject.root.name, pr)


def _attach_claims(subject: Subject) -> None:
    """Give every log its seed's claimed val_bpb (the picker prefers the claimed metric line)."""
    rec = subject.legacy_record
    if rec is None:
        return
    claims = {str(k): float(r.val_bpb) for k, r in rec.seed_results.items() if isinstance(r.val_bpb, (int, float))}
    for lg in subject.logs:
        lg.claims_by_seed = claims
