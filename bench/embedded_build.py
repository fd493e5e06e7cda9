"""Print how long the embedded builds take (the issue's target: the default build under 30 s on 2 cores).

    python bench/embedded_build.py [--smoke] [--tokenizer MODEL] [--repeat N]

Builds into a temporary directory each time; prints wall seconds and the dataset figures.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

from harness.data.embedded_build import build_embedded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--smoke", action="store_true", help="also time the smoke size")
    ap.add_argument("--tokenizer", default=None, help="a SentencePiece model for the smoke build")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"cores available: {cores}")
    runs = [("small", None)] + ([("smoke", None)] + ([("smoke", args.tokenizer)] if args.tokenizer else [])
                                if args.smoke else [])
    for size, tok in runs:
        times = []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                res = build_embedded(d, size=size, tokenizer=tok)
                times.append(time.perf_counter() - t0)
        f = res.figures
        print(f"{res.name}: best {min(times):.2f}s, worst {max(times):.2f}s over {len(times)} builds "
              f"(target < 30 s); train {f['train_docs']:,} docs / {f['train_tokens']:,} tokens; "
              f"val {f['val_docs']:,} docs / {f['val_tokens']:,} tokens / {f['val_bytes']:,} bytes")


if __name__ == "__main__":
    main()
