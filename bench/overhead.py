"""Harness overhead: the reference submission bare (torchrun) vs under `harness reproduce`.

Prints, per seed and overall, training tokens/s under the harness divided by
tokens/s bare (target >= 0.995), and the wall time the harness spends outside
the trainer (resolve, data, env report, sandbox set-up/teardown, measurement,
record). Both runs use the same data, env, seed and budget.

    python bench/overhead.py                          # CPU: gloo, tiny model, 8 s budget
    python bench/overhead.py --nproc 1 --train-seconds 60 --full   # CUDA: the manifest's full model

Runs on CPU (gloo) and CUDA (nccl); the trainer picks the device itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.core.events import parse_lines  # noqa: E402
from harness.core.metrics import summarize  # noqa: E402
from harness.data.prepare import prepare_data  # noqa: E402
from harness.reproduce import ReproduceOptions, reproduce, seed_env  # noqa: E402
from harness.resolve import resolve  # noqa: E402


def tokens_per_s(lines: list[str], batch_tokens: int) -> tuple[float | None, int | None, float | None]:
    s = summarize(parse_lines(lines))
    steps, t = s.steps, s.train_time_s
    if not steps or not t:
        return None, steps, t
    return steps * batch_tokens / t, steps, t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--submission", default=str(ROOT / "submissions" / "reference"))
    ap.add_argument("--seeds", default="1,2")
    ap.add_argument("--nproc", type=int, default=1)
    ap.add_argument("--train-seconds", type=float, default=8.0)
    ap.add_argument("--full", action="store_true", help="use the manifest's full [env] (no smoke model overrides)")
    ap.add_argument("--data", type=Path, default=None)
    ap.add_argument("--no-network-isolation", action="store_true")
    ap.add_argument("--policy", default=None, help="timing policy id or file for the harness run (its [sandbox] limits)")
    ap.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "fallback"], help="seed sandbox engine")
    args = ap.parse_args()
    seeds = [int(x) for x in args.seeds.split(",")]

    sub = resolve(args.submission)
    data = prepare_data(sub.manifest.data, args.data)
    user_env = {}
    if args.full:
        # Undo the smoke overrides so both runs use the manifest's full configuration.
        user_env = {k: sub.manifest.env[k] for k in sub.manifest.smoke_env if k in sub.manifest.env}
    bare_env_base = None
    bare: dict[int, tuple] = {}
    tmp = Path(tempfile.mkdtemp(prefix="pgolf-overhead-"))
    try:
        for seed in seeds:
            env, _ = seed_env(sub, data, seed, f"bare-{seed}", "smoke", args.train_seconds, False, user_env)
            bare_env_base = env
            work = tmp / f"bare-{seed}"
            shutil.copytree(sub.folder, work)
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                                   str(args.nproc), sub.manifest.entry], cwd=work, env={**os.environ, **env},
                                  capture_output=True, text=True)
            wall = time.monotonic() - t0
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                return 1
            bare[seed] = (*tokens_per_s(proc.stdout.splitlines(), int(env["TRAIN_BATCH_TOKENS"])), wall)

        t0 = time.monotonic()
        res = reproduce(args.submission, ReproduceOptions(
            seeds=seeds, nproc=args.nproc, mode="smoke", train_seconds=args.train_seconds, data=args.data,
            out=tmp / "runs", progress=False, isolate_network=not args.no_network_isolation, env=user_env,
            policy=args.policy, sandbox_engine=args.sandbox))
        total_wall = time.monotonic() - t0
        if res.exit_code != 0:
            print(f"harness run exit code {res.exit_code}; see {res.run_dir}")
        batch = int(bare_env_base["TRAIN_BATCH_TOKENS"])
        print(f"device: {'cuda' if _cuda() else 'cpu'}  nproc {args.nproc}  budget {args.train_seconds:g}s  "
              f"batch {batch} tokens  config {'full' if args.full else 'smoke'}")
        print(f"{'seed':>5} {'bare tok/s':>12} {'harness tok/s':>14} {'ratio':>7} {'bare wall':>10} "
              f"{'harness seed wall':>18}")
        ratios = []
        trainer_wall = 0.0
        for o in res.outcomes:
            lines = [ln.split(" ", 1)[1] if " " in ln else "" for ln in o.log_path.read_text().splitlines()]
            h_tps, _, _ = tokens_per_s(lines, batch)
            b_tps, _, _, b_wall = bare[o.seed]
            ratio = h_tps / b_tps if (h_tps and b_tps) else float("nan")
            ratios.append(ratio)
            trainer_wall += o.harness_wall_s
            print(f"{o.seed:>5} {b_tps or 0:>12.0f} {h_tps or 0:>14.0f} {ratio:>7.4f} {b_wall:>9.2f}s "
                  f"{o.harness_wall_s:>17.2f}s")
        mean_ratio = sum(ratios) / len(ratios)
        print(f"tokens/s harness/bare (mean over seeds): {mean_ratio:.4f}  (target >= 0.995)")
        print(f"harness wall total {total_wall:.2f}s, inside trainer processes {trainer_wall:.2f}s, "
              f"outside the trainer {total_wall - trainer_wall:.2f}s "
              f"({(total_wall - trainer_wall) / len(seeds):.2f}s per seed)")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _cuda() -> bool:
    try:
        import torch
        return torch.cuda.is_available()
    except ImportError:
        return False


if __name__ == "__main__":
    raise SystemExit(main())
