"""`harness data build-embedded`: build an embedded dataset (thin wrapper over harness.data.embedded).

Discovered by ``harness/commands/data.py`` (modules named ``data_*``). The object
is named ``data_command`` so that it lives only under ``harness data``.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("build-embedded")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Root of the layout <dest>/datasets/<name>/ + <dest>/tokenizers/ "
                   "(default: $HARNESS_DATA/embedded or ./data/embedded).")
@click.option("--tokenizer", "tokenizer", default=None, metavar="MODEL",
              help="Encode with this SentencePiece model instead of training one (no training). "
                   "'train' trains a 1,024-piece BPE (the default without --caseops).")
@click.option("--caseops", is_flag=True,
              help="Apply the lossless CaseOps case transform first (default tokenizer: the CaseOps fixture model).")
@click.option("--size", type=click.Choice(["small", "smoke"]), default="small", show_default=True,
              help="small: pydoc topics (seconds); smoke: standard-library sources, >= 3k validation documents.")
@click.option("--name", default=None,
              help="Dataset directory name under <dest>/datasets/ (default: embedded[_smoke][_caseops]_<tokenizer>; "
                   "e.g. fineweb10B_sp8192 for a script that hard-codes the canonical path).")
@click.option("--sidecar/--no-sidecar", default=None,
              help="Write the validation byte sidecar (default: with --caseops or a trained tokenizer; not for a "
                   "given plain tokenizer, whose canonical exports have none and whose scripts glob "
                   "fineweb_val_*.bin).")
@click.option("--val-docs", "val_doc_count", type=click.IntRange(min=1), default=None, metavar="N",
              help="With --size smoke: N validation documents instead of >= 3,000 (a quicker eval, e.g. "
                   "eager-mode TTT on one GPU; lower the submission's prefix-document settings to match).")
@click.option("--force", is_flag=True, help="Rebuild even if an up-to-date build is there.")
def data_command(dest: Path | None, tokenizer: str | None, caseops: bool, size: str, name: str | None,
                 sidecar: bool | None, val_doc_count: int | None, force: bool) -> None:
    """Build a small dataset in the canonical layout from text shipped with Python (offline).

    Documents -> SentencePiece BPE (trained on the train documents, or MODEL) ->
    fineweb_{train,val}_NNNNNN.bin (BOS-prefixed documents) -> validation byte sidecar
    -> harness-manifest.json. Identical bytes on every build with the same Python and
    sentencepiece versions. Exit 0 built, 2 usage, 3 a needed file (tokenizer) is missing.
    """
    from rich.console import Console
    from rich.table import Table

    from harness.data.embedded_build import BUILD_STEPS, ensure_built
    from harness.ui import BuildStepBar

    with BuildStepBar(BUILD_STEPS) as bar:
        res = ensure_built(dest, tokenizer=tokenizer, caseops=caseops, size=size, force=force, name=name,
                           echo=click.echo, sidecar=sidecar, val_doc_count=val_doc_count, progress=bar)
    console = Console()
    click.echo(f"{res.name}: {'built in %.1fs' % res.seconds if res.built else 'up to date'}")
    table = Table()
    table.add_column("figure")
    table.add_column("value", justify="right")
    for k in ("train_docs", "train_tokens", "val_docs", "val_tokens", "val_targets", "val_bytes", "val_bytes_lut",
              "vocab_size"):
        if k in res.figures:
            table.add_row(k, f"{res.figures[k]:,}")
    console.print(table)
    # Plain lines, never truncated: the hashes are meant to be compared.
    for rel, e in sorted(res.files.items()):
        click.echo(f"{e['sha256']}  {e['size']:>12,}  {rel}")
    click.echo(f"dataset: {res.dataset_dir}")
    click.echo(f"tokenizer: {res.tokenizer_path}")
