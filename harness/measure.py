"""Per-seed measurement: what the files on disk and the harness-stamped log say.

Nothing here trusts the trainer's arithmetic: artifact bytes come from the
files (counted code + the compressed model file the manifest's pattern
matches), the score comes from the one headline picker, times come from the
one timeline on the harness clock, and the byte denominator the final line
implies is checked against the bytes of the exact scored target range.
All log reading goes through ``harness.core.events`` (one parser).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core import codesize, shards
from harness.core.verdict import FAIL
from harness.data.lut import lut_bytes
from harness.evidence import ArtifactProblem, Snapshot, artifact_snapshot, changed_code

ARTIFACT_CAP_BYTES = 16_000_000
# Final lines print val_loss / val_bpb with 8 decimals; the implied byte count
# is exact to ~1e-7 relative. A real byte bug is percent-level (Scylla: +4 %).
DENOMINATOR_REL_TOL = 1e-5


@dataclass
class CodeCount:
    files: dict[str, int]  # path -> raw bytes
    recipe: str
    counted_bytes: int
    detail: dict[str, Any] = field(default_factory=dict)
    note: str = ""


# A plain record of one seed's figures (its fields look like other dataclasses' by nature, not repeated logic).
@dataclass
class SeedMeasurement:
    seed: int
    ok: bool
    failure: str | None = None
    val_loss: float | None = None
    val_bpb: float | None = None
    headline: dict | None = None
    steps: int | None = None
    train_time_s_script: float | None = None
    eval_time_s_script: float | None = None
    artifact_file: str | None = None
    artifact_path: str | None = None  # absolute path on disk
    artifact_sha256: str | None = None
    artifact_watch: str | None = None  # when the artifact's bytes were hashed
    model_bytes_disk: int | None = None
    code: dict | None = None
    artifact_bytes_disk: int | None = None
    artifact_bytes_logged: int | None = None
    artifact_bytes_agree: bool | None = None
    under_cap: bool | None = None
    scored_targets: int | None = None
    canonical_targets: int | None = None
    coverage: float | None = None
    implied_bytes: float | None = None
    expected_bytes: int | None = None
    expected_bytes_source: str | None = None
    denominator_rel_error: float | None = None
    segments: list[dict] = field(default_factory=list)
    verdicts: list[dict] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    def finding(self, severity: str, rule: str, message: str) -> None:
        self.findings.append({"severity": severity, "rule": rule, "message": message})


def _plain(obj: Any) -> Any:
    """Dataclasses / objects from other modules -> JSON-friendly values."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if hasattr(obj, "to_dict"):
        return _plain(obj.to_dict())
    if hasattr(obj, "__dataclass_fields__"):
        return _plain(asdict(obj))
    if isinstance(obj, Path):
        return str(obj)
    return str(obj)


# ----------------------------------------------------------------------- code + artifact

def count_code(folder: Path, files: list[str], recipe: str = "raw") -> CodeCount:
    """Counted code bytes per DESIGN.md "Artifact accounting" (harness.core.codesize recipes)."""
    raw = {}
    for name in files:
        p = folder / name
        raw[name] = p.stat().st_size if p.exists() else 0
    counted = 0
    detail = {}
    for name in files:
        p = folder / name
        if not p.exists():
            continue
        cs = codesize.measure_file(p, recipe)
        detail[name] = cs.to_dict()
        counted += cs.counted_bytes
    return CodeCount(raw, recipe, counted, detail)


def measure_artifact(m: "SeedMeasurement", work: Path, pattern: str, code_bytes: int,
                     eval_snapshots: list[Snapshot]) -> None:
    """Artifact bytes from the one regular file the pattern matches (:mod:`harness.evidence`),
    checked against its snapshots from the start of the eval phase."""
    try:
        final = artifact_snapshot(work, pattern)
    except ArtifactProblem as exc:
        m.finding("error", exc.rule, str(exc))
        if m.ok:
            m.ok, m.failure = False, f"no artifact: {exc}"
        return
    m.artifact_file = final.path
    m.artifact_path = str(Path(work) / final.path)
    m.artifact_sha256 = final.sha256
    m.model_bytes_disk = final.size
    m.artifact_bytes_disk = final.size + code_bytes
    m.under_cap = m.artifact_bytes_disk <= ARTIFACT_CAP_BYTES
    if not m.under_cap:
        m.finding("error", "artifact.cap",
                  f"artifact {m.artifact_bytes_disk:,} bytes exceeds the {ARTIFACT_CAP_BYTES:,}-byte cap")
    for snap in eval_snapshots:
        if (snap.path, snap.size, snap.sha256) != (final.path, final.size, final.sha256):
            m.finding("error", "artifact.changed_after_eval_start",
                      f"the artifact was {snap.path} ({snap.size:,} bytes, sha256 {snap.sha256[:12]}) when the eval "
                      f"phase began and is {final.path} ({final.size:,} bytes, sha256 {final.sha256[:12]}) at the "
                      "end: the bytes measured are not the bytes scored")
            break
    m.artifact_watch = "hashed at the eval phase's start and at the end" if eval_snapshots else \
        "hashed at the end only (no eval phase was seen while the artifact existed)"


# ----------------------------------------------------------------------- bytes of the scored range

def val_tokens_total(data_dir: Path) -> int:
    return sum(shards.read_header(p).num_tokens for p in shards.list_shards(data_dir, "val"))


def scored_bytes_from_data(data_dir: Path, tokenizer_path: Path | None, scored_targets: int,
                           convention: str = "auto") -> tuple[int, str]:
    """Bytes of targets 1..scored_targets of the concatenated validation stream.

    ``convention``: ``sidecar`` (the byte sidecar: CaseOps-style variants), ``lut``
    (SentencePiece look-up tables with the challenge's rules: control/unknown 0,
    byte-fallback 1, a leading space counts unless the previous token is a boundary;
    what scripts for plain-tokenizer variants compute), or ``auto`` (the sidecar
    when every val shard has one). The two differ where the tokenizer's normaliser
    folds whitespace, so the convention must be the submission's variant's.
    """
    import numpy as np

    vals = shards.list_shards(data_dir, "val")
    side = shards.list_shards(data_dir, "val_bytes")
    n = scored_targets + 1
    if convention != "lut" and side and len(side) == len(vals):
        per = np.concatenate([shards.read_tokens(p) for p in side]).astype(np.int64)
        return int(per[1:n].sum()), "byte sidecar"
    if tokenizer_path is None:
        raise ValueError("no sidecar and no tokenizer to count bytes with")
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(tokenizer_path))
    toks = np.concatenate([shards.read_tokens(p) for p in vals])[:n]
    return lut_bytes(sp, toks), "sentencepiece byte tables"


def byte_convention(variant: str | None) -> str:
    """How a submission of ``variant`` counts validation bytes: sidecar variants vs look-up tables."""
    try:
        from harness.core.registry import get_variant

        return "sidecar" if get_variant(variant).has_sidecars else "lut"
    except (ImportError, KeyError, ValueError, AttributeError, TypeError):
        return "auto"


def expected_scored_bytes(variant: str, scored: int, data_dir: Path | None,
                          tokenizer_path: Path | None, convention: str = "auto") -> tuple[int | None, str | None]:
    """Registry table first (exact rows with provenance), else computed from the local data."""
    try:
        from harness.core.registry import expected_scored_bytes as reg_bytes  # DATA-A
        fig = reg_bytes(variant, scored)
        if fig is not None:
            return int(fig.value), f"registry ({fig.provenance}: {fig.source})"
    except (ImportError, KeyError, ValueError):
        pass
    if data_dir is not None and Path(data_dir).is_dir():
        try:
            n, how = scored_bytes_from_data(Path(data_dir), tokenizer_path, scored, convention)
            return n, f"computed from {data_dir} ({how})"
        except (ValueError, OSError):
            return None, None
    return None, None


def canonical_targets(variant: str, data_dir: Path | None) -> int | None:
    try:
        from harness.core.registry import get_variant  # DATA-A
        v = get_variant(variant)
        fig = v.figures.get("val_targets")
        if fig is not None and variant != "embedded":
            return int(fig.value)
    except (ImportError, KeyError, ValueError, AttributeError):
        pass
    if data_dir is not None and Path(data_dir).is_dir():
        total = val_tokens_total(Path(data_dir))
        return total - 1 if total else None
    return None


# ----------------------------------------------------------------------- the measurement

def measure_seed(*, seed: int, log_path: Path, run_dir: Path, code_dir: Path, manifest, policy=None,
                 data_variant: str | None = None, run_end_s: float | None = None,
                 data_dir: Path | None = None, tokenizer_path: Path | None = None,
                 exit_ok: bool = True, failure: str | None = None,
                 claimed_bpb: float | None = None, eval_snapshots: list[Snapshot] | None = None) -> SeedMeasurement:
    """Everything we measure about one seed; ``ok`` is False when the run produced no score."""
    from harness.core.events import parse_file
    from harness.core.metrics import pick_headline, summarize

    m = SeedMeasurement(seed=seed, ok=exit_ok, failure=failure)
    events = parse_file(log_path) if log_path.exists() else []
    summary = summarize(events)
    headline = pick_headline(events, claimed_bpb=claimed_bpb)
    m.summary = {k: v for k, v in _plain(summary).items() if k not in ("embedded_source", "hyperparams")} \
        if summary is not None else {}
    if headline is not None:
        m.headline = _plain(headline)
        m.val_loss, m.val_bpb = headline.val_loss, headline.val_bpb
    elif m.ok:
        m.ok, m.failure = False, "the log has no headline metric line (the run produced no score)"
    m.steps = getattr(summary, "steps", None)
    m.train_time_s_script = getattr(summary, "train_time_s", None)
    m.eval_time_s_script = getattr(summary, "eval_time_s", None)

    # Artifact bytes from disk vs the log's claim.
    code = count_code(code_dir, manifest.code_files, manifest.code_recipe)
    m.code = asdict(code)
    if code.note:
        m.finding("info", "artifact.code_recipe", code.note)
    measure_artifact(m, run_dir, manifest.artifact, code.counted_bytes, eval_snapshots or [])
    if code_dir != run_dir:
        changed = changed_code(code_dir, run_dir, manifest.code_files)
        if changed:
            m.finding("error", "code.modified",
                      f"the run changed its counted code file(s) {', '.join(changed)} in the working copy; the code "
                      "bytes were counted from the harness's pristine copy")
    m.artifact_bytes_logged = getattr(summary, "artifact_bytes", None)
    if m.artifact_bytes_logged is not None and m.artifact_bytes_disk is not None:
        m.artifact_bytes_agree = m.artifact_bytes_logged == m.artifact_bytes_disk
        if not m.artifact_bytes_agree:
            m.finding("warning", "artifact.logged_vs_disk",
                      f"log says {m.artifact_bytes_logged:,} bytes, disk has {m.artifact_bytes_disk:,} "
                      f"(code {code.counted_bytes:,} by recipe {code.recipe} + model {m.model_bytes_disk:,})")

    # Coverage: scored targets vs the variant's full stream.
    m.scored_targets = getattr(summary, "target_tokens", None) or getattr(summary, "val_tokens", None)
    # The data's own figures (a smoke build given with --data is not the canonical variant), counted
    # the way the submission's variant counts bytes.
    data_variant = data_variant or manifest.data
    m.canonical_targets = canonical_targets(data_variant, data_dir)
    if m.scored_targets and m.canonical_targets:
        m.coverage = m.scored_targets / m.canonical_targets
        if m.scored_targets > m.canonical_targets:
            m.finding("error", "coverage.beyond_stream",
                      f"scored {m.scored_targets:,} targets but the validation stream has {m.canonical_targets:,}: the "
                      "eval read more than the validation shards (a fineweb_val_*.bin glob also matches byte sidecars)")
        elif m.scored_targets < m.canonical_targets:
            m.finding("warning", "coverage.partial",
                      f"scored {m.scored_targets:,} of {m.canonical_targets:,} validation targets "
                      f"({100 * m.coverage:.3f} %)")

    # Byte denominator implied by the headline vs the exact scored range.
    if m.val_loss and m.val_bpb and m.scored_targets:
        m.implied_bytes = m.val_loss / math.log(2) * m.scored_targets / m.val_bpb
        m.expected_bytes, m.expected_bytes_source = expected_scored_bytes(
            data_variant, m.scored_targets, data_dir, tokenizer_path, byte_convention(manifest.data))
        if m.expected_bytes:
            m.denominator_rel_error = m.implied_bytes / m.expected_bytes - 1
            if abs(m.denominator_rel_error) > DENOMINATOR_REL_TOL:
                m.finding("error", "bpb.byte_denominator",
                          f"val_bpb implies {m.implied_bytes:,.0f} bytes for {m.scored_targets:,} targets, "
                          f"expected {m.expected_bytes:,} ({100 * m.denominator_rel_error:+.4f} %): the script's "
                          "BPB does not count each scored target's bytes once (look for targets scored twice, "
                          "e.g. by short tail windows of a sliding eval, or another byte convention)")

    # Timeline + policy verdicts from the harness-stamped log.
    from harness.core.timeline import build_timeline

    timeline = build_timeline(events, policy, claimed_bpb=m.val_bpb, run_end=run_end_s,
                              killed=failure if failure and failure.startswith("killed") else None)
    m.segments = _plain(timeline.segments)
    for f in timeline.findings:
        m.findings.append(_plain(f))
    if policy is not None:
        m.verdicts = _plain(policy.evaluate(timeline))
        for v in m.verdicts:
            if v.get("status") == FAIL:
                m.finding("error", f"timing.{v.get('name')}", v.get("detail") or FAIL)
    return m
