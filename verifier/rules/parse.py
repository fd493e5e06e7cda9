"""code.parse: every shipped Python file parses (under this interpreter, or a newer one its grammar needs)."""

from __future__ import annotations

import sys

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence
from verifier.rules.registration import README_SOURCE, rule
from verifier.subject import Subject


@rule("code.parse", "every shipped Python file parses", since="2026-03-18", severity="error", group="code",
      requires="code",
      source=README_SOURCE + "train_gpt.py 'must successfully compile and run within the records folder' "
      "(README.md:244-252)")
def check_parse(s: Subject, r: Rule) -> list[Finding]:
    out = []
    for u in s.all_units():
        if u.parsed_with:
            out.append(r.finding(f"{u.path}: {u.newer_grammar}; parsed with Python {u.parsed_with} (the local "
                                 f"{sys.version.split()[0]} lacks that grammar)", status="observation",
                                 severity="info", evidence=[code_evidence(u, u.syntax_error_line)], error=u.syntax_error,
                                 parsed_with=u.parsed_with))
        elif u.syntax_error and u.newer_grammar:
            out.append(r.finding(f"{u.path}: cannot parse here: line {u.syntax_error_line} uses {u.newer_grammar}, "
                                 f"newer than the local {sys.version.split()[0]} (no newer interpreter found; set "
                                 "PGOLF_NEWER_PYTHON); facts for it come from a regex fallback", status="not_available",
                                 severity="info", evidence=[code_evidence(u, u.syntax_error_line)], error=u.syntax_error))
        elif u.syntax_error:
            is_entry = s.entry_unit is not None and u.path.startswith(s.entry_unit.path)
            out.append(r.finding(f"{u.path} does not parse under {sys.version.split()[0]} ({u.syntax_error}); "
                                 "facts for it come from a regex fallback", severity="error" if is_entry else "warning",
                                 evidence=[code_evidence(u, u.syntax_error_line)], error=u.syntax_error))
    return out
