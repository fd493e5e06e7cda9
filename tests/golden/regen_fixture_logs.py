"""Regenerate tests/golden/fixture_logs.json: what the core reads from every fixture log.

Run after a deliberate change to the parser, timeline or policies, then review
the diff like code (every changed figure is a behaviour change):

    python tests/golden/regen_fixture_logs.py [RECORDS_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.core.logreport import analyze_log, golden_view  # noqa: E402

GOLDEN = Path(__file__).with_name("fixture_logs.json")
DEFAULT_RECORDS = ROOT.parent / "shared" / "fixtures" / "records"


def fixture_logs(records: Path) -> list[Path]:
    return sorted(p for p in records.rglob("*") if p.is_file() and p.suffix in (".log", ".txt")
                  and not p.name.lower().startswith(("readme", "requirements")))


def build(records: Path) -> dict[str, dict]:
    return {str(p.relative_to(records)): golden_view(analyze_log(p)) for p in fixture_logs(records)}


if __name__ == "__main__":
    records = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_RECORDS
    data = build(records)
    GOLDEN.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN} ({len(data)} logs)")
