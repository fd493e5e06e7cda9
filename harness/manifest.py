"""The submission manifest `harness.toml`: what the harness needs to run a folder.

A manifest turns the unwritten knowledge in a PR's README (which env vars the
claimed run used, how many GPUs, which file is the artifact, which code files
count) into data the harness can act on, plus the claimed per-seed results it
will compare against. Every field has a default that matches the upstream
root script, so a records folder without a manifest still runs.

Schema (all keys optional unless marked):

    [submission]
    name = "reference"
    source = "local" | "github:openai/parameter-golf#N@sha"
    folder = "records/track_10min_16mb/..."   # inside the source
    entry = "train_gpt.py"
    data = "embedded"                         # dataset variant (registry name)
    nproc = 8
    artifact = "final_model*.ptz"             # glob, relative to the run dir
    code_files = ["train_gpt.py"]             # counted code files
    code_recipe = "raw"                       # harness.core.codesize recipe id
    baseline = "submissions/other"            # optional: Welch test against it
    per_rank_env = ["SEQ_LENS_PER_GPU"]       # comma lists with one entry per rank

    [env]                                     # the environment the claimed run used
    KEY = "value"

    [smoke]                                   # smoke-mode overrides, each with a reason
    env = { ITERATIONS = "200" }
    reasons = { ITERATIONS = "why" }
    train_seconds_env = "MAX_WALLCLOCK_SECONDS"   # env var that carries the train budget
    train_seconds = 60                        # default smoke budgets for this submission
    eval_seconds = 60

    [markers]                                 # phase-marker overrides: name -> regex
    eval_timer_start = "^beginning TTT eval timer"

    [claim]
    reproducible_from_shipped_code = true
    reason = ""
    [[claim.seeds]]
    seed = 42
    val_loss = 1.9
    val_bpb = 1.1
    bytes_total = 15900000
    steps = 4800
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.core.schema import check_plain, loads_toml, schema_errors
from harness.errors import UsageError

MANIFEST_NAME = "harness.toml"

_SECTIONS = {"submission", "env", "smoke", "markers", "claim"}
_SUBMISSION_KEYS = {"name", "source", "folder", "entry", "data", "nproc", "artifact", "code_files",
                    "code_recipe", "baseline", "description", "per_rank_env"}


# Plain records of a manifest (fields alike in shape to other dataclasses by nature, not repeated logic).
@dataclass
class SeedClaim:
    seed: int
    val_loss: float | None = None
    val_bpb: float | None = None
    bytes_total: int | None = None
    steps: int | None = None


@dataclass
class Manifest:
    name: str
    source: str = "local"
    folder: str = "."
    entry: str = "train_gpt.py"
    data: str = "embedded"
    nproc: int = 1
    artifact: str = "final_model*.ptz"
    code_files: list[str] = field(default_factory=lambda: ["train_gpt.py"])
    code_recipe: str = "raw"
    baseline: str | None = None
    per_rank_env: list[str] = field(default_factory=list)  # env vars holding one value per rank
    env: dict[str, str] = field(default_factory=dict)
    smoke_env: dict[str, str] = field(default_factory=dict)
    smoke_reasons: dict[str, str] = field(default_factory=dict)
    train_seconds_env: str = "MAX_WALLCLOCK_SECONDS"
    smoke_train_seconds: float | None = None
    smoke_eval_seconds: float | None = None
    markers: dict[str, str] = field(default_factory=dict)
    claims: list[SeedClaim] = field(default_factory=list)
    claim_reproducible: bool = True
    claim_reason: str = ""
    path: Path | None = None  # where the manifest was read from; None when inferred

    def claim_for(self, seed: int) -> SeedClaim | None:
        return next((c for c in self.claims if c.seed == seed), None)

    @property
    def claimed_seeds(self) -> list[int]:
        return [c.seed for c in self.claims]


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table of strings.")
    return {str(k): str(v) for k, v in value.items()}


def parse_manifest(data: dict[str, Any], *, path: Path | None = None, default_name: str = "submission") -> Manifest:
    """Build a Manifest from parsed TOML, refusing unknown sections/keys (typos cost runs)."""
    where = str(path) if path else "manifest"
    try:
        check_plain(data, where)
    except ValueError as exc:
        raise UsageError(f"{exc}.", hint="Fix the manifest: every number must be finite.") from None
    unknown = set(data) - _SECTIONS
    if unknown:
        raise UsageError(f"{where}: unknown section(s) {sorted(unknown)}; allowed: {sorted(_SECTIONS)}.")
    sub = data.get("submission", {})
    bad = set(sub) - _SUBMISSION_KEYS
    if bad:
        raise UsageError(f"{where}: unknown [submission] key(s) {sorted(bad)}; allowed: {sorted(_SUBMISSION_KEYS)}.")
    # Types, names and paths (after the typo checks above, whose messages name the allowed keys).
    errors = schema_errors("manifest", data)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise UsageError(f"{where}: {errors[0]}{more}.",
                         hint="See the manifest schema in harness/manifest.py's docstring; paths are relative to the "
                              "submission folder and may not contain '..'.")
    smoke = data.get("smoke", {})
    claim = data.get("claim", {})
    claims = []
    for row in claim.get("seeds", []):
        if "seed" not in row:
            raise UsageError(f"{where}: every [[claim.seeds]] row needs a seed.")
        claims.append(SeedClaim(
            seed=int(row["seed"]),
            val_loss=float(row["val_loss"]) if "val_loss" in row else None,
            val_bpb=float(row["val_bpb"]) if "val_bpb" in row else None,
            bytes_total=int(row["bytes_total"]) if "bytes_total" in row else None,
            steps=int(row["steps"]) if "steps" in row else None,
        ))
    nproc = int(sub.get("nproc", 1))
    if nproc < 1:
        raise UsageError(f"{where}: nproc must be >= 1.")
    code_files = sub.get("code_files", ["train_gpt.py"])
    if isinstance(code_files, str):
        code_files = [code_files]
    return Manifest(
        name=str(sub.get("name", default_name)),
        source=str(sub.get("source", "local")),
        folder=str(sub.get("folder", ".")),
        entry=str(sub.get("entry", "train_gpt.py")),
        data=str(sub.get("data", "embedded")),
        nproc=nproc,
        artifact=str(sub.get("artifact", "final_model*.ptz")),
        code_files=[str(c) for c in code_files],
        code_recipe=str(sub.get("code_recipe", "raw")),
        baseline=sub.get("baseline"),
        per_rank_env=[str(x) for x in sub.get("per_rank_env", [])],
        env=_str_map(data.get("env"), f"{where} [env]"),
        smoke_env=_str_map(smoke.get("env"), f"{where} [smoke.env]"),
        smoke_reasons=_str_map(smoke.get("reasons"), f"{where} [smoke.reasons]"),
        train_seconds_env=str(smoke.get("train_seconds_env", "MAX_WALLCLOCK_SECONDS")),
        smoke_train_seconds=float(smoke["train_seconds"]) if "train_seconds" in smoke else None,
        smoke_eval_seconds=float(smoke["eval_seconds"]) if "eval_seconds" in smoke else None,
        markers=_str_map(data.get("markers"), f"{where} [markers]"),
        claims=claims,
        claim_reproducible=bool(claim.get("reproducible_from_shipped_code", True)),
        claim_reason=str(claim.get("reason", "")),
        path=path,
    )


def load_manifest(path: str | Path) -> Manifest:
    p = Path(path)
    try:
        data = loads_toml(p.read_text(encoding="utf-8"), f"manifest {p}")  # parse_manifest applies the schema
    except FileNotFoundError:
        raise UsageError(f"manifest {p} does not exist.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UsageError(f"{exc}.") from None
    except OSError as exc:
        raise UsageError(f"manifest {p} cannot be read ({exc.strerror}).") from None
    return parse_manifest(data, path=p, default_name=p.parent.name)
