"""The data a reproduction reads: located (the embedded toy data built when missing), verified, described.

Stage 2 of `harness reproduce`: the submission's dataset variant is found on this machine
(or given with ``--data``), its tokenizer picked without guessing, and its files checked
against its manifest before any seed starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.core import shards
from harness.core.registry import get_variant
from harness.data import manifest as data_manifest
from harness.data.embedded import tokenizer_for
from harness.data.embedded_build import ensure_embedded
from harness.data.verify import verify_dataset
from harness.errors import EnvironmentProblem
from harness.record import sha256_file

# Where a dataset fetched by `harness data fetch` lives, in the order they are looked at.
LOCAL_DATA_ROOTS = (Path("data/datasets"), Path.home() / ".cache" / "pgolf-harness" / "data")


@dataclass
class DataInfo:
    variant: str
    data_dir: Path
    tokenizer_path: Path | None
    vocab_size: int | None
    manifest_sha256: str | None = None
    how: str = ""

    def view_paths(self) -> list[Path]:
        """What the trainer reads of the data, bound read-only into its view."""
        return [self.data_dir] + ([self.tokenizer_path] if self.tokenizer_path else [])

    def to_dict(self) -> dict:
        return {"variant": self.variant, "data_dir": str(self.data_dir),
                "tokenizer_path": str(self.tokenizer_path) if self.tokenizer_path else None,
                "vocab_size": self.vocab_size, "manifest_sha256": self.manifest_sha256, "how": self.how}


def find_tokenizer(data_dir: Path, hint: str | None = None) -> Path | None:
    """The tokenizer of ``data_dir``: the one its manifest names, else the registry's file name,
    else the only ``*.model`` beside it. Several candidates and no way to choose is an error: a
    wrong tokenizer silently breaks every byte count."""
    named_by_manifest = tokenizer_for(data_dir)
    if named_by_manifest is not None:
        return named_by_manifest
    cands: list[Path] = []
    for d in (data_dir, data_dir.parent, data_dir.parent.parent / "tokenizers", data_dir.parent / "tokenizers"):
        if d.is_dir():
            cands += [c for c in sorted(d.glob("*.model")) if c not in cands]
    if hint:
        named = [c for c in cands if c.name == hint]
        if named:
            return named[0]
    if len(cands) > 1:
        raise EnvironmentProblem(f"several tokenizers beside {data_dir} ({', '.join(c.name for c in cands)}) and "
                                 "nothing says which one encoded it.",
                                 hint="Keep one dataset per folder, or give it a harness-manifest.json "
                                      "(harness data lock DIR --tokenizer FILE).")
    return cands[0] if cands else None


def local_variant(data_dir: Path) -> str | None:
    """The variant a data directory's harness-manifest.json names, if any."""
    try:
        m = data_manifest.read_manifest(data_dir)
    except (OSError, ValueError):
        return None
    return m.variant if m is not None else None


def vocab_size(tokenizer: Path | None) -> int | None:
    if tokenizer is None:
        return None
    import sentencepiece as spm  # the trainer's own tokenizer library: loaded only to read a vocab size

    return int(spm.SentencePieceProcessor(model_file=str(tokenizer)).get_piece_size())


def data_manifest_sha(data_dir: Path) -> str | None:
    for name in ("harness-manifest.json", "manifest.json"):
        h = sha256_file(data_dir / name) or sha256_file(data_dir.parent / name)
        if h:
            return h
    return None


def prepare_data(variant: str, data: Path | None) -> DataInfo:
    """Locate (and for `embedded`, build when missing) the data the submission reads."""
    if data is not None:
        data_dir = Path(data).expanduser().resolve()
        if not data_dir.is_dir():
            raise EnvironmentProblem(f"--data {data_dir} is not a directory.")
        how = "given with --data"
        tok_hint = None
        # What the directory's own manifest says it is (e.g. an embedded smoke build), not the
        # submission's canonical variant: measurements must use this data's figures.
        local = local_variant(data_dir)
        if local is not None and local != variant:
            how += f" (its manifest: variant {local}, not the submission's {variant})"
            variant = local
    elif variant == "embedded":
        data_dir = ensure_embedded()
        tok = tokenizer_for(data_dir) or find_tokenizer(data_dir)
        data_dir, tok = data_dir.resolve(), (tok.resolve() if tok else None)  # the trainer runs elsewhere
        if not shards.list_shards(data_dir, "val"):
            no_data(variant, data_dir)
        return DataInfo(variant, data_dir, tok, vocab_size(tok), data_manifest_sha(data_dir),
                        "embedded default (built locally when missing)")
    else:
        data_dir = None
        try:
            v = get_variant(variant)
        except KeyError:
            v = None
        tok_hint = v.tokenizer_file if v else None
        for root in LOCAL_DATA_ROOTS if v else ():
            if (root / v.dataset_dir).is_dir():
                data_dir = (root / v.dataset_dir).resolve()
                break
        if data_dir is None:
            raise EnvironmentProblem(f"the {variant} dataset is not on this machine.",
                                     hint=f"Fetch it (harness data fetch {variant}) or pass --data DIR.")
        how = "found locally"
    if not shards.list_shards(data_dir, "val") or not shards.list_shards(data_dir, "train"):
        no_data(variant, data_dir)
    tok = find_tokenizer(data_dir, tok_hint)
    return DataInfo(variant, data_dir, tok, vocab_size(tok), data_manifest_sha(data_dir), how)


def no_data(variant: str, data_dir: Path) -> None:
    raise EnvironmentProblem(f"{data_dir} holds no fineweb_train_/fineweb_val_ shards for {variant}.",
                             hint="Pass --data DIR with canonical shards.")


def verify_data(data: DataInfo, mode: str, say: Callable[[str], None]) -> list[dict]:
    """Check the data before any seed runs (headers, sidecars, sha256 against its manifest, figures).

    Data that fails stops the run (exit 3) in both modes; data without a manifest is a warning.
    """
    rep = verify_dataset(data.data_dir)
    mb = rep.bytes_hashed / 1e6
    if rep.ok:
        say(f"  data verified: {rep.files_hashed} files ({mb:,.0f} MB) hashed in {rep.hash_seconds:.1f}s"
            + ("" if rep.manifest_found else " (no manifest: headers and sizes only)"))
        if not rep.manifest_found:
            return [{"rule": "data.unlocked", "severity": "warning", "seed": None,
                     "message": f"{data.data_dir} has no harness-manifest.json: its files could not be checked "
                                "against hashes (harness data lock DIR records them)"}]
        return []
    # Corrupt or altered data stops the run before any seed starts, in either mode: a seed's
    # score on it would mean nothing, and a trainer must never be the first to read it.
    raise EnvironmentProblem(f"the data in {data.data_dir} fails verification: {rep.problems[0]}"
                             + (f" (+{len(rep.problems) - 1} more)" if len(rep.problems) > 1 else ""),
                             hint=f"Run `harness data verify {data.data_dir}` and fetch or rebuild it.")
