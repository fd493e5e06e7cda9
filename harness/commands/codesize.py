"""`harness codesize FILE --recipe R`: counted code bytes under a record's recipe."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import click

from harness.core import codesize
from harness.errors import UsageError


LOG_SUFFIXES = (".log", ".txt")


def _is_log(file: Path, text: str) -> bool:
    """A log file that is not Python: measuring its bytes as code would report a size nothing ran."""
    if file.suffix.lower() not in LOG_SUFFIXES:
        return False
    try:
        ast.parse(text)
    except SyntaxError:
        return True
    return False


@click.command("codesize")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--recipe", "recipes", multiple=True, default=(),
              help=f"recipe id (repeatable; default: all). Known: {', '.join(codesize.RECIPES)}")
@click.option("--log", "log_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="a train log of FILE: also check its embedded source against its logged sizes")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
def command(file: Path, recipes: tuple[str, ...], log_path: Path | None, as_json: bool) -> None:
    """Measure FILE's counted code size: raw, minified, compressed and wrapper bytes.

    FILE may also be a train log with a `Source code:` section: its embedded
    source is measured and compared with the sizes the run printed.
    """
    if not file.is_file():
        raise UsageError(f"{file} is not a file.", hint="Give a train_gpt.py or a log with a 'Source code:' section.")
    ids = list(recipes) or list(codesize.RECIPES)
    for r in ids:
        if r not in codesize.RECIPES:
            raise UsageError(f"unknown recipe {r!r}.", hint=f"Known recipes: {', '.join(codesize.RECIPES)}.")
    text = file.read_text(encoding="utf-8", errors="replace")
    identity = None
    source_bytes = file.read_bytes()
    embedded = codesize.extract_embedded_source(text)
    if embedded is None and _is_log(file, text):
        raise UsageError(f"{file} is a training log without a 'Source code:' section: it holds no code to measure.",
                         hint="Measure the script instead (harness codesize train_gpt.py --log LOG).")
    if embedded is not None and log_path is None:
        log_path, source_bytes = file, embedded.text.encode("utf-8")
    elif log_path is not None:
        log_text = log_path.read_text(encoding="utf-8", errors="replace")
        identity = codesize.check_embedded_identity(log_text, codesize.guess_recipe(text))
    if log_path is not None and identity is None:
        identity = codesize.check_embedded_identity(text, codesize.guess_recipe(embedded.text) if embedded else None)
    sizes = [codesize.measure(source_bytes, r) for r in ids]
    if as_json:
        click.echo(json.dumps({"file": str(file), "sizes": [s.to_dict() for s in sizes],
                               "identity": identity.to_dict() if identity else None}, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"counted code: {file}")
    for col in ("recipe", "raw", "minified", "compressed", "counted"):
        table.add_column(col, justify="right" if col != "recipe" else "left")
    for s in sizes:
        table.add_row(s.recipe, f"{s.raw_bytes:,}", f"{s.minified_bytes:,}" if s.minified_bytes is not None else "-",
                      f"{s.compressed_bytes:,}" if s.compressed_bytes is not None else "-", f"{s.counted_bytes:,}")
    console = Console()
    console.print(table)
    console.print(f"interpreter {codesize.interpreter_id()}, python-minifier {codesize.minifier_version()}")
    if identity is not None:
        console.print(f"log identity: [bold]{identity.status}[/bold] - {identity.detail}"
                      + (f" (logged compressed {identity.logged_compressed:,})" if identity.logged_compressed else ""))
