"""code.target_cache: no eval-time cache keyed on target tokens (n-gram, hash and logit-bias caches).

Eval functions that name such caches, and environment knobs that switch them, are pointed
at for a runtime probe: a cache must give a full normalised distribution and never read
the token it scores.

The ``@rule`` declarations here share one shape with every rule module's (id, title, date, severity,
group, required input, source): metadata the catalogue lists, not repeated logic (duplicates reports them).
"""

from __future__ import annotations

import re

from harness.core.finding import Finding
from verifier.model import Rule
from verifier.rules.common import code_evidence, code_units
from verifier.rules.registration import rule
from verifier.subject import Subject

_CACHE = re.compile(r"ngram|n_gram|kgram|hash_cache|token_cache|cache_count|ppm_|backoff|logit_bias|etlb|"
                    r"(^|_)ng_(hash|ctx|pair|count|table|order|cache|loss)|^_?NG_", re.I)
_EVALFN = re.compile(r"eval|score|ttt|sliding|bpb", re.I)


@rule("code.target_cache", "no eval-time cache keyed on target tokens (n-gram / hash caches)",
      since="2026-03-18", severity="error",
      group="code", heuristic=True, requires="code",
      source="challenge README record criterion 2, val_bpb 'correctly calculated' (README.md:236-242, 2026-03-18); "
      "applied by the organizer ruling of 2026-03-27 to PRs then open (valerio-oai on #677, summarised in issue "
      "#140): hashed n-gram caches are not normalised over the vocabulary; issue #1017 C2")
def check_target_cache(s: Subject, r: Rule) -> list[Finding]:
    units = code_units(s)
    out = []
    for u in units:
        for name, fn in u.functions.items():
            if not _EVALFN.search(name):
                continue
            hits = sorted(i for i in fn.idents if _CACHE.search(i))
            if hits:
                out.append(r.finding(f"eval function {name}() uses {', '.join(hits[:5])}: an eval-time cache "
                                     "must give a full normalised distribution and never read the target - "
                                     "needs runtime probe (sum-to-1 / answer-mask)", status="needs_runtime_probe",
                                     severity="warning", evidence=[code_evidence(u, fn.line)], function=name,
                                     identifiers=hits[:10]))
        knobs = sorted({e.name for e in u.env if re.search(r"NGRAM|N_GRAM|ETLB|LOGIT_BIAS", e.name)})
        if knobs:
            e0 = next(e for e in u.env if e.name == knobs[0])
            out.append(r.finding(f"environment knobs {', '.join(knobs[:6])} control an n-gram/bias path; "
                                 "check the configuration the logs ran", status="needs_runtime_probe",
                                 severity="info", evidence=[code_evidence(u, e0.line)], knobs=knobs))
    return out
