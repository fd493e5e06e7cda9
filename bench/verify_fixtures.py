"""Run `harness verify` over every fixture record folder and print the findings table.

    python bench/verify_fixtures.py [RECORDS_DIR] [--json OUT]

One row per folder: the rules that produced error (E) / warning (W) findings
with their counts, then per-rule totals. Info findings and observations are
counted in the last column only. Static code rules report "not available"
here: the fixtures carry logs and submission.json, not code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT = ROOT.parent / "shared" / "fixtures" / "records"


def folders(records: Path) -> list[Path]:
    return sorted(p for track in sorted(records.iterdir()) if track.is_dir() for p in track.iterdir() if p.is_dir())


def main() -> None:
    from verifier.api import verify_path

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("records", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--json", type=Path, default=None, help="also write {folder: report} JSON here")
    ap.add_argument("--policy", default=None)
    args = ap.parse_args()
    rows, totals, reports = [], Counter(), {}
    t0 = time.perf_counter()
    for folder in folders(args.records):
        rep = verify_path(folder, policy=args.policy, baseline="auto")
        reports[f"{folder.parent.name}/{folder.name}"] = rep.to_dict()
        per: Counter = Counter()
        info = 0
        crashed = [o.rule.id for o in rep.outcomes if o.outcome == "crashed"]
        for f in rep.findings:
            if f.status in ("observation", "not_available") or f.severity == "info":
                info += 1
                continue
            per[(f.rule_id, f.severity[0].upper())] += 1
            totals[(f.rule_id, f.severity[0].upper())] += 1
        cells = " ".join(f"{rid}:{sev}{n}" for (rid, sev), n in sorted(per.items()))
        if crashed:
            cells += " CRASHED:" + ",".join(crashed)
        track = "NR" if "non_record" in folder.parent.name else "10"
        rows.append((track, folder.name, rep.counts["error"], rep.counts["warning"], cells or "-", info))
    dt = time.perf_counter() - t0
    w = max(len(r[1]) for r in rows)
    print(f"{'tr':2} {'folder':{w}} {'E':>2} {'W':>2}  findings (rule:severity count)  [info]")
    for tr, name, e, wn, cells, info in rows:
        print(f"{tr:2} {name:{w}} {e:>2} {wn:>2}  {cells}  [{info}]")
    print()
    print("per rule:", ", ".join(f"{rid} {sev}={n}" for (rid, sev), n in sorted(totals.items())))
    with_err = sum(1 for r in rows if r[2])
    print(f"{len(rows)} folders in {dt:.1f} s; {with_err} with error findings, "
          f"{sum(1 for r in rows if r[3] and not r[2])} with warnings only")
    if args.json:
        args.json.write_text(json.dumps(reports, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
