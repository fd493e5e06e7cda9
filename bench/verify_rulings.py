"""Does `harness verify` agree with the organizers? Precision and recall on bench/rulings/cases.toml.

Each case is a real openai/parameter-golf PR with its organizer decision (issue 22). For every
records folder a case lists, the folder is exported from the PR head in the local mirror and
verified in-process (``verifier.api.verify_path``, the library behind `harness verify`); the PR
reference is also resolved the way `harness verify github:openai/parameter-golf#N` resolves it,
so PR shapes the CLI cannot handle show up as rows, not crashes.

    python bench/verify_rulings.py                       # all cases, 2 workers
    python bench/verify_rulings.py --only 1184,1557 -j 1
    python bench/verify_rulings.py --json bench/rulings/baseline.json

Per violation the outcome is, best first: ``error`` (an error at one of the class's rules),
``probe`` (a "needs runtime probe" finding at the right rule naming file:line), ``warning`` (any
other warning/error finding at the right rule), ``wrong_place`` (problems only at other rules),
``missed`` (no problem finding at all) or ``failed`` (no folder could be verified).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CASES_PATH = ROOT / "bench" / "rulings" / "cases.toml"
SCHEMA_PATH = ROOT / "bench" / "rulings" / "cases.schema.json"
DEFAULT_MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")
OUTCOMES = ("error", "probe", "warning", "wrong_place", "missed", "failed")
MAX_WORKERS = 2  # the benchmark shares a 2-core machine
PROBLEM_SEVERITIES = ("error", "warning")


# ----------------------------------------------------------------------------- corpus

def load_cases(path: Path = CASES_PATH) -> dict[str, Any]:
    """cases.toml, validated against cases.schema.json; every violation's class must be declared."""
    import jsonschema

    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema)
    problems = [f"{e.json_path}: {e.message}" for e in validator.iter_errors(doc)]
    for i, case in enumerate(doc.get("case", [])):
        for v in case.get("violation", []):
            if v.get("class") not in doc.get("classes", {}):
                problems.append(f"$.case[{i}] (PR #{case.get('pr')}): class {v.get('class')!r} is not in [classes]")
    if problems:
        raise ValueError(f"{path} does not match {SCHEMA_PATH.name}:\n  " + "\n  ".join(problems[:20]))
    return doc


# ----------------------------------------------------------------------------- running

def _cli_resolution(git_dir: Path, head: str) -> dict[str, Any]:
    """What `harness verify github:openai/parameter-golf#N` reports on (one report per records folder)."""
    from harness.resolve import pr_folders

    try:
        folders, notes, _ = pr_folders(git_dir, head)
    except Exception as exc:  # noqa: BLE001 - a PR shape the CLI rejects is a result, not a crash
        return {"ok": False, "message": f"{type(exc).__name__}: {exc}"}
    return {"ok": True, "folder": folders[0], "folders": folders, "notes": notes}


def _finding_row(f: Any, prefix: str = "") -> dict[str, Any]:
    # Evidence excerpts and data are left out on purpose: they can carry upstream code text.
    return {"rule_id": f.rule_id, "severity": f.severity, "status": f.status, "message": f.message[:300],
            "sites": [f"{prefix}{e.file}:{e.line}" if e.line else f"{prefix}{e.file}" for e in f.evidence if e.file]}


def verify_case(case: dict[str, Any], mirror: Path, workdir: Path) -> dict[str, Any]:
    """Verify every folder of one case; each failure is recorded in the row, never raised."""
    from harness.resolve import export_folder
    from verifier.api import verify_path

    t0 = time.perf_counter()
    row: dict[str, Any] = {"pr": case["pr"], "head": case["head"], "label": case["label"], "folders": []}
    row["cli_resolve"] = _cli_resolution(mirror, case["head"])
    for folder in case["folders"]:
        entry: dict[str, Any] = {"folder": folder}
        try:
            local = export_folder(mirror, case["head"], folder, workdir / f"pr{case['pr']}-{case['head'][:12]}")
            report = verify_path(local)
            entry["counts"] = dict(report.counts)
            prefix = f"{Path(folder).name}/" if len(case["folders"]) > 1 else ""  # sites say which folder
            entry["findings"] = [_finding_row(f, prefix) for f in report.findings if f.severity in PROBLEM_SEVERITIES]
        except Exception as exc:  # noqa: BLE001 - one broken PR must not stop the benchmark
            entry["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        row["folders"].append(entry)
    row["seconds"] = round(time.perf_counter() - t0, 2)
    return row


def run_all(cases: list[dict[str, Any]], mirror: Path, jobs: int = MAX_WORKERS) -> list[dict[str, Any]]:
    """Rows in corpus order; progress on stderr."""
    jobs = max(1, min(jobs, MAX_WORKERS))
    rows: dict[int, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="verify_rulings_") as tmp, ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {pool.submit(verify_case, c, mirror, Path(tmp)): i for i, c in enumerate(cases)}
        for done, fut in enumerate(as_completed(futures), 1):
            i = futures[fut]
            try:
                rows[i] = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker killed for memory
                rows[i] = {"pr": cases[i]["pr"], "head": cases[i]["head"], "label": cases[i]["label"],
                           "folders": [{"folder": f, "error": f"worker: {type(exc).__name__}: {exc}"}
                                       for f in cases[i]["folders"]], "cli_resolve": {"ok": False, "message": "not run"}}
            print(f"[{done}/{len(cases)}] PR #{cases[i]['pr']} {rows[i].get('seconds', '-')} s", file=sys.stderr, flush=True)
    return [rows[i] for i in range(len(cases))]


# ----------------------------------------------------------------------------- scoring

def classify(rules: list[str], row: dict[str, Any]) -> tuple[str, str]:
    """The outcome of one violation (see the module docstring) and what it rests on."""
    verified = [f for f in row["folders"] if "error" not in f]
    if not verified:
        return "failed", "; ".join(f["error"] for f in row["folders"])[:200]
    findings = [x for f in verified for x in f["findings"]]
    here = [x for x in findings if x["rule_id"] in rules]
    errors = [x for x in here if x["severity"] == "error" and x["status"] == "violation"]
    if errors:
        return "error", errors[0]["rule_id"]
    probes = [x for x in here if x["status"] == "needs_runtime_probe" and any(":" in s for s in x["sites"])]
    if probes:
        return "probe", f"{probes[0]['rule_id']} at {probes[0]['sites'][0]}"
    if here:
        return "warning", f"{here[0]['rule_id']} ({here[0]['severity']})"
    if findings:
        return "wrong_place", ", ".join(sorted({x["rule_id"] for x in findings}))
    return "missed", ""


def score(doc: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-violation outcomes, the per-class confusion table and the precision/recall summary."""
    classes = doc["classes"]
    by_pr = {(c["pr"], c["head"]): c for c in doc["case"]}
    violations, clean = [], []
    for row in rows:
        case = by_pr[(row["pr"], row["head"])]
        if case["label"] == "clean":
            # a folder that claims nothing is not the record the merge accepted: its findings are shown, not scored
            unclaimed = {n["folder"] for n in case.get("not_records", [])}
            scored_folders = [f for f in row["folders"] if f["folder"] not in unclaimed]
            verified = [f for f in scored_folders if "error" not in f]
            found = [x for f in verified for x in f["findings"]]
            clean.append({"pr": row["pr"], "failed": len(verified) < len(scored_folders),
                          "not_scored": sorted({x["rule_id"] for f in row["folders"] if f["folder"] in unclaimed
                                                for x in f.get("findings", []) if x["severity"] == "error"}),
                          "errors": sorted({x["rule_id"] for x in found if x["severity"] == "error"}),
                          "warnings": sorted({x["rule_id"] for x in found if x["severity"] == "warning"})})
            continue
        for v in case["violation"]:
            outcome, detail = classify(classes[v["class"]]["rules"], row)
            violations.append({"pr": row["pr"], "class": v["class"], "grade": v["grade"], "outcome": outcome,
                               "detail": detail})
    table: dict[str, Counter] = defaultdict(Counter)
    for v in violations:
        table[v["class"]][v["outcome"]] += 1
    flagged = [v for v in violations if v["outcome"] in ("error", "probe", "warning")]
    decidable = [v for v in violations if v["grade"] == "error"]
    probe_grade = [v for v in violations if v["grade"] == "probe"]
    summary = {
        "clean_records": len(clean),
        "clean_without_error": sum(1 for c in clean if not c["errors"] and not c["failed"]),
        "clean_with_warning": sum(1 for c in clean if c["warnings"]),
        "violations": len(violations),
        "flagged_at_right_rule": len(flagged),
        "decidable": len(decidable),
        "decidable_as_error": sum(1 for v in decidable if v["outcome"] == "error"),
        "probe_graded": len(probe_grade),
        "probe_graded_named_site_or_error": sum(1 for v in probe_grade if v["outcome"] in ("error", "probe")),
        "cli_resolve_failures": [r["pr"] for r in rows if not r["cli_resolve"]["ok"]],
        # `harness verify <PR ref>` reports on each folder the PR adds; these cases list a folder it would miss
        "cli_one_folder_of_several": [r["pr"] for r in rows if r["cli_resolve"]["ok"] and len(r["folders"]) >
                                      len(r["cli_resolve"].get("folders", [r["cli_resolve"].get("folder")]))],
        "folder_failures": [r["pr"] for r in rows if any("error" in f for f in r["folders"])],
    }
    return {"violations": violations, "clean": clean, "table": {k: dict(v) for k, v in table.items()},
            "summary": summary}


# ----------------------------------------------------------------------------- rendering

def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f} %)" if b else f"{a}/0"


def render(doc: dict[str, Any], scored: dict[str, Any]) -> str:
    from verifier.rules import catalogue

    known = {r.id for r in catalogue()}
    out = ["Violations by class (outcome counts; rules: * = not in the verifier yet)", ""]
    head = f"{'class':<20} {'n':>3} " + " ".join(f"{o:>11}" for o in OUTCOMES) + "  rules"
    out += [head, "-" * len(head)]
    for cls, counts in sorted(scored["table"].items()):
        rules = ", ".join(r + ("" if r in known else "*") for r in doc["classes"][cls]["rules"])
        out.append(f"{cls:<20} {sum(counts.values()):>3} " + " ".join(f"{counts.get(o, 0):>11}" for o in OUTCOMES)
                   + f"  {rules}")
    out += ["", "Violations, one per line (PR, class, grade expected, outcome, where)"]
    for v in scored["violations"]:
        out.append(f"  #{v['pr']:<5} {v['class']:<20} {v['grade']:<8} {v['outcome']:<12} {v['detail']}")
    rule_hits: dict[tuple[str, str], list[int]] = defaultdict(list)
    for c in scored["clean"]:
        for r in c["errors"]:
            rule_hits[("error", r)].append(c["pr"])
        for r in c["warnings"]:
            rule_hits[("warning", r)].append(c["pr"])
    out += ["", "Clean merged records: every error and warning, by rule"]
    for (sev, rule), prs in sorted(rule_hits.items(), key=lambda kv: (kv[0][0], -len(kv[1]))):
        out.append(f"  {sev:<8} {rule:<28} {len(prs):>3}  " + " ".join(f"#{p}" for p in prs))
    unscored = [c for c in scored["clean"] if c.get("not_scored")]
    if unscored:
        out += ["", "Folders of merged PRs that claim nothing (not_records in cases.toml): errors shown, not scored"]
        out += [f"  #{c['pr']:<5} " + ", ".join(c["not_scored"]) for c in unscored]
    s = scored["summary"]
    out += ["", "Summary",
            f"  clean records with no error:           {_pct(s['clean_without_error'], s['clean_records'])}",
            f"  clean records with a warning:          {_pct(s['clean_with_warning'], s['clean_records'])}"
            " (target <= 10 %)",
            f"  violations flagged at the right rule:  {_pct(s['flagged_at_right_rule'], s['violations'])}"
            " (target >= 90 %)",
            f"  decidable violations as error:         {_pct(s['decidable_as_error'], s['decidable'])}",
            f"  probe-graded, site named or error:     "
            f"{_pct(s['probe_graded_named_site_or_error'], s['probe_graded'])}",
            f"  PR refs the CLI cannot resolve:        {len(s['cli_resolve_failures'])} "
            + " ".join(f"#{p}" for p in s["cli_resolve_failures"]),
            f"  PR refs whose folders the CLI misses:   {len(s['cli_one_folder_of_several'])} "
            + " ".join(f"#{p}" for p in s["cli_one_folder_of_several"]),
            f"  cases with a folder that failed:       {len(s['folder_failures'])} "
            + " ".join(f"#{p}" for p in s["folder_failures"])]
    return "\n".join(out)


def _mirror_main(mirror: Path) -> str | None:
    proc = subprocess.run(["git", "--git-dir", str(mirror), "rev-parse", "refs/heads/main"], capture_output=True, text=True)
    return proc.stdout.strip() or None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR, help="bare openai/parameter-golf mirror")
    ap.add_argument("--cases", type=Path, default=CASES_PATH)
    ap.add_argument("--only", default=None, help="comma-separated PR numbers")
    ap.add_argument("--json", type=Path, default=None, help="write per-case results and the summary here")
    ap.add_argument("-j", "--jobs", type=int, default=MAX_WORKERS, help=f"worker processes (at most {MAX_WORKERS})")
    args = ap.parse_args(argv)
    if not args.mirror.is_dir():
        ap.error(f"mirror {args.mirror} not found")
    doc = load_cases(args.cases)
    cases = doc["case"]
    if args.only:
        wanted = {int(x) for x in args.only.split(",") if x.strip()}
        cases = [c for c in cases if c["pr"] in wanted]
        doc = {**doc, "case": cases}
    t0 = time.perf_counter()
    rows = run_all(cases, args.mirror, args.jobs)
    scored = score(doc, rows)
    print(render(doc, scored))
    print(f"\n{len(cases)} cases in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"mirror_main": _mirror_main(args.mirror), "cases_file": str(args.cases.name),
                                         "summary": scored["summary"], "table": scored["table"],
                                         "violations": scored["violations"], "clean": scored["clean"],
                                         "rows": rows}, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
