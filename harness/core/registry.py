"""Dataset variants, loaded from the one registry file ``datasets.toml``.

The variants are data so that adding or correcting one never touches code.
Every figure carries whether it is exact, how it was established and where
from, because several canonical counts are only known from printed log lines
(which are truncated to a multiple of the eval sequence length) and a verifier
must not pretend a derived figure is exact.

``HARNESS_DATASETS_TOML`` names an extra registry file whose variants are added
to (or replace) the built-in ones; tests and private mirrors use it.

torch-free and imports nothing else from ``harness`` (a ``harness.core`` rule).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.core.schema import loads_toml


REGISTRY_FILE = "datasets.toml"  # package data of harness.core, read through importlib.resources
ENV_EXTRA = "HARNESS_DATASETS_TOML"
PROVENANCES = ("measured", "derived", "observed in logs")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")


class RegistryError(ValueError):
    """The registry file is malformed; the message names the variant and field."""


class UnknownVariant(KeyError):
    """No variant of that name; the message lists the known names."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


@dataclass(frozen=True)
class Figure:
    """One number about a dataset, with how much to trust it."""

    value: int | float
    exact: bool
    provenance: str  # "measured" | "derived" | "observed in logs"
    source: str
    note: str = ""
    low: int | float | None = None  # inclusive bounds when only an interval is known
    high: int | float | None = None

    def check(self, observed: int | float) -> tuple[bool | None, str]:
        """Compare an observed value: True agrees, False contradicts, None cannot tell.

        Exact figures must match; interval figures must fall inside; a derived
        point estimate without bounds cannot refute anything (None), the caller
        reports the difference as information.
        """
        if self.exact:
            ok = observed == self.value
            return ok, f"{observed:,} {'==' if ok else '!='} {self.value:,} (exact; {self.source})"
        if self.low is not None and self.high is not None:
            ok = self.low <= observed <= self.high
            where = "inside" if ok else "outside"
            return ok, f"{observed:,} is {where} [{self.low:,}, {self.high:,}] ({self.provenance}; {self.source})"
        rel = (observed - self.value) / self.value if self.value else float("inf")
        return None, f"{observed:,} vs about {self.value:,} ({rel:+.4%}; {self.provenance}, not exact)"


@dataclass(frozen=True)
class ScoredBytes:
    scored_targets: int
    figure: Figure


@dataclass(frozen=True)
class Variant:
    name: str
    hf_repo_id: str
    hf_revision: str
    remote_root: str
    dataset_dir: str
    tokenizer_file: str
    vocab_size: int
    default_train_shards: int
    max_train_shards: int
    val_shards: int
    has_sidecars: bool
    figures: dict[str, Figure] = field(default_factory=dict)
    description: str = ""
    tokenizer_extra: tuple[str, ...] = ()
    fetchable: bool = True
    fetch_note: str = ""
    max_train_shards_note: str = ""
    figures_from_manifest: bool = False
    scored_bytes: tuple[ScoredBytes, ...] = ()

    @property
    def revision_pinned(self) -> bool:
        """True when hf_revision is an immutable commit sha, not a branch."""
        return bool(_COMMIT.match(self.hf_revision))

    def _remote(self, *parts: str) -> str:
        return "/".join(p for p in (self.remote_root, *parts) if p)

    def remote_dataset_dir(self) -> str:
        return self._remote("datasets", self.dataset_dir)

    def remote_tokenizer_files(self) -> list[str]:
        return [self._remote("tokenizers", f) for f in (self.tokenizer_file, *self.tokenizer_extra)]

    def local_dataset_dir(self, dest: str | os.PathLike) -> Path:
        """The organiser's local layout: ``<dest>/datasets/<dataset_dir>``."""
        return Path(dest) / "datasets" / self.dataset_dir

    def local_tokenizer_path(self, dest: str | os.PathLike) -> Path:
        return Path(dest) / "tokenizers" / self.tokenizer_file


def _figure(raw: dict, where: str) -> Figure:
    try:
        fig = Figure(
            value=raw["value"] if "value" in raw else raw["bytes"],
            exact=bool(raw["exact"]),
            provenance=str(raw["provenance"]),
            source=str(raw["source"]),
            note=str(raw.get("note", "")),
            low=raw.get("low"),
            high=raw.get("high"),
        )
    except KeyError as exc:
        raise RegistryError(f"{where}: missing field {exc.args[0]!r}") from None
    if fig.provenance not in PROVENANCES:
        raise RegistryError(f"{where}: provenance {fig.provenance!r} is not one of {PROVENANCES}")
    if (fig.low is None) != (fig.high is None):
        raise RegistryError(f"{where}: give both low and high or neither")
    if fig.low is not None and not (fig.low <= fig.value <= fig.high):
        raise RegistryError(f"{where}: value {fig.value} lies outside [{fig.low}, {fig.high}]")
    return fig


_REQUIRED = (
    "hf_repo_id", "hf_revision", "remote_root", "dataset_dir", "tokenizer_file", "vocab_size",
    "default_train_shards", "max_train_shards", "val_shards", "has_sidecars",
)


def _variant(name: str, raw: dict) -> Variant:
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise RegistryError(f"variant {name}: missing {', '.join(missing)}")
    figures = {k: _figure(v, f"variant {name} figure {k}") for k, v in raw.get("figures", {}).items()}
    rows = tuple(
        ScoredBytes(int(r["scored_targets"]), _figure(r, f"variant {name} scored_bytes row {i}"))
        for i, r in enumerate(raw.get("scored_bytes", []))
    )
    v = Variant(
        name=name,
        hf_repo_id=raw["hf_repo_id"],
        hf_revision=raw["hf_revision"],
        remote_root=raw["remote_root"],
        dataset_dir=raw["dataset_dir"],
        tokenizer_file=raw["tokenizer_file"],
        vocab_size=int(raw["vocab_size"]),
        default_train_shards=int(raw["default_train_shards"]),
        max_train_shards=int(raw["max_train_shards"]),
        val_shards=int(raw["val_shards"]),
        has_sidecars=bool(raw["has_sidecars"]),
        figures=figures,
        description=raw.get("description", ""),
        tokenizer_extra=tuple(raw.get("tokenizer_extra", ())),
        fetchable=bool(raw.get("fetchable", True)),
        fetch_note=raw.get("fetch_note", ""),
        max_train_shards_note=raw.get("max_train_shards_note", ""),
        figures_from_manifest=bool(raw.get("figures_from_manifest", False)),
        scored_bytes=rows,
    )
    if v.default_train_shards > v.max_train_shards:
        raise RegistryError(f"variant {name}: default_train_shards exceeds max_train_shards")
    if v.fetchable and not (v.hf_repo_id and v.hf_revision):
        raise RegistryError(f"variant {name}: a fetchable variant needs hf_repo_id and hf_revision")
    t, n = figures.get("val_tokens"), figures.get("val_targets")
    if t is not None and n is not None and t.exact and n.exact and t.value != n.value + 1:
        raise RegistryError(f"variant {name}: exact val_tokens must equal val_targets + 1")
    return v


def _read(path: Any) -> dict[str, Variant]:
    """Variants of one registry file (a Path or an importlib.resources Traversable)."""
    try:
        data = loads_toml(path.read_text(encoding="utf-8"), f"dataset registry {path}", schema="datasets")
    except ValueError as exc:  # a parse error, or a key the registry schema does not know
        raise RegistryError(str(exc)) from None
    return {name: _variant(name, raw) for name, raw in data.get("variants", {}).items()}


def load_registry(path: str | os.PathLike | None = None) -> dict[str, Variant]:
    """All variants: the built-in file (or ``path``) plus ``$HARNESS_DATASETS_TOML`` if set."""
    variants = _read(Path(path) if path else resources.files(__package__).joinpath(REGISTRY_FILE))
    extra = os.environ.get(ENV_EXTRA)
    if path is None and extra:
        variants.update(_read(Path(extra)))
    return variants


def get_variant(name: str, registry: dict[str, Variant] | None = None) -> Variant:
    reg = registry if registry is not None else load_registry()
    try:
        return reg[name]
    except KeyError:
        raise UnknownVariant(f"unknown dataset variant {name!r}; known: {', '.join(sorted(reg))}") from None


def expected_scored_bytes(variant: str, scored_targets: int) -> Figure | None:
    """Bytes of exactly ``scored_targets`` targets, from the variant's table; None if not tabled.

    The BPB denominator depends on how many targets a script scored (full
    stream or truncated to a multiple of its context), so the table is keyed
    by the scored target count. With a local data dir, the exact figure comes
    from the sidecar or byte table instead (``harness.data``).
    """
    v = get_variant(variant)
    for row in v.scored_bytes:
        if row.scored_targets == scored_targets:
            return row.figure
    return None
