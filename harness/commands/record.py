"""`harness record validate|show`: check submission.json files and show how they normalise."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from harness.core.schema import loads_json
from harness.core import records
from harness.core.legacy_record import LegacyRecord
from harness.errors import UsageError, VerificationFailed


@dataclass
class FileCheck:
    path: Path
    kind: str  # "v1" | "legacy"
    errors: list[str]


def check_file(path: Path, force_legacy: bool = False) -> FileCheck:
    """v1 when the record has a ``verification`` block (unless forced legacy), else the legacy subset."""
    try:
        obj = loads_json(path.read_bytes(), str(path))
    except OSError as exc:
        return FileCheck(path, "unreadable", [f"cannot read: {exc}"])
    except ValueError as exc:
        return FileCheck(path, "unreadable", [str(exc)])
    if not force_legacy and records.is_v1(obj):
        return FileCheck(path, "v1", records.validate_record(obj))
    return FileCheck(path, "legacy", records.check_legacy_subset(obj))


def _expand(paths: tuple[str, ...]) -> list[Path]:
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {missing[0]}", hint="Pass submission.json files or folders holding them.")
    files = records.find_submission_files(list(paths))
    if not files:
        raise UsageError("no submission*.json found under the given paths.", hint="Pass a records folder or a file.")
    return files


@click.group("record")
def command() -> None:
    """Validate submission.json files (v1 schema or the legacy subset) and show their normalised form."""


@command.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--legacy", "force_legacy", is_flag=True, help="Check every file against the legacy subset, even v1 records.")
@click.option("--quiet", "-q", is_flag=True, help="Print only invalid files and the summary.")
def validate_cmd(paths: tuple[str, ...], force_legacy: bool, quiet: bool) -> None:
    """Check FILEs (or folders, searched recursively).

    A record with a `verification` block is checked against the strict v1
    schema; any other against the minimal legacy subset (name, author,
    github_id, date, val_bpb and typed optional fields). Exit 1 if any file
    is invalid.
    """
    results = [check_file(p, force_legacy) for p in _expand(paths)]
    bad = 0
    for r in results:
        if r.errors:
            bad += 1
            click.secho(f"INVALID ({r.kind}) {r.path}", fg="red")
            for e in r.errors:
                click.echo(f"    {e}")
        elif not quiet:
            click.secho(f"OK ({r.kind}) {r.path}", fg="green")
    click.echo(f"{len(results) - bad} of {len(results)} valid")
    if bad:
        raise VerificationFailed(f"{bad} of {len(results)} file(s) do not meet their schema.", hint="See the errors above.")


@command.command("show")
@click.argument("path", type=click.Path(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print the normalised record as JSON.")
def show_cmd(path: str, as_json: bool) -> None:
    """Normalise an upstream submission.json (or its folder): fields, where each came from, warnings."""
    try:
        rec = LegacyRecord.from_path(path)
    except (FileNotFoundError, ValueError, json.JSONDecodeError) as exc:
        raise VerificationFailed(f"cannot read {path}: {exc}") from None
    if as_json:
        click.echo(json.dumps(rec.to_dict(), indent=2, default=str))
        return
    rows = [
        ("name", rec.name), ("author", rec.author), ("github_id", rec.github_id),
        ("date", rec.date), ("track", rec.track), ("submission_type", rec.submission_type),
        ("val_loss", rec.val_loss), ("val_bpb", rec.val_bpb), ("seeds", rec.seeds),
        ("bytes_total", f"{rec.bytes_total} ({rec.bytes_total_meaning})"), ("bytes_code", rec.bytes_code),
        ("hardware", rec.hardware), ("pytorch_version", rec.pytorch_version),
    ]
    for k, v in rows:
        src = rec.provenance.get(k, "")
        click.echo(f"{k:16} {v!s:60} {('<- ' + src) if src else ''}")
    for seed, sr in rec.seed_results.items():
        click.echo(f"  seed {seed:>6}: val_bpb={sr.val_bpb} val_loss={sr.val_loss} artifact={sr.artifact_bytes}")
    for w in rec.warnings:
        click.secho(f"warning [{w.kind}] {w.message}", fg="yellow")


@command.command("merge")
@click.argument("runs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for the merged submission.json.")
@click.option("--submission", default=None, metavar="REF",
              help="The submission the records ran (default: found from the records' source), for its claims and baseline.")
@click.option("--source-repo", default=None, help="Local mirror or URL of openai/parameter-golf for PR references.")
def merge_cmd(runs: tuple[Path, ...], out: Path, submission: str | None, source_repo: str | None) -> None:
    """Merge per-seed RUN records (run folders or submission.json files) into one multi-seed record.

    The figures over the seeds and the comparison with the claims are those a
    single multi-seed run computes. Records of different submission versions,
    data, policies or run settings are refused (exit 2); seeds that ran on
    different node types are kept, each with its node qualification, and flagged.
    """
    from harness.fleet.merge import merge

    path, merged = merge(list(runs), out, submission, source_repo, say=click.echo)
    stats = merged["verification"]["stats"]
    std = stats.get("std_sample")
    click.echo(f"seeds {merged['seeds']}: val_bpb mean {stats['mean']} std(sample) {'-' if std is None else std} n={stats['n']}")
    for f in merged["verification"]["findings"]:
        if f.get("severity") in ("error", "warning"):
            click.secho(f"{f['severity']} seed {f.get('seed')}: {f['message']}", fg="red" if f["severity"] == "error" else "yellow")
    click.echo(f"record: {path}")
