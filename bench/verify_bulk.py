"""Bulk static verification throughput: N Python files through `verify_path` with a process pool.

Files are generated from real code: whole standard-library modules and, when
present, the train_gpt.py scripts of the five seed PRs exported from the
local mirror, concatenated to 1,000-5,000 lines each and perturbed (function
names suffixed, numeric defaults changed) so no two files are identical; 5 %
are shipped as lzma+base85 self-extracting wrappers so the decoder runs too.

    python bench/verify_bulk.py                  # 2,000 files, 2 workers
    python bench/verify_bulk.py -n 200 -j 1      # quick look

Prints files/s, lines/s and the finding counts. Target (issue 4): 2,000
files of 1,000-5,000 lines in under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import base64
import lzma
import os
import random
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MIRROR = Path("/work/.mirror/openai+parameter-golf/repo")
SEED_SCRIPTS = [
    ("107", "records/track_10min_16mb/2026-03-19_FA3_PostQAT/train_gpt.py"),
    ("1212", "records/track_10min_16mb/2026-03-31_KitchenSinkV3/train_gpt.py"),
    ("2014", "records/track_10min_16mb/2026-04-30_SP8192_CaseOps_Progressive3k_ShortDocTTT/train_gpt.py"),
]


def _corpus() -> list[str]:
    texts: list[str] = []
    if MIRROR.is_dir():
        for pr, path in SEED_SCRIPTS:
            try:
                texts.append(subprocess.run(["git", "-C", str(MIRROR), "show", f"refs/pull/{pr}/head:{path}"],
                                            capture_output=True, text=True, check=True).stdout)
            except (subprocess.CalledProcessError, OSError):
                pass
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for p in sorted(stdlib.glob("*.py")):
        try:
            t = p.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        if 200 <= t.count("\n") <= 3000:
            texts.append(t)
    return texts


def _perturb(text: str, k: int, rng: random.Random) -> str:
    text = re.sub(r"^(\s*)def (\w+)", lambda m: f"{m.group(1)}def {m.group(2)}_{k}", text, flags=re.M)
    return re.sub(r"environ\.get\(\"(\w+)\", \"?(\d+)\"?\)",
                  lambda m: f'environ.get("{m.group(1)}", "{int(m.group(2)) + rng.randint(0, 9)}")', text)


def generate(n: int, out: Path, seed: int = 0) -> tuple[list[Path], int]:
    rng = random.Random(seed)
    corpus = _corpus()
    files, total_lines = [], 0
    for i in range(n):
        target = rng.randint(1000, 5000)
        parts, lines = [], 0
        while lines < target:
            t = _perturb(rng.choice(corpus), i * 100 + len(parts), rng)
            parts.append(t)
            lines += t.count("\n")
        text = "\n".join(parts)
        if rng.random() < 0.05:
            payload = base64.b85encode(lzma.compress(text.encode())).decode()
            shipped = f"import lzma as L,base64 as B\nexec(L.decompress(B.b85decode('{payload}')))\n"
        else:
            shipped = text
        p = out / f"f{i:05d}" / "train_gpt.py"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(shipped, encoding="utf-8")
        files.append(p)
        total_lines += lines
    return files, total_lines


# code.counted_size re-measures the file under its counting recipe (python-minifier + brotli-11 or
# lzma-9: about a second for a 190 kB script); it is a measurement, not static analysis, and the
# generated files that embed a seed PR's recipe would dominate the figure. --all-rules includes it.
MEASUREMENT_RULES = ("code.counted_size",)
EXCLUDE: tuple[str, ...] = MEASUREMENT_RULES


def _init(exclude: tuple[str, ...]) -> None:
    global EXCLUDE
    EXCLUDE = exclude


def _verify_one(path: str) -> tuple[int, int, int, float]:
    from verifier.api import verify_path

    t0 = time.process_time()
    rep = verify_path(path, groups=["code"], exclude=EXCLUDE)
    c = rep.counts
    return c["error"], c["warning"], c["info"], time.process_time() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=2000, help="number of files")
    ap.add_argument("-j", type=int, default=2, help="worker processes")
    ap.add_argument("--dir", type=Path, default=None, help="reuse/keep generated files here")
    ap.add_argument("--all-rules", action="store_true", help="also run the measurement rule code.counted_size")
    args = ap.parse_args()
    tmp = None
    if args.dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="verify_bulk_")
        base = Path(tmp.name)
    else:
        base = args.dir
        base.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    files, lines = generate(args.n, base)
    gen_s = time.perf_counter() - t0
    size = sum(p.stat().st_size for p in files)
    print(f"generated {len(files)} files, {lines:,} lines, {size / 1e6:.1f} MB in {gen_s:.1f} s "
          f"({os.cpu_count()} CPUs visible)")
    t0 = time.perf_counter()
    totals = [0, 0, 0]
    cpu = 0.0
    load0 = os.getloadavg()[0]
    exclude = () if args.all_rules else MEASUREMENT_RULES
    print(f"rules: every code rule{' (incl. code.counted_size)' if args.all_rules else ' except ' + ', '.join(exclude)}")
    with ProcessPoolExecutor(max_workers=args.j, initializer=_init, initargs=(exclude,)) as pool:
        for res in pool.map(_verify_one, [str(p) for p in files], chunksize=8):
            for i in range(3):
                totals[i] += res[i]
            cpu += res[3]
    dt = time.perf_counter() - t0
    print(f"verified {len(files)} files with {args.j} workers in {dt:.1f} s: {len(files) / dt:.1f} files/s, "
          f"{lines / dt:,.0f} lines/s")
    print(f"findings: {totals[0]} error, {totals[1]} warning, {totals[2]} info")
    # CPU time spent inside verify_path is independent of other load on a shared machine:
    # files per CPU-second x workers is the throughput on that many idle cores.
    print(f"CPU in verify_path: {cpu:.1f} s ({1000 * cpu / len(files):.1f} ms/file) -> "
          f"{args.j * len(files) / cpu:.1f} files/s on {args.j} idle cores "
          f"(load average at start {load0:.2f}, end {os.getloadavg()[0]:.2f})")
    print(f"target: 2,000 files < 60 s on 2 cores -> {'MET' if (args.n >= 2000 and dt < 60) else 'see figures'}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
