"""`harness verify PATH|PR-REF`: compliance findings with evidence (text, JSON, Markdown)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from harness.core.policy import PolicyError
from harness.core.schema import loads_json
from harness.errors import EnvironmentProblem, UsageError
from harness.ui import output_console


def _pr_targets(ref: str, source_repo: Path | None) -> list[tuple[Path, str, int]] | None:
    """Every records folder a PR reference adds, exported: (folder, ref#folder, PR); None if ``ref`` is no PR.

    A PR that adds several records folders gets one report per folder (not a usage error); a blob missing
    from the mirror is listed in the export and reported by the verifier (record.files), not an abort.
    """
    from harness import resolve as res

    m = res.PR_REF.match(ref.strip())
    if not m:
        return None
    pr, sha = int(m.group("num")), m.group("sha")
    git_dir = res.open_source_repo(str(source_repo) if source_repo else None, pr, m.group("repo"))
    head = str(res.run_git(git_dir, "rev-parse", "--verify", (sha or f"refs/pull/{pr}/head") + "^{commit}")).strip()
    folders, _notes, _mb = res.pr_folders(git_dir, head)
    dest = res.cache_root() / "sources" / f"pr{pr}-{head[:12]}"
    out = []
    for folder in folders:
        local = res.export_folder(git_dir, head, folder, dest / "all")
        out.append((local, f"{ref}:{folder}" if len(folders) > 1 else ref, pr))
    return out


def _resolve(ref: str, source_repo: Path | None) -> tuple[Path, str | None]:
    """A local path stays itself; anything else goes through harness.resolve (PR refs, registry names)."""
    p = Path(ref)
    if p.exists():
        return p, None
    from harness import resolve as res  # imported here: it pulls in git and manifest helpers verify rarely needs

    try:
        resolved = res.resolve(ref, source_repo=str(source_repo) if source_repo else None)
    except OSError as exc:  # git missing, a mirror unreadable: resolve's own failures are HarnessErrors already
        raise EnvironmentProblem(f"could not resolve {ref}: {exc}",
                                 hint="Pass --source-repo PATH to a local openai/parameter-golf mirror.") from None
    return Path(resolved.folder), ref


@click.command("verify")
@click.argument("target")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--policy", "policy", default=None, help="timing policy id (default organizer-tda-v1; strict shown beside)")
@click.option("--source-repo", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="local openai/parameter-golf mirror for PR references (github:openai/parameter-golf#N)")
@click.option("--baseline", default=None,
              help="the record this one claims to beat (folder or submission.json) for the significance rule, "
                   "or 'auto' (best earlier record beside it, in PR order)")
@click.option("--claims", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="a submission.json to check instead of the folder's own")
@click.option("--reproduced", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="a folder of logs from a re-run (runs/<id>/): adds claimed-vs-reproduced findings")
@click.option("--quiet", is_flag=True, help="text format: hide info findings")
def command(target: str, fmt: str, policy: str | None, source_repo: Path | None, baseline: str | None,
            claims: Path | None, reproduced: Path | None, quiet: bool) -> None:
    """Verify a records folder, a single log, a script or a PR reference.

    \b
    Exit status: 0 no error finding, 1 at least one error finding, 2 usage error or nothing to
    verify (a folder without Python code, a training log or a submission.json).
    A PR reference that adds several records folders gets one report per folder.
    Static heuristics never say "clean": they report "needs runtime probe".
    """
    import json

    from verifier.api import NothingToVerify, verify_path

    targets = None if Path(target).exists() else _pr_targets(target, source_repo)
    if targets is None:
        path, resolved_from = _resolve(target, source_repo)
        targets = [(path, resolved_from, None)]
    if baseline is not None and baseline != "auto" and not Path(baseline).exists():
        raise UsageError(f"baseline {baseline} does not exist.", hint="Give a records folder, a submission.json or 'auto'.")
    claims_obj = None
    if claims is not None:
        try:
            claims_obj = loads_json(claims.read_bytes(), str(claims))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{claims} is not JSON ({exc}).", hint="Give a submission.json.") from None
    try:
        reports = [verify_path(path, policy=policy, claims=claims_obj, baseline=baseline, resolved_from=resolved_from,
                               reproduced=reproduced, pr=pr) for path, resolved_from, pr in targets]
    except PolicyError as exc:
        raise UsageError(f"{exc}.", hint="See `harness log policies`.") from None
    except NothingToVerify as exc:
        raise UsageError(f"nothing to verify: {exc}.",
                         hint="Give a records folder, a training log, a script or a submission.json.") from None
    if fmt == "json":  # one report: the report object; a PR with several records folders: a list of them
        click.echo(reports[0].to_json() if len(reports) == 1 else
                   json.dumps([r.to_dict() for r in reports], indent=2, default=str))
    for report in reports:
        if fmt == "markdown":
            click.echo(report.to_markdown(), nl=False)
        elif fmt == "text":
            report.render_text(output_console(piped_width=200), show_info=not quiet)
    if any(r.has_errors for r in reports):
        sys.exit(1)

