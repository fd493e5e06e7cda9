"""Hardware qualification: what node a run actually had, measured at its start.

Steps done in 600 s depend on the node (SKU, clocks, power cap, NVLink), so a
reproduction's record carries the node's figures beside the claim's: GPU SKU
and count, topology (``nvidia-smi topo -m``), clocks and power limits, driver,
and two short micro-benchmarks: a bf16 GEMM's TFLOP/s per GPU and, with more
than one rank, an NCCL all-reduce bus bandwidth. On a machine without a GPU
the report says so and the benchmarks are skipped, never invented.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

_SMI_FIELDS = (
    "index,name,uuid,pci.bus_id,driver_version,memory.total,power.limit,power.max_limit,"
    "clocks.max.sm,clocks.max.memory,clocks.sm,temperature.gpu"
)


def _run(argv: list[str], timeout: float = 30.0) -> str | None:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout


def query_gpus() -> list[dict[str, str]]:
    """One dict per GPU from nvidia-smi's CSV query; empty when there is none."""
    if shutil.which("nvidia-smi") is None:
        return []
    text = _run(["nvidia-smi", f"--query-gpu={_SMI_FIELDS}", "--format=csv,noheader,nounits"])
    if not text:
        return []
    keys = _SMI_FIELDS.split(",")
    rows = []
    for line in text.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        if len(values) == len(keys):
            rows.append(dict(zip(keys, values)))
    return rows


def topology() -> str | None:
    """The interconnect matrix as nvidia-smi prints it (NV18 = NVLink, SYS/PHB = PCIe paths)."""
    if shutil.which("nvidia-smi") is None:
        return None
    return _run(["nvidia-smi", "topo", "-m"])


# The benchmarks run in a child interpreter so the harness process itself never
# imports torch or holds a CUDA context (the trainer needs the GPU afterwards).
_GEMM_BENCH = textwrap.dedent(
    """
    import json, time, torch
    out = {"device": "cuda" if torch.cuda.is_available() else "cpu", "torch": torch.__version__}
    if not torch.cuda.is_available():
        out["skipped"] = "no CUDA device visible to torch: a CPU GEMM says nothing about the node"
    else:
        results = []
        n = 8192
        for i in range(torch.cuda.device_count()):
            with torch.cuda.device(i):
                a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
                b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
                for _ in range(3):
                    a @ b
                torch.cuda.synchronize()
                iters = 20
                t0 = time.perf_counter()
                for _ in range(iters):
                    a @ b
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                results.append({"gpu": i, "name": torch.cuda.get_device_name(i),
                                "bf16_gemm_tflops": round(2 * n**3 * iters / dt / 1e12, 1)})
        out["gemm"] = results
    print(json.dumps(out))
    """
)

_ALLREDUCE_BENCH = textwrap.dedent(
    """
    import json, os, time, torch, torch.distributed as dist
    dist.init_process_group("nccl")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    nbytes = 256 * 2**20
    x = torch.ones(nbytes // 2, dtype=torch.bfloat16, device="cuda")
    for _ in range(5):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    iters = 20
    t0 = time.perf_counter()
    for _ in range(iters):
        dist.all_reduce(x)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / iters
    # nccl-tests' bus bandwidth convention for all-reduce: algbw * 2(n-1)/n
    busbw = nbytes / dt * 2 * (world - 1) / world / 1e9
    if rank == 0:
        print("ALLREDUCE " + json.dumps({"ranks": world, "bytes": nbytes, "busbw_GBps": round(busbw, 1)}))
    dist.destroy_process_group()
    """
)


def gemm_benchmark(python: str = sys.executable, timeout: float = 120.0) -> dict[str, Any]:
    text = _run([python, "-c", _GEMM_BENCH], timeout=timeout)
    if not text:
        return {"skipped": "torch is not importable or the benchmark failed"}
    try:
        return json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"skipped": "benchmark printed no result"}


def allreduce_benchmark(nproc: int, timeout: float = 180.0) -> dict[str, Any]:
    if nproc < 2:
        return {"skipped": "one rank: no collective to measure"}
    torchrun = shutil.which("torchrun")
    if torchrun is None:
        return {"skipped": "torchrun not found"}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "allreduce.py"
        script.write_text(_ALLREDUCE_BENCH)
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        try:
            proc = subprocess.run(
                [torchrun, "--standalone", f"--nproc_per_node={nproc}", str(script)],
                capture_output=True, text=True, timeout=timeout, env=env,
            )
        except subprocess.SubprocessError as exc:
            return {"skipped": f"all-reduce benchmark did not finish: {exc}"}
    for line in proc.stdout.splitlines():
        if line.startswith("ALLREDUCE "):
            return json.loads(line[len("ALLREDUCE "):])
    return {"skipped": f"all-reduce benchmark failed (exit {proc.returncode})"}


def qualify(nproc: int = 1, *, benchmarks: bool = True) -> dict[str, Any]:
    """The node report embedded in every record's ``verification.environment.node``."""
    gpus = query_gpus()
    report: dict[str, Any] = {
        "gpus": gpus,
        "gpu_count": len(gpus),
        "gpu_names": sorted({g["name"] for g in gpus}),
        "driver": gpus[0]["driver_version"] if gpus else None,
        "topology": topology(),
    }
    if benchmarks and gpus:
        report["gemm"] = gemm_benchmark()
        report["allreduce"] = allreduce_benchmark(min(nproc, len(gpus)))
    elif not gpus:
        report["benchmarks"] = "skipped: no NVIDIA GPU visible (nvidia-smi absent or found none)"
    else:
        report["benchmarks"] = "skipped: not requested"
    return report
