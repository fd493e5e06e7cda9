"""CPU thread oversubscription: what two trainers quantizing on one host's CPU do to each other.

Late records quantize with GPTQ on the CPU after training (a column-by-column loop of small
tensor ops per weight matrix). A one-rank trainer runs it with one thread per core, because
torchrun sets OMP_NUM_THREADS=1 only for several ranks. Two such trainers on one machine then
run twice as many busy threads as there are cores, and each op's thread pool waits on threads
that are not running. On the lent H200 host (16 cores) #2014's GPTQ took 263 s next to #1987's,
and #1987 was killed for 300 s of silence in it.

This bench times our own GPTQ-style column quantization (not a submission's code) over a model's
weight shapes, one process alone and K processes at once, with all cores each and with the cores
split between them:

    python bench/cpu_threads.py                 # 11 layers, K = 2
    python bench/cpu_threads.py --layers 4 --procs 2

Printed: seconds per configuration (the slowest process of each) and the slowdown against alone.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def column_quantize(w, h, bits: int = 6, block: int = 128):
    """GPTQ-style: quantize columns in order, pushing each column's error onto the columns after
    it through the Cholesky factor of the inverse Hessian (the method of Frantar et al.)."""
    import torch

    w = w.clone()
    cols = w.shape[1]
    h = h + 0.01 * h.diagonal().mean() * torch.eye(cols)
    hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(h)), upper=True)
    qmax = 2 ** (bits - 1) - 1
    scale = (w.abs().amax(dim=1) / qmax).clamp_min(1e-8)
    q = torch.empty_like(w)
    for b0 in range(0, cols, block):
        b1 = min(b0 + block, cols)
        err = torch.empty(w.shape[0], b1 - b0)
        for j in range(b0, b1):
            col = w[:, j]
            q[:, j] = torch.clamp(torch.round(col / scale), -qmax, qmax)
            e = (col - q[:, j] * scale) / hinv[j, j]
            w[:, j + 1:b1] -= e[:, None] * hinv[j, j + 1:b1][None, :]
            err[:, j - b0] = e
        w[:, b1:] -= err @ hinv[b0:b1, b1:]
    return q, scale


def worker(layers: int, threads: int) -> float:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    shapes = [(512, 512), (256, 512), (256, 512), (512, 512), (2048, 512), (512, 2048)] * layers
    t0 = time.perf_counter()
    for rows, cols in shapes:
        x = torch.randn(2 * cols, cols)
        column_quantize(torch.randn(rows, cols) * 0.02, x.T @ x / x.shape[0])
    return time.perf_counter() - t0


def run(procs: int, threads: int, layers: int) -> float:
    """Start `procs` workers at once; the slowest one's seconds."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    argv = [sys.executable, __file__, "--worker", "--layers", str(layers), "--threads", str(threads)]
    children = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    times = [float(c.communicate()[0].strip().splitlines()[-1]) for c in children]
    if any(c.returncode for c in children):
        raise SystemExit("a worker failed")
    return max(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", type=int, default=11)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(f"{worker(a.layers, a.threads):.3f}")
        return
    cores = len(os.sched_getaffinity(0))
    split = max(1, cores // a.procs)
    print(f"{cores} cores, {a.layers} layers x 6 matrices, {a.procs} processes at once")
    alone = run(1, cores, a.layers)
    print(f"  {f'1 process, {cores} threads':<48} {alone:8.1f} s")
    for label, threads in ((f"{cores} threads each (oversubscribed)", cores), (f"{split} threads each (split)", split)):
        t = run(a.procs, threads, a.layers)
        print(f"  {f'{a.procs} processes, {label}':<48} {t:8.1f} s  ({t / alone:.1f}x alone)")


if __name__ == "__main__":
    main()
