"""`harness data audit DIR`: train/validation document overlap (thin wrapper over harness.data.audit).

Discovered by ``harness/commands/data.py`` (modules named ``data_*``); named
``data_command`` so that it lives only under ``harness data``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from harness.ui import token_bar


@click.command("audit")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--train-dir", type=click.Path(path_type=Path), default=None,
              help="Take the training shards from here instead (e.g. a locally prepared copy).")
@click.option("--bos-id", type=int, default=1, show_default=True, help="The token that starts every document.")
@click.option("--min-tokens", type=click.IntRange(0), default=8, show_default=True,
              help="Audit only validation documents with at least this many tokens after BOS.")
@click.option("--examples", "max_examples", type=click.IntRange(0), default=10, show_default=True,
              help="Overlapping documents to list.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def data_command(directory: Path, train_dir: Path | None, bos_id: int, min_tokens: int, max_examples: int,
                 as_json: bool) -> None:
    """Count DIRECTORY's validation documents that also occur in its training shards.

    Documents are split at BOS (joined across shard boundaries) and compared by a hash of
    their tokens; training shards are streamed with bounded memory.
    Exit 0 clean, 1 overlap found, 3 directory or shards missing.
    """
    from harness.data.audit import audit_overlap
    from harness.errors import VerificationFailed

    rep = audit_overlap(directory, train_dir=train_dir, bos_id=bos_id, min_tokens=min_tokens,
                        max_examples=max_examples, progress=token_bar)
    if as_json:
        click.echo(json.dumps(rep.to_json(), indent=2))
    else:
        for note in rep.notes:
            click.echo(f"note: {note}", err=True)
        click.echo(f"validation: {rep.val_docs:,} documents ({rep.val_unique:,} distinct, "
                   f"{rep.val_docs_short:,} shorter than {min_tokens} not audited) in {rep.val_shards} shard(s), "
                   f"{rep.val_tokens:,} tokens")
        click.echo(f"training:   {rep.train_docs:,} documents in {rep.train_shards} shard(s), {rep.train_tokens:,} "
                   f"tokens ({rep.train_docs_hashed:,} hashed) [{rep.seconds:.2f}s]")
        for e in rep.examples:
            click.echo(f"  val doc #{e.val_index} ({e.val.length:,} tokens, {e.val.shard}@{e.val.offset:,}) "
                       f"== {e.train.shard}@{e.train.offset:,}")
        if rep.overlap_docs > len(rep.examples):
            click.echo(f"  ... and {rep.overlap_docs - len(rep.examples):,} more")
    if not rep.clean:
        raise VerificationFailed(
            f"{rep.overlap_docs:,} of {rep.val_docs:,} validation documents ({rep.fraction:.2%}) also occur in "
            f"the training shards.", hint="Rebuild the training split without the validation documents.")
    if not as_json:
        click.echo(f"clean: none of the {rep.val_docs:,} validation documents occurs in the training shards")
