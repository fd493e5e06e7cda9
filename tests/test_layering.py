"""The package's layers, as a contract: ``harness.core`` and ``verifier`` never import torch, ``harness.core``
imports nothing else of ours, and ``verifier`` reaches ``harness`` only through ``harness.core``.

Two checks, because each misses what the other sees: the source scan finds an import inside a function that
no import-time check runs; the import check finds torch pulled in indirectly (a third-party module that
imports it) and proves every module of both layers imports at all without it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LAYERS = {"harness.core": ROOT / "harness" / "core", "verifier": ROOT / "verifier"}


def _modules(package: str) -> dict[str, Path]:
    """Every module of a layer (packages as their ``__init__``), by dotted name."""
    folder = LAYERS[package]
    out = {}
    for path in sorted(folder.rglob("*.py")):
        parts = path.relative_to(folder).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join((package, *parts))] = path
    return out


def _imports(module: str, path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in the file, wherever it sits (functions included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((node.lineno, name))
    return found


def _breaches(package: str, allowed_ours: tuple[str, ...]) -> list[str]:
    out = []
    for module, path in _modules(package).items():
        for line, name in _imports(module, path):
            top = name.split(".")[0]
            ours = top in ("harness", "verifier")
            if top == "torch" or (ours and not any(name == a or name.startswith(a + ".") for a in allowed_ours)):
                out.append(f"{path.relative_to(ROOT)}:{line}: imports {name}")
    return out


def test_core_imports_neither_torch_nor_the_rest_of_the_package() -> None:
    assert _breaches("harness.core", ("harness.core",)) == []


def test_verifier_imports_neither_torch_nor_harness_outside_core() -> None:
    assert _breaches("verifier", ("harness.core", "verifier")) == []


def test_the_scan_sees_imports_inside_functions_and_relative_ones(tmp_path: Path) -> None:
    """The scanner itself: a breach hidden in a function body or spelled relatively is still a breach."""
    src = tmp_path / "probe.py"
    src.write_text("def f():\n    import torch.nn\n    from ..reproduce import x\n")
    assert _imports("harness.core.probe", src) == [(2, "torch.nn"), (3, "harness.reproduce")]


def test_every_module_of_both_layers_imports_with_torch_unimportable() -> None:
    """One interpreter with torch refused (a meta-path finder: setting ``sys.modules['torch'] = None`` would
    break scipy.stats, which probes for it) imports every module of harness.core and verifier; then neither
    torch nor a harness module outside harness.core may be loaded."""
    names = sorted({*_modules("harness.core"), *_modules("verifier")})
    code = (
        "import importlib, sys\n"
        "class RefuseTorch:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('torch refused by the layering test')\n"
        "sys.meta_path.insert(0, RefuseTorch())\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(*sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')\n"
        "              or (m.startswith('harness.') and not m.startswith('harness.core'))))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == [], f"loaded outside the layers: {p.stdout}"


def test_the_cli_starts_without_torch_or_scipy() -> None:
    """`harness ...` imports every command module at start: torch (seconds) and scipy.stats (about a second)
    are imported where they are used, so `harness --help`, `verify` and every CLI call start fast."""
    code = "import sys, harness.cli; print(*sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'scipy'}))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert p.returncode == 0, p.stderr[-3000:]
    assert p.stdout.split() == []
