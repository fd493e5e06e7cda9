"""Upstream submission records normalised: one shape for every spelling an upstream file used.

Upstream ``submission.json`` files were free-form: seeds as a list or as a
dict holding per-seed results, the BPB stored under ``val_loss`` in one
file, ``mean_val_bpb`` instead of ``val_bpb`` in another, ``track`` missing
in half of them, dates as days or ISO timestamps, and ``bytes_total`` meaning
the max seed artifact in some, one particular seed in others.
:class:`LegacyRecord` turns any of them into one shape, keeping for every
field the key it came from (``provenance``) and a list of typed warnings, so
the leaderboard and the verifier can say *why* a value is what it is.

Torch-free and independent of the rest of ``harness`` (it lives in core).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path
from statistics import fmean
from typing import Any

from harness.core.constants import ARTIFACT_CAP_BYTES
from harness.core.records import TRACK_NON_RECORD, TRACK_RECORD
from harness.core.schema import loads_json

# Upstream spellings of the track -> (normalised track, unlimited compute?)
_TRACK_ALIASES: dict[str, tuple[str, bool]] = {
    "10min_16mb": (TRACK_RECORD, False),
    "track_10min_16mb": (TRACK_RECORD, False),
    "non_record_16mb": (TRACK_NON_RECORD, False),
    "non-record-16mb": (TRACK_NON_RECORD, False),
    "track_non_record_16mb": (TRACK_NON_RECORD, False),
    "non-record-unlimited-compute-16mb": (TRACK_NON_RECORD, True),
    "non_record_unlimited_compute_16mb": (TRACK_NON_RECORD, True),
}
_FOLDER_TRACK = {"track_10min_16mb": TRACK_RECORD, "track_non_record_16mb": TRACK_NON_RECORD}

# A val_loss below this cannot be nats/token of any subword tokenizer used in
# the challenge (sp1024..sp8192 records all sit above 1.8); byte-level models
# are below it but always state val_bpb too.  So a lone val_loss under it is a
# BPB stored under the wrong key.
_BPB_UNDER_LOSS_MAX = 1.7

# Per-seed keys -> (our field, scale to seconds / identity).
_SEED_KEY_MAP: dict[str, tuple[str, float]] = {
    "val_loss": ("val_loss", 1.0),
    "val_bpb": ("val_bpb", 1.0),
    "artifact_bytes": ("artifact_bytes", 1.0),
    "bytes_total": ("artifact_bytes", 1.0),
    "steps": ("steps", 1.0),
    "train_time_s": ("train_time_s", 1.0),
    "train_time_ms": ("train_time_s", 1e-3),
    "train_wallclock_ms": ("train_time_s", 1e-3),
    "eval_time_s": ("eval_time_s", 1.0),
    "eval_time_ms": ("eval_time_s", 1e-3),
    "ttt_eval_time_s": ("eval_time_s", 1.0),
    "val_tokens": ("val_tokens", 1.0),
    "target_tokens": ("target_tokens", 1.0),
}
_INT_FIELDS = {"artifact_bytes", "steps", "val_tokens", "target_tokens"}


@dataclass(frozen=True)
class RecordWarning:
    kind: str  # stable identifier, e.g. "val_bpb_under_val_loss"
    field: str  # the normalised field it concerns
    message: str


@dataclass
class SeedResult:
    seed: int | str
    val_loss: float | None = None
    val_bpb: float | None = None
    artifact_bytes: int | None = None
    steps: int | None = None
    train_time_s: float | None = None
    eval_time_s: float | None = None
    val_tokens: int | None = None
    target_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # keys we do not normalise, verbatim
    provenance: dict[str, str] = field(default_factory=dict)  # field -> source key


@dataclass
class LegacyRecord:
    """One upstream submission.json in one shape, with provenance and warnings."""

    path: Path  # the submission.json read
    folder: str  # records folder name
    track_folder: str | None  # track_10min_16mb / track_non_record_16mb when the path shows it
    name: str | None = None
    author: str | None = None
    github_id: str | None = None
    date: date | None = None
    date_raw: str | None = None
    track: str | None = None  # 10min_16mb | non_record_16mb
    unlimited_compute: bool = False
    submission_type: str = "record"  # record | non_record | record_support
    supports_pr: int | None = None
    val_loss: float | None = None  # nats/token of the record's tokenizer
    val_bpb: float | None = None
    seeds: list[int | str] = field(default_factory=list)
    seed_results: dict[str, SeedResult] = field(default_factory=dict)
    rerun_seed_results: dict[str, SeedResult] = field(default_factory=dict)  # compliance_rerun
    bytes_total: int | None = None
    bytes_total_meaning: str = "absent"
    bytes_code: int | None = None
    hardware: str | None = None
    pytorch_version: str | None = None
    claimed: dict[str, Any] = field(default_factory=dict)  # std / p-values / t as the record states
    compliance: dict[str, Any] = field(default_factory=dict)
    logs: dict[str, str] = field(default_factory=dict)  # seed label -> log file name, when listed
    provenance: dict[str, str] = field(default_factory=dict)  # field -> source key (or "folder name", ...)
    warnings: list[RecordWarning] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ API
    @classmethod
    def from_path(cls, path: str | os.PathLike) -> "LegacyRecord":
        """Read a submission.json (or a records folder holding one) and normalise it."""
        p = Path(path)
        if p.is_dir():
            cand = p / "submission.json"
            if not cand.is_file():
                alts = sorted(p.glob("submission*.json"))
                if not alts:
                    raise FileNotFoundError(f"no submission*.json in {p}")
                cand = alts[0]
            p = cand
        raw = loads_json(p.read_bytes(), str(p))
        if not isinstance(raw, dict):
            raise ValueError(f"{p}: top level is {type(raw).__name__}, expected an object")
        return cls.from_dict(raw, path=p)

    @classmethod
    def from_dict(cls, raw: dict[str, Any], path: str | os.PathLike = "submission.json") -> "LegacyRecord":
        p = Path(path)
        track_folder = p.parent.parent.name if p.parent.parent.name in _FOLDER_TRACK else None
        rec = cls(path=p, folder=p.parent.name, track_folder=track_folder, raw=raw)
        rec._normalise()
        return rec

    @property
    def warning_kinds(self) -> list[str]:
        return [w.kind for w in self.warnings]

    def per_seed_bpb(self) -> list[float]:
        """Per-seed val_bpb in the record's seed order (only seeds that have one)."""
        return [r.val_bpb for r in self.seed_results.values() if r.val_bpb is not None]

    def loss_bpb_pairs(self) -> list[tuple[float, float]]:
        """(val_loss nats, val_bpb) pairs that can give bytes per token."""
        pairs = [
            (r.val_loss, r.val_bpb)
            for r in self.seed_results.values()
            if r.val_loss is not None and r.val_bpb is not None
        ]
        if not pairs and self.val_loss is not None and self.val_bpb is not None:
            pairs = [(self.val_loss, self.val_bpb)]
        return pairs

    def max_artifact_bytes(self) -> int | None:
        sizes = [r.artifact_bytes for r in self.seed_results.values() if r.artifact_bytes is not None]
        if sizes:
            return max(sizes)
        return self.bytes_total

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"] = str(self.path)
        d["date"] = self.date.isoformat() if self.date else None
        d.pop("raw")
        return d

    # ----------------------------------------------------------- internals
    def _warn(self, kind: str, fld: str, message: str) -> None:
        self.warnings.append(RecordWarning(kind, fld, message))

    def _take(self, fld: str, *keys: str) -> Any:
        """First present, non-null key among ``keys``; records provenance."""
        for k in keys:
            if k in self.raw and self.raw[k] is not None:
                self.provenance[fld] = k
                return self.raw[k]
        return None

    def _normalise(self) -> None:
        for fld in ("name", "author", "github_id"):
            v = self._take(fld, fld)
            if isinstance(v, str) and not v.strip():
                self._warn(f"empty_{fld}", fld, f"'{fld}' is an empty string")
                v = None
            elif v is None:
                self._warn(f"missing_{fld}", fld, f"no '{fld}' key")
            setattr(self, fld, str(v) if v is not None else None)
        self._norm_date()
        self._norm_track()
        self._norm_seeds()
        self._norm_scores()
        self._norm_bytes()
        self._norm_meta()

    def _norm_date(self) -> None:
        v = self._take("date", "date")
        if v is None:
            m = re.match(r"(\d{4}-\d{2}-\d{2})_", self.folder)
            if m:
                self.date = date.fromisoformat(m.group(1))
                self.provenance["date"] = "folder name"
            self._warn("missing_date", "date", "no 'date' key" + ("; taken from the folder name" if m else ""))
            return
        self.date_raw = str(v)
        s = str(v).strip()
        try:
            if re.fullmatch(r"\d{4}-\d{2}-\d{2}", s):
                self.date = date.fromisoformat(s)
            else:
                self.date = datetime.fromisoformat(s.replace("Z", "+00:00")).date()
                self._warn("date_timestamp", "date", f"date is a timestamp ({s}); day kept")
        except ValueError:
            self._warn("date_unparsable", "date", f"date {s!r} is neither YYYY-MM-DD nor ISO 8601")

    def _norm_track(self) -> None:
        v = self._take("track", "track")
        folder_track = _FOLDER_TRACK.get(self.track_folder or "")
        if v is None:
            if folder_track:
                self.track = folder_track
                self.provenance["track"] = "folder path"
                self._warn("missing_track", "track", f"no 'track' key; inferred {folder_track} from the folder path")
            else:
                self._warn("missing_track", "track", "no 'track' key and the path shows no track folder")
            return
        key = str(v).strip().lower()
        if key in _TRACK_ALIASES:
            self.track, self.unlimited_compute = _TRACK_ALIASES[key]
            if key != self.track:
                self._warn("track_alias", "track", f"track {v!r} normalised to {self.track}")
        else:
            self.track = folder_track
            self._warn("track_unknown", "track", f"unknown track {v!r}; using the folder's ({folder_track})")
        if folder_track and self.track != folder_track:
            self._warn("track_mismatch_folder", "track", f"track {self.track} but the folder is under {self.track_folder}")

    def _seed_result(self, seed: str, obj: Any, where: str) -> SeedResult:
        sr = SeedResult(seed=_seed_label(seed))
        if not isinstance(obj, dict):
            sr.extra["value"] = obj
            return sr
        for k, v in obj.items():
            if k in _SEED_KEY_MAP and v is not None:
                fld, scale = _SEED_KEY_MAP[k]
                if getattr(sr, fld) is not None:  # first key wins (e.g. artifact_bytes over bytes_total)
                    sr.extra[k] = v
                    continue
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    val: Any = v * scale if scale != 1.0 else v
                    if fld in _INT_FIELDS:
                        val = int(val)
                    elif fld.endswith("_s") or fld.startswith("val_"):
                        val = float(val)
                    setattr(sr, fld, val)
                    sr.provenance[fld] = f"{where}.{k}"
                else:
                    sr.extra[k] = v
            else:
                sr.extra[k] = v
        if sr.val_bpb is None and isinstance(obj.get("val_var_bpb"), (int, float)):
            sr.val_bpb = float(obj["val_var_bpb"])
            sr.provenance["val_bpb"] = f"{where}.val_var_bpb"
            self._warn("seed_bpb_alias", "seed_results", f"seed {seed}: val_bpb taken from 'val_var_bpb'")
        return sr

    def _norm_seeds(self) -> None:
        r = self.raw
        seeds = r.get("seeds")
        if isinstance(seeds, dict):
            self._warn("seeds_dict", "seeds", "'seeds' is a dict of per-seed results")
            for k, v in seeds.items():
                self.seed_results[str(k)] = self._seed_result(k, v, f"seeds.{k}")
            self.seeds = [_seed_label(k) for k in seeds]
            self.provenance["seeds"] = "seeds (dict keys)"
            self.provenance["seed_results"] = "seeds"
        elif isinstance(seeds, list):
            self.seeds = [_seed_label(s) for s in seeds]
            self.provenance["seeds"] = "seeds"
        elif "seed" in r and r["seed"] is not None:
            self.seeds = [_seed_label(r["seed"])]
            self.provenance["seeds"] = "seed"
            self._warn("seed_scalar", "seeds", "single 'seed' key instead of 'seeds'")

        sres = r.get("seed_results")
        if isinstance(sres, dict):
            if self.seed_results:
                self._warn("seed_results_twice", "seed_results", "both a seeds dict and seed_results; seed_results kept")
                self.seed_results = {}
            for k, v in sres.items():
                self.seed_results[str(k)] = self._seed_result(k, v, f"seed_results.{k}")
            self.provenance["seed_results"] = "seed_results"
            if not self.seeds:
                self.seeds = [_seed_label(k) for k in sres]
                self.provenance["seeds"] = "seed_results (keys)"
                self._warn("seeds_from_seed_results", "seeds", "no 'seeds' key; seeds taken from seed_results keys")
        if self.seed_results and self.seeds:
            listed = {str(s) for s in self.seeds}
            if listed != set(self.seed_results):
                self._warn(
                    "seeds_mismatch",
                    "seeds",
                    f"seeds {sorted(listed)} differ from per-seed keys {sorted(self.seed_results)}",
                )

        rerun = r.get("compliance_rerun")
        if isinstance(rerun, dict) and isinstance(rerun.get("seed_results"), dict):
            for k, v in rerun["seed_results"].items():
                self.rerun_seed_results[str(k)] = self._seed_result(k, v, f"compliance_rerun.seed_results.{k}")
            self._warn("compliance_rerun", "rerun_seed_results", "record carries a compliance re-run's per-seed results")

        logs = r.get("logs")
        if isinstance(logs, dict):
            self.logs = {str(k): str(v) for k, v in logs.items()}
            self.provenance["logs"] = "logs"

        if not self.seed_results:
            self._warn("no_per_seed_values", "seed_results", "no per-seed results; only a headline number")

    def _norm_scores(self) -> None:
        r = self.raw
        bpb = self._take("val_bpb", "val_bpb")
        if bpb is None:
            bpb = self._take("val_bpb", "mean_val_bpb", "mean_bpb")
            if bpb is not None:
                self._warn("val_bpb_from_mean_key", "val_bpb", f"val_bpb taken from '{self.provenance['val_bpb']}'")
        loss = self._take("val_loss", "val_loss")
        if loss is None:
            if "val_loss" in r:
                self._warn("val_loss_null", "val_loss", "'val_loss' is null")
            loss = self._take("val_loss", "mean_val_loss", "mean_val_loss_nats", "val_loss_nats")
        if bpb is None and isinstance(loss, (int, float)) and loss < _BPB_UNDER_LOSS_MAX:
            text = f"{r.get('name', '')} {r.get('blurb', '')}"
            evidence = " (the blurb quotes it as the score)" if f"{loss}" in text else ""
            self._warn(
                "val_bpb_under_val_loss",
                "val_bpb",
                f"val_loss {loss} is below {_BPB_UNDER_LOSS_MAX} nats/token and no val_bpb is given: read as val_bpb{evidence}",
            )
            bpb, loss = loss, None
            self.provenance["val_bpb"] = "val_loss"
            self.provenance.pop("val_loss", None)
        per_seed = self.per_seed_bpb()
        if bpb is None and per_seed:
            bpb = fmean(per_seed)
            self.provenance["val_bpb"] = "mean of per-seed val_bpb"
            self._warn("val_bpb_from_seeds", "val_bpb", "no headline val_bpb; mean of the per-seed values used")
        if bpb is None:
            self._warn("missing_val_bpb", "val_bpb", "no val_bpb anywhere in the record")
        self.val_bpb = float(bpb) if isinstance(bpb, (int, float)) else None
        self.val_loss = float(loss) if isinstance(loss, (int, float)) else None
        if self.val_bpb is not None and len(per_seed) >= 2:
            m = fmean(per_seed)
            if abs(m - self.val_bpb) > 5e-5:
                self._warn(
                    "val_bpb_not_seed_mean",
                    "val_bpb",
                    f"headline val_bpb {self.val_bpb} differs from the per-seed mean {m:.8f} by {self.val_bpb - m:+.6f}",
                )

        claimed: dict[str, Any] = {}
        for ours, keys in {
            "std_bpb": ("val_bpb_std", "std_bpb"),
            "std_loss": ("val_loss_std", "val_loss_nats_std", "std_val_loss_nats"),
            "p_value": ("p_value",),
            "t_statistic": ("t_statistic",),
            "welch_df": ("welch_df",),
            "n_seeds": ("n_seeds",),
            "comparison_baseline_bpb": ("comparison_baseline_bpb",),
            "comparison_baseline_pr": ("comparison_baseline_pr",),
            "base_pr": ("base_pr",),
        }.items():
            v = self._take(f"claimed.{ours}", *keys)
            if v is not None:
                claimed[ours] = v
        if isinstance(claimed.get("p_value"), str):
            self._warn("p_value_string", "claimed.p_value", f"p_value is text ({claimed['p_value']!r})")
        self.claimed = claimed

    def _norm_bytes(self) -> None:
        bt = self._take("bytes_total", "bytes_total")
        if bt is None:
            bt = self._take("bytes_total", "artifact_bytes", "artifact_size_bytes", "artifact_bytes_max")
            if bt is not None:
                self._warn("bytes_total_alias", "bytes_total", f"bytes_total taken from '{self.provenance['bytes_total']}'")
        self.bytes_total = int(bt) if isinstance(bt, (int, float)) else None
        bc = self._take("bytes_code", "bytes_code")
        if bc is None:
            if "bytes_code" in self.raw:
                self._warn("bytes_code_null", "bytes_code", "'bytes_code' is null")
            bc = self._take("bytes_code", "code_bytes")
            if bc is not None:
                self._warn("bytes_code_alias", "bytes_code", "bytes_code taken from 'code_bytes'")
        self.bytes_code = int(bc) if isinstance(bc, (int, float)) else None

        sizes = {k: s.artifact_bytes for k, s in self.seed_results.items() if s.artifact_bytes is not None}
        if self.bytes_total is None:
            self.bytes_total_meaning = "absent"
            if sizes:
                self.bytes_total = max(sizes.values())
                self.bytes_total_meaning = "max_seed_artifact"
                self.provenance["bytes_total"] = "max of per-seed artifact_bytes"
                self._warn("bytes_total_from_seeds", "bytes_total", "no bytes_total; the max per-seed artifact used")
            else:
                self._warn("missing_bytes_total", "bytes_total", "no artifact size anywhere in the record")
        elif not sizes:
            self.bytes_total_meaning = "single_value"  # one run or unspecified; nothing to compare with
        elif self.bytes_total == max(sizes.values()):
            self.bytes_total_meaning = "max_seed_artifact"
        else:
            match = [k for k, v in sizes.items() if v == self.bytes_total]
            mean = fmean(sizes.values())
            if match:
                self.bytes_total_meaning = f"seed_{match[0]}_artifact"
            elif abs(self.bytes_total - mean) <= 1:
                self.bytes_total_meaning = "mean_seed_artifact"
            else:
                self.bytes_total_meaning = "unexplained"
            self._warn(
                "bytes_total_not_max_seed",
                "bytes_total",
                f"bytes_total {self.bytes_total} is not the max per-seed artifact {max(sizes.values())} "
                f"({self.bytes_total_meaning})",
            )
        biggest = max([self.bytes_total or 0, *sizes.values()])
        if biggest > ARTIFACT_CAP_BYTES:
            self._warn("over_cap", "bytes_total", f"artifact {biggest} bytes is over the {ARTIFACT_CAP_BYTES:,} cap")

    def _norm_meta(self) -> None:
        r = self.raw
        hw = self._take("hardware", "hardware", "gpu", "platform")
        self.hardware = str(hw) if hw is not None else None
        tv = self._take("pytorch_version", "pytorch_version")
        self.pytorch_version = str(tv) if tv is not None else None
        comp = r.get("compliance")
        if isinstance(comp, dict):
            self.compliance = dict(comp)
            self.provenance["compliance"] = "compliance"
        stype = r.get("submission_type")
        if isinstance(stype, str) and stype:
            self.submission_type = stype
            self.provenance["submission_type"] = "submission_type"
        elif self.track == TRACK_NON_RECORD:
            self.submission_type = "non_record"
            self.provenance["submission_type"] = "track"
        if self.submission_type == "record_support":
            self._warn("record_support", "submission_type", "support package for another PR, not a record of its own")
        sp = r.get("supports_pr")
        if isinstance(sp, int):
            self.supports_pr = sp
            self.provenance["supports_pr"] = "supports_pr"


def _seed_label(s: Any) -> int | str:
    try:
        return int(str(s))
    except ValueError:
        return str(s)
