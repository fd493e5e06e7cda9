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
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from harness.core import shards
from harness.data import caseops as cops
from harness.data import texts
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
        from harness.data.manifest import manifest_path

        return manifest_path(self.dataset_dir)


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


# ---------------------------------------------------------------------------------- documents

def _split(docs: Iterable[texts.Document], size: str, *, bytes_per_token: float | None = None,
           val_doc_count: int | None = None) -> tuple[list[texts.Document], list[texts.Document]]:
    """Deterministic split: document i to validation when i % k == 0 (smoke: until the targets hold).

    ``val_doc_count`` (smoke only) replaces the validation targets by a document count: a smaller
    validation set for GPUs where a full smoke eval takes too long (eager-mode TTT evals)."""
    k = VAL_EVERY[size]
    val: list[texts.Document] = []
    train: list[texts.Document] = []
    if size == "small":
        for i, d in enumerate(docs):
            (val if i % k == 0 else train).append(d)
        return train, val
    val_bytes = train_bytes = 0
    for i, d in enumerate(docs):
        n = len(d.text.encode("utf-8"))
        if val_doc_count is not None:
            val_full = len(val) >= val_doc_count
        else:
            val_full = len(val) >= SMOKE_MIN_VAL_DOCS and val_bytes >= SMOKE_VAL_BYTES
        if i % k == 0 and not val_full:
            val.append(d)
            val_bytes += n
        elif train_bytes < SMOKE_TRAIN_BYTES:
            train.append(d)
            train_bytes += n
        elif val_full:
            break
    return train, val


def _check_size(size: str, val_doc_count: int | None) -> None:
    if size not in SIZES:
        raise UsageError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
    if val_doc_count is not None and (size != "smoke" or val_doc_count < 1):
        raise UsageError("a validation document count needs --size smoke and at least 1 document.")


def _documents(size: str, documents: Sequence[texts.Document] | None = None,
               val_documents: Sequence[texts.Document] | None = None, val_doc_count: int | None = None
               ) -> tuple[list[texts.Document], list[texts.Document], str]:
    """(train, validation, source description) for a build."""
    if documents is None:
        source = "pydoc_data.topics" if size == "small" else f"stdlib *.py under {texts.stdlib_root()}"
        all_docs = texts.pydoc_documents() if size == "small" else texts.stdlib_documents()
    else:
        source = "given documents"
        all_docs = [texts.Document(d.name, texts.clean(d.text)) for d in documents]
    if val_documents is not None:
        return list(all_docs), [texts.Document(d.name, texts.clean(d.text)) for d in val_documents], source
    train, val = _split(_unique(all_docs), size, val_doc_count=val_doc_count)
    return train, val, source


def _unique(docs: Iterable[texts.Document]) -> Iterator[texts.Document]:
    """Drop exact repeats (pydoc's 'if' and 'else' topics share one text; the stdlib repeats
    boilerplate), so a repeat can never land on both sides of the split."""
    seen: set[bytes] = set()
    for d in docs:
        h = hashlib.blake2b(d.text.encode("utf-8"), digest_size=16).digest()
        if h not in seen:
            seen.add(h)
            yield d


# ---------------------------------------------------------------------------------- tokenizer

def train_tokenizer(train_texts: Iterable[str], *, vocab_size: int = VOCAB_SIZE, caseops: bool = False) -> bytes:
    """Train a SentencePiece BPE model with the exporter's settings; return the serialised model.

    Deterministic: one thread, no input shuffling, every sentence used, written to
    memory (``model_writer``) so the trainer spec records no path. Documents are
    whole sentences as in the exporter, but with a larger ``max_sentence_length``
    (the exporter's default 4,192 bytes would silently skip long documents).
    """
    import sentencepiece as spm

    buf = io.BytesIO()
    kwargs = dict(
        sentence_iterator=iter(list(train_texts)),
        model_writer=buf,
        model_type="bpe",
        vocab_size=vocab_size,
        character_coverage=0.999,
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="nmt_nfkc",
        add_dummy_prefix=False,
        pad_id=0,
        bos_id=1,
        eos_id=2,
        unk_id=3,
        hard_vocab_limit=False,
        num_threads=1,
        shuffle_input_sentence=False,
        input_sentence_size=0,
        max_sentence_length=1 << 17,
        minloglevel=2,
    )
    if caseops:
        kwargs["user_defined_symbols"] = list(cops.CONTROLS)
    spm.SentencePieceTrainer.train(**kwargs)
    return buf.getvalue()


def _ids_key(ids: Sequence[int]) -> tuple[int, bytes]:
    return len(ids), hashlib.blake2b(np.asarray(ids, dtype="<u2").tobytes(), digest_size=16).digest()


def _pieces(sp, text: str) -> tuple[list[int], list[int]]:
    """Token ids and each piece's end offset (UTF-8 bytes into ``text``)."""
    try:  # sentencepiece 0.1.99-0.2.0 (0.2.2 keeps the name but raises: "no longer supported")
        proto = sp.encode_as_immutable_proto(text)
    except (AttributeError, ValueError):  # 0.2.1+: a parsed SentencePieceText (needs protobuf)
        proto = sp.encode(text, out_type="proto")
    ids = [p.id for p in proto.pieces]
    ends = [p.end for p in proto.pieces]
    return ids, ends


def lut_bytes(sp, tokens: np.ndarray) -> int:
    """Validation bytes as the baseline trainer's lookup tables count them (PGOLF_FACTS §2.1):
    piece bytes without the leading '▁', +1 for a leading space unless the previous token is a
    boundary (control/unknown/unused); byte-fallback pieces 1. Differs from the sidecar sum where
    the tokenizer's normaliser collapsed whitespace."""
    v = sp.get_piece_size()
    base = np.zeros(v, dtype=np.int64)
    space = np.zeros(v, dtype=bool)
    boundary = np.zeros(v, dtype=bool)
    for i in range(v):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            boundary[i] = True
            continue
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\u2581"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    t = np.asarray(tokens, dtype=np.int64)
    prev, tgt = t[:-1], t[1:]
    return int((base[tgt] + (space[tgt] & ~boundary[prev])).sum())


# ---------------------------------------------------------------------------------- build

def _progress():
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TimeElapsedColumn(),
                    console=console, disable=not console.is_terminal, transient=True)


@contextlib.contextmanager
def _lock(root: Path, name: str):
    """One builder per dataset at a time (parallel test runs, two reproduce calls)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _write_split(ds: Path, kind: str, tokens: np.ndarray, shard_tokens: int) -> list[Path]:
    out = []
    n = max(1, -(-tokens.size // shard_tokens))
    for i in range(n):
        p = ds / shards.shard_filename(kind, i)
        shards.write_shard(p, tokens[i * shard_tokens:(i + 1) * shard_tokens])
        out.append(p)
    return out


def build_embedded(
    dest: str | os.PathLike | None = None,
    *,
    tokenizer: str | os.PathLike | None = None,
    caseops: bool = False,
    size: str = "small",
    documents: Sequence[texts.Document] | None = None,
    val_documents: Sequence[texts.Document] | None = None,
    shard_tokens: int | None = None,
    name: str | None = None,
    echo: Callable[[str], None] | None = None,
    sidecar: bool | None = None,
    val_doc_count: int | None = None,
) -> BuildResult:
    """Build one embedded dataset under ``dest`` (default ``default_root()``) and return its figures.

    ``tokenizer``: a SentencePiece model to encode with (no training); None trains a
    1,024-piece BPE on the train documents, except with ``caseops`` where None means the
    CaseOps fixture model (pass ``tokenizer="train"`` to train one with the four controls
    reserved). ``documents``/``val_documents`` replace the built-in text (tests); with only
    ``documents`` the size's split rule applies. ``shard_tokens`` caps tokens per shard.
    ``sidecar``: write the validation byte sidecar. Default: yes for CaseOps and for a trained
    tokenizer (the ``embedded`` variant), no for a given plain tokenizer, because canonical
    plain exports have none and upstream scripts glob ``fineweb_val_*.bin``, which would read a
    sidecar as validation tokens (seen with #1894 on the lent GPU).
    ``val_doc_count`` (smoke only): this many validation documents instead of the smoke targets.
    """
    t0 = time.perf_counter()
    _check_size(size, val_doc_count)
    root = Path(dest) if dest is not None else default_root()
    tok_path = _resolve_tokenizer(tokenizer, caseops)
    sidecar = want_sidecar(sidecar, tok_path, caseops)
    name = name or dataset_name(size, tok_path, caseops)
    forced_shards = shard_tokens is not None
    shard_tokens = shard_tokens or (SMOKE_SHARD_TOKENS if size == "smoke" else DEFAULT_SHARD_TOKENS)

    import sentencepiece as spm

    with _lock(root, name), _progress() as prog:
        task = prog.add_task(f"embedded {name}: documents", total=5)
        # 1. documents
        train_docs, val_docs, source = _documents(size, documents, val_documents, val_doc_count)
        prep = cops.encode if caseops else (lambda s: s)
        train_texts = [prep(d.text) for d in train_docs]
        val_texts = [prep(d.text) for d in val_docs]
        text_sha = texts.fingerprint([*train_docs, *val_docs])
        tok_sha = hashlib.sha256(tok_path.read_bytes()).hexdigest() if tok_path is not None else "trained"

        # 2. tokenizer
        prog.update(task, advance=1, description=f"embedded {name}: tokenizer")
        if tok_path is None:
            budget = SMOKE_TOKENIZER_TRAIN_BYTES if size == "smoke" else None
            feed, used = [], 0
            for t in train_texts:
                if budget is not None and used >= budget:
                    break
                feed.append(t)
                used += len(t.encode("utf-8"))
            model_bytes = train_tokenizer(feed, caseops=caseops)
            tok_name = f"{name}.model"
        else:
            model_bytes = tok_path.read_bytes()
            tok_name = tok_path.name
        sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        if caseops:
            bad = cops.check_tokenizer(sp)
            if bad:
                raise UsageError(f"tokenizer {tok_path or 'trained'} cannot encode CaseOps text: {bad[0]}.",
                                 hint="Use a CaseOps model (the U+E001..U+E004 controls as user-defined symbols).")
        bos = sp.bos_id()
        if bos < 0:
            raise UsageError(f"tokenizer {tok_path} has no BOS id")
        vocab = sp.get_piece_size()

        # 3. encode: train in bulk; validation piece by piece for the byte sidecar.
        prog.update(task, advance=1, description=f"embedded {name}: encode")
        train_ids = sp.encode(train_texts, num_threads=min(4, os.cpu_count() or 1))
        val_ids_plain = sp.encode(val_texts, num_threads=min(4, os.cpu_count() or 1))
        # Texts that differ only where the normaliser folds (whitespace runs, NFKC) tokenize
        # alike: drop training documents whose tokens equal a validation document's, so the
        # overlap audit (harness.data.audit) finds the embedded split clean by construction.
        val_keys = {_ids_key(x) for x in val_ids_plain}
        keep = [i for i, x in enumerate(train_ids) if _ids_key(x) not in val_keys]
        dropped_train = len(train_ids) - len(keep)
        train_docs = [train_docs[i] for i in keep]
        train_ids = [train_ids[i] for i in keep]
        del val_ids_plain, val_keys
        lens = np.fromiter((len(x) + 1 for x in train_ids), dtype=np.int64, count=len(train_ids))
        train_tokens = np.empty(int(lens.sum()), dtype=np.uint16)
        pos = 0
        for ids in train_ids:
            train_tokens[pos] = bos
            train_tokens[pos + 1:pos + 1 + len(ids)] = ids
            pos += len(ids) + 1
        del train_ids
        val_parts: list[np.ndarray] = []
        byte_parts: list[np.ndarray] = []
        val_bytes = 0
        for d, t in zip(val_docs, val_texts):
            ids, ends = _pieces(sp, t)
            counts = cops.token_byte_counts(ends, cops.byte_weights(t, transformed=caseops))
            orig = len(d.text.encode("utf-8"))
            if int(counts.sum()) != orig:  # cannot happen by construction; a loud guard all the same
                raise RuntimeError(f"byte sidecar for {d.name} sums to {int(counts.sum())}, text has {orig}")
            if counts.size and int(counts.max()) >= 2**16:
                raise RuntimeError(f"a token of {d.name} covers {int(counts.max())} bytes (sidecar is uint16)")
            val_parts += [np.array([bos], dtype=np.uint16), np.asarray(ids, dtype=np.uint16)]
            byte_parts += [np.zeros(1, dtype=np.uint16), counts.astype(np.uint16)]
            val_bytes += orig
        val_tokens = np.concatenate(val_parts)
        val_byte_counts = np.concatenate(byte_parts)

        # 4. write into a scratch tree, lock (hash) it, then move it into place.
        prog.update(task, advance=1, description=f"embedded {name}: write")
        scratch = root / f".build-{name}-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        ds_tmp = scratch / "datasets" / name
        tok_tmp = scratch / "tokenizers" / tok_name
        ds_tmp.mkdir(parents=True)
        tok_tmp.parent.mkdir(parents=True)
        tok_tmp.write_bytes(model_bytes)
        _write_split(ds_tmp, "train", train_tokens, shard_tokens)
        # Validation stays in one shard (as the canonical sets) unless shard_tokens is forced.
        val_shard_tokens = shard_tokens if forced_shards else DEFAULT_SHARD_TOKENS
        vals = _write_split(ds_tmp, "val", val_tokens, val_shard_tokens)
        for i, v in enumerate(vals if sidecar else []):
            shards.write_shard(shards.sidecar_for(v),
                               val_byte_counts[i * val_shard_tokens:(i + 1) * val_shard_tokens])

        import sentencepiece

        figures = {
            "val_docs": len(val_docs),
            "val_tokens": int(val_tokens.size),
            "val_targets": int(val_tokens.size) - 1,
            "val_bytes": int(val_bytes),
            "train_docs": len(train_docs),
            "train_tokens": int(train_tokens.size),
            "vocab_size": int(vocab),
        }
        if not caseops:  # the LUT would count CaseOps control pieces as 3 bytes each: meaningless
            figures["val_bytes_lut"] = lut_bytes(sp, val_tokens)
        source_info = {
            "kind": "embedded-builder",
            "builder_version": BUILDER_VERSION,
            "size": size,
            "caseops": caseops,
            "text_source": source,
            "text_sha256": text_sha,
            "python": texts.platform.python_version(),
            "python_key": texts.interpreter_key(),
            "sentencepiece": sentencepiece.__version__,
            "tokenizer": "trained here (exporter settings, vocab 1024)" if tok_path is None else str(tok_path),
            "tokenizer_file": tok_name,
            "tokenizer_sha256": tok_sha,
            "val_rule": f"document i (sorted order) to validation when i % {VAL_EVERY[size]} == 0"
                        + (f", the first {val_doc_count}" if val_doc_count else ""),
            "shard_tokens": shard_tokens,
            "train_docs_dropped_as_val_duplicates": dropped_train,
            "sidecar": sidecar,
            "val_doc_count": val_doc_count,
        }
        from harness.data.verify import lock_dataset

        prog.update(task, advance=1, description=f"embedded {name}: hash")
        m = lock_dataset(ds_tmp, variant=VARIANT, tokenizer=tok_tmp, source=source_info, figures=figures,
                         show_progress=False)

        ds = root / "datasets" / name
        tok_final = root / "tokenizers" / tok_name
        tok_final.parent.mkdir(parents=True, exist_ok=True)
        ds.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tok_tmp, tok_final)
        if ds.exists():
            old = scratch / "old"
            os.replace(ds, old)
        os.replace(ds_tmp, ds)
        shutil.rmtree(scratch, ignore_errors=True)
        prog.update(task, advance=1)

    res = BuildResult(root=root, dataset_dir=ds, tokenizer_path=tok_final, name=name, size=size, caseops=caseops,
                      vocab_size=int(vocab), tokenizer_trained=tok_path is None, figures=figures,
                      files={k: v.to_json() for k, v in m.files.items()}, seconds=time.perf_counter() - t0,
                      python=texts.platform.python_version())
    if (size == "smoke" and documents is None and val_doc_count is None
            and int(val_tokens.size) < SMOKE_MIN_VAL_TOKENS):
        # The targets are in bytes before tokenization; say so plainly if a tokenizer packs harder.
        if echo:
            echo(f"note: {name} has {val_tokens.size:,} validation tokens (target {SMOKE_MIN_VAL_TOKENS:,})")
    return res


# ---------------------------------------------------------------------------------- ensure

def want_sidecar(sidecar: bool | None, tok_path: Path | None, caseops: bool) -> bool:
    """Whether a build writes the validation byte sidecar (see build_embedded)."""
    if sidecar is not None:
        return sidecar
    return caseops or tok_path is None


def _up_to_date(ds: Path, expect: dict) -> bool:
    from harness.data import manifest as mf

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


def _resolve_tokenizer(tokenizer: str | os.PathLike | None, caseops: bool) -> Path | None:
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
    from harness.data import manifest as mf

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


def ensure_built(dest: str | os.PathLike | None = None, *, tokenizer: str | os.PathLike | None = None,
                 caseops: bool = False, size: str = "small", force: bool = False, name: str | None = None,
                 echo: Callable[[str], None] | None = None, sidecar: bool | None = None,
                 val_doc_count: int | None = None) -> BuildResult:
    """Build unless an up-to-date build is already there (``.built`` says which happened).

    Stale means: another builder version, interpreter, sentencepiece version, source text
    or tokenizer, or a file missing or of the wrong size (``harness data verify`` checks hashes).
    """
    import sentencepiece

    _check_size(size, val_doc_count)
    root = Path(dest) if dest is not None else default_root()
    tok_path = _resolve_tokenizer(tokenizer, caseops)
    name = name or dataset_name(size, tok_path, caseops)
    if "/" in name or name.startswith("."):
        raise UsageError(f"dataset name {name!r} must be a plain directory name.")
    ds = root / "datasets" / name

    def expected() -> dict:
        train, val, _ = _documents(size, val_doc_count=val_doc_count)
        return {
            "builder_version": BUILDER_VERSION,
            "python": texts.platform.python_version(),
            "sentencepiece": sentencepiece.__version__,
            "text_sha256": texts.fingerprint([*train, *val]),
            "tokenizer_sha256": hashlib.sha256(tok_path.read_bytes()).hexdigest() if tok_path else "trained",
            "caseops": caseops,
            "size": size,
            "sidecar": want_sidecar(sidecar, tok_path, caseops),
            "val_doc_count": val_doc_count,
        }

    if not force and _up_to_date(ds, expected()):
        return load_result(ds)
    with _lock(root, name + "-ensure"):
        if force or not _up_to_date(ds, expected()):  # another process may have built it meanwhile
            return build_embedded(root, tokenizer=tok_path if tok_path else "train", caseops=caseops, size=size,
                                  name=name, echo=echo, sidecar=sidecar, val_doc_count=val_doc_count)
    return load_result(ds)


def ensure_embedded(dest: str | os.PathLike | None = None) -> Path:
    """The default embedded DATASET directory (``<root>/datasets/embedded_sp1024``, tokenizer in
    ``<root>/tokenizers/embedded_sp1024.model``), built first if missing or stale."""
    return ensure_built(dest).dataset_dir


def tokenizer_for(dataset_dir: str | os.PathLike) -> Path | None:
    """The tokenizer a built embedded dataset was encoded with (from its manifest)."""
    from harness.data import manifest as mf

    ds = Path(dataset_dir)
    m = mf.read_manifest(ds)
    if m is None:
        return None
    name = m.source.get("tokenizer_file")
    p = ds.parent.parent / "tokenizers" / name if name else None
    return p if p is not None and p.is_file() else None


__all__ = ["BuildResult", "build_embedded", "ensure_embedded", "ensure_built", "load_result", "default_embedded_dir", "default_root",
           "dataset_name", "train_tokenizer", "tokenizer_for", "find_caseops_fixture", "lut_bytes"]
