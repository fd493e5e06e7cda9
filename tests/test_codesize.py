"""Counted-code recipes against the real VarLenAttn logs (embedded sources + logged sizes)."""

from __future__ import annotations

import base64
import json
import lzma

import pytest

from harness.core import codesize

VARLEN = "track_10min_16mb/2026-04-10_VarLenAttn/logs"


def _log(records_dir, name):
    return (records_dir / VARLEN / name).read_text(encoding="utf-8")


def test_recipe_reproduces_train2_logged_size_exactly(records_dir):
    text = _log(records_dir, "train2.txt")
    src = codesize.extract_embedded_source(text)
    assert src is not None and len(src.text.encode()) == 116_694  # == logged uncompressed
    assert codesize.guess_recipe(src.text) == "pyminify-lzma-b85"
    size = codesize.measure(src.text, "pyminify-lzma-b85")
    assert size.counted_bytes == 26_845  # logged "Code size (compressed): 26845 bytes"
    assert size.raw_bytes == 116_694 and size.minified_bytes == 86_680
    assert size.minifier_version == codesize.MINIFIER_PIN
    assert size.interpreter.startswith("CPython 3.")
    result = codesize.check_embedded_identity(text, "pyminify-lzma-b85")
    assert result.status == "match" and result.recomputed_compressed == 26_845


@pytest.mark.parametrize("name,measured", [("train0.txt", 121_884), ("train1.txt", 116_636)])
def test_train0_train1_embedded_source_differs_from_measured(records_dir, name, measured):
    text = _log(records_dir, name)
    result = codesize.check_embedded_identity(text, "pyminify-lzma-b85")
    assert result.status == "differs"
    assert "embedded source differs from what was measured" in result.detail
    assert result.embedded_bytes == 120_786 and result.logged_uncompressed == measured


def test_train0_and_train1_embed_identical_sources(records_dir):
    a = codesize.extract_embedded_source(_log(records_dir, "train0.txt"))
    b = codesize.extract_embedded_source(_log(records_dir, "train1.txt"))
    assert a.text == b.text


def test_wrapper_round_trips_to_minified_source():
    src = "import os\n\n\ndef f(x):\n    '''doc'''\n    return x + 1\n\nprint(f(1))\n"
    size = codesize.measure(src, "pyminify-lzma-b85")
    # build the wrapper the same way and decode it back: it yields the MINIFIED code, not the file
    import python_minifier

    minified = python_minifier.minify(src, rename_locals=False, hoist_literals=False,
                                      remove_literal_statements=True).encode()
    payload = base64.b85encode(lzma.compress(minified))
    assert lzma.decompress(base64.b85decode(payload)) == minified != src.encode()
    assert size.minified_bytes == len(minified)
    assert size.counted_bytes == len(b'import lzma as L,base64 as B\nexec(L.decompress(B.b85decode("') + len(payload) + len(b'")))\n')


def test_raw_and_syntax_error_fallback():
    bad = "def broken(:\n    pass\n" * 3
    raw = codesize.measure(bad, "raw")
    assert raw.counted_bytes == len(bad.encode()) and raw.minified_bytes is None
    mini = codesize.measure(bad, "pyminify-brotli-b85")
    assert mini.minify_fell_back and mini.minified_bytes == len(bad.encode())


def test_unknown_recipe():
    with pytest.raises(codesize.CodesizeError):
        codesize.measure("x=1\n", "nope")


def test_cli_codesize_on_log(harness_cli, records_dir):
    log = records_dir / VARLEN / "train2.txt"
    res = harness_cli("codesize", log, "--recipe", "pyminify-lzma-b85", "--json")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["sizes"][0]["counted_bytes"] == 26_845
    assert data["identity"]["status"] == "match"
    assert harness_cli("codesize", log, "--recipe", "zzz").exit_code == 2


def test_cli_codesize_on_a_log_without_source_measures_nothing(harness_cli, records_dir):
    """The baseline's log prints no 'Source code:' section: its bytes are not code (it used to report them)."""
    log = records_dir / "track_10min_16mb/2026-03-17_NaiveBaseline/train.log"
    assert codesize.extract_embedded_source(log.read_text(encoding="utf-8")) is None
    res = harness_cli("codesize", log, "--json")
    assert res.exit_code == 2 and "no code to measure" in res.stderr, res.output
    assert res.stdout == ""
