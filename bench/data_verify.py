"""Throughput of `harness data verify` hashing against `sha256sum` on the same files.

    python bench/data_verify.py --gib 1            # generate ~1 GiB of shards in a temp dir
    python bench/data_verify.py --dir DATASET_DIR  # use existing shards (locked first if needed)

Prints MB/s for: sha256sum over all files (one process, the reference), the full
verify_dataset (headers + sidecars + sha256, threads, jobs = 1, 2, cores) and a
process-pool hashing variant, plus the ratio verify / sha256sum (target >= 0.9 on
2 cores). Files are read once beforehand so every contender hashes from the page
cache (the figure measures hashing, not the disk).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core import shards  # noqa: E402
from harness.data import manifest as mf  # noqa: E402
from harness.data.verify import lock_dataset, verify_dataset  # noqa: E402

SHARD_TOKENS = 100_000_000  # the organiser's shard size: 200,001,024 bytes per full shard


def generate(d: Path, gib: float) -> None:
    rng = np.random.default_rng(0)
    total_tokens = int(gib * (1 << 30) / 2)
    val = min(total_tokens // 8, SHARD_TOKENS)
    shards.write_shard(d / "fineweb_val_000000.bin", rng.integers(0, 8192, val, dtype=np.uint16))
    shards.write_shard(d / "fineweb_val_bytes_000000.bin", rng.integers(0, 8, val, dtype=np.uint16))
    left, i = total_tokens - 2 * val, 0
    while left > 0:
        n = min(left, SHARD_TOKENS)
        shards.write_shard(d / f"fineweb_train_{i:06d}.bin", rng.integers(0, 8192, n, dtype=np.uint16))
        left -= n
        i += 1


def _hash_one(p: str) -> str:
    return mf.sha256_file(p)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gib", type=float, default=1.0)
    ap.add_argument("--dir", type=Path, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="best of N runs per contender")
    args = ap.parse_args()

    tmp = None
    if args.dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="pgolf-bench-"))
        d = tmp / "ds"
        d.mkdir()
        t = timed(lambda: generate(d, args.gib))
        print(f"generated {args.gib} GiB of shards in {t:.1f}s at {d}")
    else:
        d = args.dir
    try:
        if mf.read_manifest(d) is None:
            lock_dataset(d)
        files = [d / k for k in mf.read_manifest(d).files]
        total = sum(p.stat().st_size for p in files)
        for p in files:  # warm the page cache
            with open(p, "rb") as f:
                while f.read(1 << 24):
                    pass
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        mb = total / 1e6
        print(f"{len(files)} files, {mb:,.0f} MB, {cores} cores usable; best of {args.repeat}")

        def best(fn) -> float:
            return min(timed(fn) for _ in range(args.repeat))

        ref = best(lambda: subprocess.run(["sha256sum", *map(str, files)], check=True, stdout=subprocess.DEVNULL))
        print(f"  sha256sum (1 process)            {mb / ref:8.0f} MB/s  {ref:6.2f}s")
        print(f"  hashlib, 1 thread                {mb / (t1 := best(lambda: [mf.sha256_file(p) for p in files])):8.0f} MB/s  {t1:6.2f}s")
        results = {}
        for jobs in sorted({1, 2, cores}):
            def run(j=jobs):
                rep = verify_dataset(d, jobs=j)
                assert rep.ok, rep.problems
            results[jobs] = best(run)
            print(f"  harness verify, {jobs} thread(s)     {mb / results[jobs]:8.0f} MB/s  {results[jobs]:6.2f}s"
                  f"  ratio vs sha256sum {ref / results[jobs]:.2f}")
        with ProcessPoolExecutor(max_workers=cores) as pool:
            list(pool.map(_hash_one, map(str, files[:1])))  # start the workers outside the timing
            tp = best(lambda: list(pool.map(_hash_one, map(str, files))))
        print(f"  hashing in {cores} processes            {mb / tp:8.0f} MB/s  {tp:6.2f}s  ratio {ref / tp:.2f}")
        j = max(results, key=lambda k: -results[k])
        print(f"RESULT ratio (harness verify, {j} jobs) / sha256sum = {ref / results[j]:.2f} (target >= 0.9)")
        print(f"sha256: {hashlib.sha256.__module__}; sha256sum: {shutil.which('sha256sum')}")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
