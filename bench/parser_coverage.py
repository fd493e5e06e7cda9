"""How much of the logs in every parameter-golf PR does the core log parser understand?

Over every ``.log``/``.txt`` file in every PR head of the mirror (``refs/pull/*/head``; blobs
deduplicated by sha, requirements files skipped), the share whose headline val_bpb, artifact
size and training time ``harness.core.events.parse_lines`` + ``harness.core.metrics.summarize``
find, among the logs that print such a figure at all ("prints" is a loose regex, below, that
leaves out what is no headline: diagnostics, eval progress, JSON, and sizes labelled raw, code,
cap or byte count). The size found is the artifact total, else the compressed model. The
lines of the logs the parser misses are grouped by a normalised shape (digits -> N) and the
most common shapes are listed: they are the formats to add to ``harness.core.log_formats``.

    python bench/parser_coverage.py                # every log (about 2 min on 2 cores)
    python bench/parser_coverage.py --limit 300    # a quick look at a sample
    python bench/parser_coverage.py --json out.json

Issue 22 target: >= 95 % of the logs that print a val_bpb and of those that print a size.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import random
import re
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harness.core.log_formats import DIAGNOSTIC_NAME  # noqa: E402

DEFAULT_MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")
MAX_WORKERS = 2
MAX_BLOB_BYTES = 20_000_000  # larger .log/.txt blobs are data dumps, not training logs
TOP_SHAPES = 30

# Loose "this log prints X" tests: a figure next to the word, however the script words the line.
# Progress lines (step:N/M ... val_bpb) are not a headline: a log with only those never finished.
# Nor are the lines the script itself names diagnostic / pre-quantization / post-EMA: a log whose only
# val_bpb lines are those stopped before its scored eval (they are the crashed runs of the corpus).
# A training time may be read off progress lines (the last step's train_time), so they count there.
PRINTS = {
    "val_bpb": re.compile(r"(?i)bpb[^\n\d]{0,30}?\d+\.\d{3,}"),
    # (a number glued to a word or a colon is no size: "0000000B:00:00.0" is a GPU's bus id)
    "size": re.compile(r"(?i)(?:\bbytes|submission|artifact)[^\n\d]{0,40}?\d[\d,_]{5,}"
                       r"|(?<![\w:])\d[\d,_]{5,}\s*(?:bytes|B)\b(?!:)"),
    "train_time": re.compile(r"(?i)(?:train(?:ing)?[_ ]time|wallclock)[^\n\d]{0,20}?\d+(?:\.\d+)?\s*(?:ms|s|m)\b"),
}
# Progress of a training loop (step N/M) or of an eval under way: a running value ("running_bpb"), a
# percentage ("[ 42.0%]"), a chunk or document counter ("ttt_chunk [3/40] bpb=", "[5000/695589] bpb=").
_PROGRESS = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:step[:\s]*)?\d+\s*/\s*\d+\b|running_bpb|\[\s*\d+(?:\.\d+)?%\]"
                       r"|\[[^\]]*?\d+\s*/\s*\d+\s*\]")
# A JSON document or quoted string ('"val_bpb": 1.1,', '"log_tail": "..."', an LLM prompt's excerpt) is not a log
# line: the .txt/.log files made of them are result dumps and prompts, not training logs.
_QUOTED = re.compile(r"""^\s*[\[{]?\s*["']""")
NOT_FROM_PROGRESS = ("val_bpb",)
# A size whose label (the words before the number) says it is no artifact: the raw model or a checkpoint file,
# the code alone, a cap, limit, budget or target and the room under it, or the byte count of the scored text
# ("tokens=N bytes=N", "Bytes: 151,079,590"). The baseline scripts' un-suffixed "Serialized model: N bytes" is
# the raw torch.save; their compressed model carries the codec ("Serialized model int8+zlib: N bytes").
_NOT_ARTIFACT = re.compile(r"(?i)\braw\b|raw_|uncompress|\.(?:pt|npz|bin)\b|checkpoint|\bcode\b|\bcap\b|limit|budget"
                           r"|target|headroom|avail|remain|token|shard|\bval\b|slice|decoded|pickle|payload|param"
                           r"|^\W*bytes\W*$")
_RAW_SERIALIZED = re.compile(r"(?:^|\W)Serialized model:\s*$")
_BIG_NUMBER = re.compile(r"\d[\d,_]{5,}")
_LOG_NAME = re.compile(r"\.(?:log|txt)$")
_SKIP_NAME = re.compile(r"(?i)(?:^|/)(?:requirements[^/]*|constraints[^/]*|LICENSE[^/]*|CMakeLists)\.txt$")
_NUMBER = re.compile(r"\d+(?:[.,_]\d+)*(?:e[-+]?\d+)?")


def _git(mirror: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(mirror), *args], capture_output=True, text=True,
                          check=True).stdout


def log_blobs(mirror: Path) -> tuple[dict[str, tuple[int, str]], set[str]]:
    """blob sha -> (size, one path it has), over the trees of every PR head; and the shas of log
    blobs the mirror lacks (ls-tree prints their size as BAD)."""
    heads = sorted({line.split()[0] for line in
                    _git(mirror, "for-each-ref", "--format=%(objectname)", "refs/pull/*/head").splitlines()})
    blobs: dict[str, tuple[int, str]] = {}
    missing: set[str] = set()
    for i, head in enumerate(heads, 1):
        for line in _git(mirror, "ls-tree", "-r", "-l", head).splitlines():
            meta, _, path = line.partition("\t")
            parts = meta.split()
            if len(parts) != 4 or parts[1] != "blob" or not _LOG_NAME.search(path) or _SKIP_NAME.search(path):
                continue
            if not parts[3].isdigit():
                missing.add(parts[2])
            elif parts[2] not in blobs and int(parts[3]) <= MAX_BLOB_BYTES:
                blobs[parts[2]] = (int(parts[3]), path)
        if i % 250 == 0:
            print(f"listed {i}/{len(heads)} PR heads, {len(blobs)} log blobs", file=sys.stderr, flush=True)
    return blobs, missing


def read_blobs(mirror: Path, shas: list[str]) -> Iterator[tuple[str, str]]:
    """(sha, text) for each blob, streamed through one `git cat-file --batch`."""
    proc = subprocess.Popen(["git", "--git-dir", str(mirror), "cat-file", "--batch"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for sha in shas:
            proc.stdin.write(f"{sha}\n".encode())
            proc.stdin.flush()
            header = proc.stdout.readline().split()
            if len(header) < 3:  # "<sha> missing": a blob absent from the mirror
                continue
            data = proc.stdout.read(int(header[2]))
            proc.stdout.read(1)  # the newline after each object
            yield sha, data.decode("utf-8", errors="replace")
    finally:
        proc.stdin.close()
        proc.wait()


def shape(line: str) -> str:
    """A line's format: numbers become N, whitespace collapses, long tails are cut."""
    return re.sub(r"\s+", " ", _NUMBER.sub("N", line.strip()))[:90]


def _printed(key: str, line: str) -> bool:
    """Does this line print a figure of ``key`` that could be the log's headline?"""
    m = PRINTS[key].search(line)
    if not m or _QUOTED.match(line):
        return False
    if key in NOT_FROM_PROGRESS:
        return not _PROGRESS.search(line) and not DIAGNOSTIC_NAME.search(line[:m.start()])
    if key == "size":
        return any(_artifact_label(line, hit) for hit in PRINTS[key].finditer(line))
    return True


def _artifact_label(line: str, hit: re.Match[str]) -> bool:
    """Is the number of this size match labelled as an artifact or a compressed model (not raw, code, a cap)?"""
    number = _BIG_NUMBER.search(line, hit.start())
    label = re.split(r"[|,;(]|\d\s", line[:number.start() if number else hit.start()])[-1]
    return not (_NOT_ARTIFACT.search(label) or _RAW_SERIALIZED.search(label))


def analyse(item: tuple[str, str]) -> dict[str, Any]:
    """What a log prints (loose) and what the parser finds; shapes of the printed lines it missed."""
    from harness.core.events import parse_lines
    from harness.core.metrics import summarize

    sha, text = item
    lines = text.splitlines()
    prints = {k: [ln for ln in lines if _printed(k, ln)] for k in PRINTS}
    try:
        summary = summarize(parse_lines(lines))
        found = {"val_bpb": summary.headline is not None and summary.headline.val_bpb is not None,
                 # the artifact (code + compressed model) when the log prints it, else the compressed model
                 "size": summary.artifact_bytes is not None or summary.model_bytes is not None,
                 "train_time": summary.train_time_s is not None}
        crash = None
    except Exception as exc:  # noqa: BLE001 - a parser crash is a finding of this benchmark
        found = {k: False for k in PRINTS}
        crash = f"{type(exc).__name__}: {exc}"[:200]
    missed_shapes = {k: sorted({shape(ln) for ln in prints[k]})[:50] for k in PRINTS if prints[k] and not found[k]}
    return {"sha": sha, "prints": {k: bool(v) for k, v in prints.items()}, "found": found,
            "missed_shapes": missed_shapes, "crash": crash}


def run(mirror: Path, limit: int | None, jobs: int, seed: int = 0) -> tuple[list[dict[str, Any]], int]:
    """Per-blob results, and how many log blobs the mirror lacks."""
    blobs, missing = log_blobs(mirror)
    shas = sorted(blobs)
    if limit is not None and limit < len(shas):
        shas = sorted(random.Random(seed).sample(shas, limit))
    print(f"{len(shas)} distinct log blobs, {sum(blobs[s][0] for s in shas) / 1e6:.0f} MB", file=sys.stderr, flush=True)
    results = []
    # forkserver: forked workers would inherit the write end of cat-file's stdin and it would never see EOF.
    with ProcessPoolExecutor(max_workers=max(1, min(jobs, MAX_WORKERS)),
                             mp_context=multiprocessing.get_context("forkserver")) as pool:
        for i, res in enumerate(pool.map(analyse, read_blobs(mirror, shas), chunksize=8), 1):
            res["path"] = blobs[res["sha"]][1]
            results.append(res)
            if i % 500 == 0:
                print(f"parsed {i}/{len(shas)}", file=sys.stderr, flush=True)
    return results, len(missing)


def report(results: list[dict[str, Any]], missing: int = 0) -> tuple[str, dict[str, Any]]:
    out = [f"{len(results)} distinct .log/.txt blobs over all PR heads ({missing} more absent from the mirror)", ""]
    summary: dict[str, Any] = {"logs": len(results), "absent_from_mirror": missing,
                               "crashes": sum(1 for r in results if r["crash"])}
    for k in PRINTS:
        printing = [r for r in results if r["prints"][k]]
        found = sum(1 for r in printing if r["found"][k])
        share = found / len(printing) if printing else 0.0
        summary[k] = {"print": len(printing), "found": found, "share": round(share, 4)}
        out.append(f"{k:<11} printed by {len(printing):>5} logs; parser finds it in {found:>5} ({100 * share:.1f} %)")
    out.append(f"parser crashes: {summary['crashes']}")
    for k in PRINTS:
        shapes: Counter[str] = Counter()
        example: dict[str, str] = {}  # one log per shape, to reproduce the miss
        for r in results:
            for s in r["missed_shapes"].get(k, []):
                shapes[s] += 1
                example.setdefault(s, r["path"])
        top = shapes.most_common(TOP_SHAPES)
        summary[f"missed_shapes_{k}"] = [{"shape": s, "logs": n, "example": example[s]} for s, n in top]
        out += ["", f"Top {TOP_SHAPES} line shapes in logs whose {k} the parser misses (logs per shape)"]
        out += [f"  {n:>5}  {s}" for s, n in top]
    return "\n".join(out), summary


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    ap.add_argument("--limit", type=int, default=None, help="a random sample of N log blobs")
    ap.add_argument("-j", "--jobs", type=int, default=MAX_WORKERS)
    ap.add_argument("--json", type=Path, default=None, help="write the summary (shares and shapes) here")
    args = ap.parse_args(argv)
    if not args.mirror.is_dir():
        ap.error(f"mirror {args.mirror} not found")
    t0 = time.perf_counter()
    text, summary = report(*run(args.mirror, args.limit, args.jobs))
    print(text)
    print(f"\n{summary['logs']} logs in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
