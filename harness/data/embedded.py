"""The embedded datasets: built locally, offline, the way the canonical ones are built.

Pipeline (mirrors the organisers' exporter, PGOLF_FACTS.md §1.2-§1.4):
documents -> a SentencePiece BPE tokenizer trained on the TRAIN documents (or a
given model) -> ``fineweb_{train,val}_NNNNNN.bin`` shards of BOS-prefixed
documents, no EOS, val and train never sharing a shard -> a validation byte
sidecar ``fineweb_val_bytes_NNNNNN.bin`` holding, per token, the number of
ORIGINAL UTF-8 bytes it covers (BOS 0; the sum is exactly the validation
text's UTF-8 length) -> ``harness-manifest.json`` (harness.data.manifest, via
``lock_dataset``) with the dataset's figures.

Layout under a root (default ``data/embedded``, or ``$HARNESS_DATA/embedded``),
the same split as the canonical ``data/datasets/<dir>/`` + ``data/tokenizers/``::

    <root>/datasets/embedded_sp1024/fineweb_train_000000.bin
    <root>/datasets/embedded_sp1024/fineweb_val_000000.bin
    <root>/datasets/embedded_sp1024/fineweb_val_bytes_000000.bin
    <root>/datasets/embedded_sp1024/harness-manifest.json
    <root>/tokenizers/embedded_sp1024.model

Sizes: ``small`` is the pydoc topics (seconds; the CPU reference run and the
harness's default data). ``smoke`` is the standard library's sources (at least
3,000 validation documents and 1 M validation tokens) for smoke runs of real
submissions, with the trained sp1024 or a given model (``tokenizer=PATH``,
e.g. the sp8192 or CaseOps fixtures). ``caseops=True`` applies our CaseOps
transform (harness.data.caseops) before tokenization.

Determinism: documents in sorted order, a fixed split rule, SentencePiece
trained single-threaded with input shuffling off and the model serialised in
memory (so no temporary path leaks into the model's trainer spec). Every file
but the manifest (which carries a timestamp) is byte-identical across builds
with the same Python version and sentencepiece version (the pydoc text
changes between Python releases).

The package, by concern: this module says what an embedded dataset is (its names,
layout, sizes) and reads a build back; :mod:`harness.data.embedded_text` chooses the
documents and trains the tokenizer; :mod:`harness.data.embedded_build` builds (or
finds up to date) a dataset.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.data import manifest as mf
from harness.errors import EnvironmentProblem, UsageError

BUILDER_VERSION = 1
VARIANT = "embedded"
VOCAB_SIZE = 1024
SIZES = ("small", "smoke")
DEFAULT_SHARD_TOKENS = 10**8  # the exporter's shard size
CASEOPS_FIXTURE = "fineweb_8192_bpe_lossless_caps_caseops_v1_reserved.model"

# Split rule: document i (in sorted order) goes to validation when i % VAL_EVERY == 0.
VAL_EVERY = {"small": 5, "smoke": 4}
# smoke: validation stops growing once both targets are met; train is capped in bytes.
SMOKE_MIN_VAL_DOCS = 3000
SMOKE_MIN_VAL_TOKENS = 1_000_000
SMOKE_VAL_BYTES = 4_500_000
SMOKE_TRAIN_BYTES = 16_000_000
SMOKE_TOKENIZER_TRAIN_BYTES = 3_000_000  # tokenizer training reads this prefix of train
SMOKE_SHARD_TOKENS = 2_000_000  # several train shards, documents straddling them, as upstream


@dataclass
class BuildResult:
    root: Path
    dataset_dir: Path
    tokenizer_path: Path
    name: str
    size: str
    caseops: bool
    vocab_size: int
    tokenizer_trained: bool
    figures: dict[str, int] = field(default_factory=dict)
    files: dict[str, dict] = field(default_factory=dict)  # manifest entries, keyed relative to dataset_dir
    seconds: float = 0.0
    built: bool = True  # False when ensure_embedded found it up to date
    python: str = ""

    @property
    def data_dir(self) -> Path:  # the name harness.reproduce looks for
        return self.dataset_dir

    @property
    def manifest_path(self) -> Path:
        return mf.manifest_path(self.dataset_dir)


def default_root() -> Path:
    """Where the embedded data lives unless told otherwise: $HARNESS_DATA/embedded or ./data/embedded."""
    base = os.environ.get("HARNESS_DATA")
    return (Path(base) if base else Path("data")) / "embedded"


def default_embedded_dir() -> Path:
    """The default embedded DATASET directory (the one holding the shards)."""
    return default_root() / "datasets" / dataset_name("small", None, False)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def find_caseops_fixture() -> Path | None:
    """The CaseOps SentencePiece model the builder uses by default with ``caseops=True``."""
    cands = []
    if os.environ.get("HARNESS_CASEOPS_TOKENIZER"):
        cands.append(Path(os.environ["HARNESS_CASEOPS_TOKENIZER"]))
    cands += [
        repo_root().parent / "shared" / "fixtures" / "tokenizers" / CASEOPS_FIXTURE,
        Path("data") / "tokenizers" / CASEOPS_FIXTURE,
    ]
    return next((c for c in cands if c.is_file()), None)


def dataset_name(size: str, tokenizer: Path | None, caseops: bool) -> str:
    """``embedded[_smoke][_caseops]_sp1024`` when trained here, ``embedded[_smoke]_<model stem>`` when given."""
    prefix = "embedded" + ("_smoke" if size == "smoke" else "")
    if tokenizer is None:
        return prefix + ("_caseops" if caseops else "") + f"_sp{VOCAB_SIZE}"
    stem = tokenizer.stem
    return prefix + ("_caseops" if caseops and "caseops" not in stem else "") + f"_{stem}"


def check_size(size: str, val_doc_count: int | None) -> None:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if val_doc_count is not None and (size != "smoke" or val_doc_count < 1):
        raise UsageError("a validation document count needs --size smoke and at least 1 document.")


@contextlib.contextmanager
def build_lock(root: Path, name: str) -> Iterator[None]:
    """One builder per dataset at a time (parallel test runs, two reproduce calls)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def want_sidecar(sidecar: bool | None, tok_path: Path | None, caseops: bool) -> bool:
    """Whether a build writes the validation byte sidecar (see build_embedded)."""
    if sidecar is not None:
        return sidecar
    return caseops or tok_path is None


def up_to_date(ds: Path, expect: dict) -> bool:
    try:
        m = mf.read_manifest(ds)
    except ValueError:
        return False
    if m is None or not m.files:
        return False
    for k, v in expect.items():
        if m.source.get(k) != v:
            return False
    for rel, entry in m.files.items():
        p = ds / rel
        if not p.is_file() or p.stat().st_size != entry.size:
            return False
    return True


def resolve_tokenizer(tokenizer: str | os.PathLike | None, caseops: bool) -> Path | None:
    """The model to encode with, None to train one."""
    if tokenizer is None and caseops:
        found = find_caseops_fixture()
        if found is None:
            raise EnvironmentProblem(
                f"the CaseOps tokenizer {CASEOPS_FIXTURE} was not found.",
                hint="Pass --tokenizer MODEL (a model with the U+E001..U+E004 controls), --tokenizer train, "
                     "or set HARNESS_CASEOPS_TOKENIZER.")
        return found
    if tokenizer is None or str(tokenizer) == "train":
        return None
    p = Path(tokenizer)
    if not p.is_file():
        raise UsageError(f"tokenizer {p} does not exist.")
    return p


def load_result(dataset_dir: str | os.PathLike, *, built: bool = False) -> BuildResult:
    """A BuildResult read back from a built dataset's manifest."""
    ds = Path(dataset_dir)
    m = mf.read_manifest(ds)
    if m is None:
        raise EnvironmentProblem(f"{ds} has no {mf.MANIFEST_NAME}.", hint="Build it: harness data build-embedded")
    src = m.source
    tok = ds.parent.parent / "tokenizers" / str(src.get("tokenizer_file", ""))
    return BuildResult(root=ds.parent.parent, dataset_dir=ds, tokenizer_path=tok, name=ds.name,
                       size=str(src.get("size", "")), caseops=bool(src.get("caseops")),
                       vocab_size=int(m.figures.get("vocab_size", 0)),
                       tokenizer_trained=src.get("tokenizer_sha256") == "trained",
                       figures=dict(m.figures), files={k: v.to_json() for k, v in m.files.items()},
                       built=built, python=str(src.get("python", "")))


def tokenizer_for(dataset_dir: str | os.PathLike) -> Path | None:
    """The tokenizer a built embedded dataset was encoded with (from its manifest)."""
    ds = Path(dataset_dir)
    m = mf.read_manifest(ds)
    if m is None:
        return None
    name = m.source.get("tokenizer_file")
    p = ds.parent.parent / "tokenizers" / name if name else None
    return p if p is not None and p.is_file() else None
