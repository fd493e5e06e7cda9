"""What a plan's tasks left in the record store: finished records, status rows, collection.

A task writes ``<store>/<task.out>/<run-id>/submission.json``; a task retried after a
preemption writes a second run folder beside the first, and the newest record wins.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.fleet.plan import Plan, Task


def finished_record(plan: Plan, task: Task, store: Path | None = None) -> Path | None:
    """The newest submission.json the task wrote, or None."""
    folder = (Path(store) / task.out) if store else plan.store_path(task)
    found = sorted(folder.glob("*/submission.json"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _verdict(record: dict, seed: int) -> str:
    result = record["seed_results"].get(str(seed), {})
    if result.get("status") != "ok":
        return f"FAILED: {result.get('failure_reason', '?')}"[:60]
    verdicts = record["verification"]["per_seed"].get(str(seed), {}).get("verdicts", [])
    timing = " ".join(f"{v['name']}:{v['status']}" for v in verdicts if v["name"] in ("train", "eval"))
    return f"val_bpb {result['val_bpb']:.6f} {timing}".strip()


@dataclass
class StatusRow:
    task: str
    job: str
    node: str
    phase: str
    elapsed: str
    verdict: str


def _seconds(s: float | None) -> str:
    if s is None:
        return ""
    m, sec = divmod(int(round(s)), 60)
    return f"{m}:{sec:02d}"


def status_rows(plan: Plan, jobs: dict[str, str], queue: dict[str, dict], store: Path | None = None) -> list[StatusRow]:
    """One row per task: the engine's job id and view (state, node, elapsed) where it still has one,
    else what the store says (a record: done or failed; a seed folder without one: started)."""
    rows = []
    for task in plan.tasks:
        job = jobs.get(task.id, "")
        q = queue.get(job, {})
        record_path = finished_record(plan, task, store)
        node, phase, elapsed, verdict = q.get("node", ""), q.get("state", ""), q.get("elapsed", ""), ""
        if record_path is not None:
            record = json.loads(record_path.read_text())
            ok = record["seed_results"].get(str(task.seed), {}).get("status") == "ok"
            phase = "done" if ok else "failed"
            verdict = _verdict(record, task.seed)
            elapsed = elapsed or _seconds(record["verification"]["per_seed"].get(str(task.seed), {}).get("wall_s"))
        elif not phase:
            started = (Path(store) / task.out if store else plan.store_path(task)).is_dir()
            phase = "started, no record yet" if started else ("queued" if job else "not launched")
        rows.append(StatusRow(task.id, job, node, phase, elapsed, verdict))
    return rows


@dataclass
class Collected:
    submission: str
    seeds: list[int]
    missing: list[int]
    record: Path | None


def collect(plan: Plan, out: Path, store: Path | None = None, say: Callable[[str], None] | None = None) -> list[Collected]:
    """Per submission: merge the finished seeds' records into ``out/<submission>/submission.json``."""
    from harness.fleet.merge import merge

    say = say or (lambda _s: None)
    results = []
    by_submission: dict[str, list[Task]] = {}
    for task in plan.tasks:
        by_submission.setdefault(task.submission, []).append(task)
    for name, tasks in by_submission.items():
        found = [(t, finished_record(plan, t, store)) for t in tasks]
        have = [(t, p) for t, p in found if p is not None]
        missing = [t.seed for t, p in found if p is None]
        record = None
        if have:
            dest = Path(out) / name / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            record, _ = merge([p for _, p in have], dest, say=say)
        results.append(Collected(name, [t.seed for t, _ in have], missing, record))
    return results
