"""`harness data ...`: fetch, verify and lock datasets (thin wrappers over harness.data).

Extra sub-commands are discovered, so that two owners never edit this file:
every module ``harness/commands/data_<name>.py`` that defines a module-level
``command`` (a click.Command or click.Group) is added to this group, e.g.
``data_embedded.py`` -> ``harness data build-embedded``. Note that
``harness/cli.py`` also adds every commands module's ``command`` at the top
level; a ``data_*`` module that wants to stay out of the top level may name its
object ``data_command`` instead (preferred over ``command`` here).

Exit codes: 0 ok, 1 problems found (verify) or the data contradicts the
registry (fetch), 2 usage, 3 environment (directory missing, hub unreachable,
HF_HUB_OFFLINE with an empty cache).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import click

from harness.errors import UsageError, VerificationFailed
from harness.ui import byte_bar


@click.group(name="data")
def command() -> None:
    """Fetch, verify and lock dataset variants (see harness/core/datasets.toml)."""


@command.command("fetch")
@click.argument("variant")
@click.option("--train-shards", type=int, default=None, help="Train shards to fetch (default: the registry's).")
@click.option("--dest", type=click.Path(file_okay=False, path_type=Path), default=Path("data"), show_default=True,
              help="Root of the local layout: <dest>/datasets/<dir>/, <dest>/tokenizers/.")
@click.option("--dry-run", is_flag=True, help="Print the exact remote files and stop.")
@click.option("--max-workers", type=click.IntRange(1, 64), default=8, show_default=True, help="Parallel downloads.")
@click.option("--revision", default=None, help="Branch, tag or commit sha to fetch instead of the registry's.")
def fetch_cmd(variant: str, train_shards: int | None, dest: Path, dry_run: bool, max_workers: int,
              revision: str | None) -> None:
    """Download VARIANT from the Hugging Face hub (honours HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE, HF_HOME)."""
    from harness.core.registry import UnknownVariant
    from harness.data.fetch import fetch_variant, raise_on_contradiction

    try:
        res = fetch_variant(variant, train_shards=train_shards, dest=dest, dry_run=dry_run,
                            max_workers=max_workers, echo=click.echo, revision=revision, progress=byte_bar)
    except UnknownVariant as exc:
        raise UsageError(str(exc)) from None
    if dry_run:
        return
    click.echo(f"{res.variant}: {len(res.downloaded)} fetched, {len(res.skipped)} already present and verified; "
               f"revision {res.revision_resolved or 'unknown'}")
    obs = res.observed
    click.echo(f"validation tokens: {obs.get('val_tokens', 0):,} (targets {obs.get('val_targets', 0):,})"
               + (f"; sidecar bytes {obs['val_bytes_sum']:,}" if "val_bytes_sum" in obs else ""))
    for ok, msg in res.figure_checks:
        click.echo(("  ok    " if ok else "  FAIL  " if ok is False else "  info  ") + msg)
    click.echo(f"manifest: {res.manifest_path}")
    raise_on_contradiction(res)


@command.command("verify")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--variant", default=None, help="Registry variant to check against (default: the manifest's).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None, help="Files hashed in parallel (default: cores, max 8).")
def verify_cmd(directory: Path, variant: str | None, jobs: int | None) -> None:
    """Check DIRECTORY: shard headers, sidecars, sha256 against the manifest, canonical figures.

    DIRECTORY is a dataset directory, or a data root (the --dest of `data fetch` or
    `data build-embedded`): then every dataset in it is verified.

    Exit 0 intact, 1 problems (one line each, naming the file), 3 directory missing.
    """
    from harness.data.verify import datasets_under, verify_dataset

    dirs = datasets_under(directory) or [directory]
    if len(dirs) > 1 and variant:
        raise UsageError(f"--variant names one variant but {directory} holds {len(dirs)} datasets.",
                         hint="Give one dataset directory with --variant, or drop --variant.")
    failed = []
    for d in dirs:
        rep = verify_dataset(d, variant=variant, jobs=jobs, progress=byte_bar)
        _show(rep)
        if rep.problems:
            failed.append(rep)
    if not failed:
        return
    rep = failed[0]
    if rep.variant == "embedded":
        hint = "Rebuild it: harness data build-embedded."
    elif rep.variant:
        hint = f"Fetch the named files again: harness data fetch {rep.variant} (it re-downloads what no longer matches)."
    else:
        hint = "Fetch or rebuild the named files; if the change is intended, re-lock: harness data lock DIR."
    where = ", ".join(str(r.directory) for r in failed)
    raise VerificationFailed(f"{sum(len(r.problems) for r in failed)} problem(s) in {where}.", hint=hint)


def _show(rep) -> None:
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
    for p in rep.problems:
        click.echo(f"FAIL {p}")
    if rep.problems:
        return
    hashed = f"{rep.files_hashed} files ({rep.bytes_hashed / 1e6:,.1f} MB) hashed in {rep.hash_seconds:.1f}s" \
        if rep.manifest_found else "no manifest (sha256 not checked)"
    click.echo(f"ok {rep.directory}: variant {rep.variant or 'unknown'}; {rep.val_shards} val + {rep.train_shards} "
               f"train shards; {hashed}")
    extra = f"; sidecar bytes {rep.val_bytes_sum:,}" if rep.val_bytes_sum is not None else ""
    click.echo(f"validation tokens: {rep.val_tokens:,} (targets {rep.val_targets:,}){extra}")


@command.command("lock")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--variant", default=None, help="Registry variant these files are (recorded in the manifest).")
@click.option("--tokenizer", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Tokenizer file to hash too (default: <dest>/tokenizers/<variant's file> if present).")
@click.option("--jobs", "-j", type=click.IntRange(1, 256), default=None)
def lock_cmd(directory: Path, variant: str | None, tokenizer: Path | None, jobs: int | None) -> None:
    """Write DIRECTORY/harness-manifest.json (trust on first use) for data obtained otherwise."""
    from harness.data.verify import lock_dataset

    m = lock_dataset(directory, variant=variant, tokenizer=tokenizer, jobs=jobs, progress=byte_bar)
    click.echo(f"locked {len(m.files)} files in {directory}/harness-manifest.json (variant {m.variant or 'unknown'}); "
               f"validation tokens {m.observed.get('val_tokens', 0):,}")


def _register_extra_commands() -> None:
    import harness.commands as pkg

    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if not info.name.startswith("data_"):
            continue
        module = importlib.import_module(f"harness.commands.{info.name}")
        sub = getattr(module, "data_command", None) or getattr(module, "command", None)
        if isinstance(sub, click.Command):
            command.add_command(sub)


_register_extra_commands()
