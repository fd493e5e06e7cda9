"""Run a trainer script in this process and report where its start-up time went (GPU bench helper).

    torchrun --standalone --nproc_per_node=1 bench/compile_probe.py TRAINER.py

It measures what issue 24's compile-cache goal is about: seconds from the trainer's start to the
first line matching PROBE_MARK (default: the first warm-up step), with torch.compile's own
breakdown (dynamo tracing, AOT autograd, Inductor) and the cache hit/miss counters, written as JSON
to PROBE_OUT. Settings, all environment variables:

    PROBE_OUT     where the JSON goes (required)
    PROBE_MARK    regex of the line that ends the measured span (default: first warm-up step)
    PROBE_STOP=1  exit right after that line (the span is all this bench needs; a whole run would
                  spend minutes on training and evaluation)
    PROBE_DYNAMO  counterfactuals: "name=value,..." set on torch._dynamo.config before the trainer
                  runs (e.g. optimize_ddp=False); never for a figure that stands for the trainer
    PROBE_SAVE    file: before exiting, write torch.compiler.save_cache_artifacts()'s bytes there
                  (the portable "mega-cache", with the Dynamo precompile entries when
                  TORCH_CACHING_PRECOMPILE=1)

Loading such a blob happens before the trainer starts, in another process (bench/compile_cache_gpu.sh's
`load`: torch.compiler.load_cache_artifacts into an empty cache folder), as on a fresh node.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import re
import runpy
import sys
import time

T0 = time.time()
OUT = os.environ["PROBE_OUT"]
MARK = re.compile(os.environ.get("PROBE_MARK", r"warmup_step:1/|^step:1/"))
STOP = os.environ.get("PROBE_STOP") == "1"
SAVE = os.environ.get("PROBE_SAVE")
seen: dict[str, float] = {}


def report(reason: str) -> None:
    import torch
    from torch._dynamo import utils as dynamo_utils

    result = {
        "reason": reason,
        "torch_import_s": seen.get("torch_import"),
        "first_mark_s": seen.get("mark"),
        "total_s": round(time.time() - T0, 3),
        "caching_precompile": bool(torch._dynamo.config.caching_precompile),
        "cache_dir": os.environ.get("TORCHINDUCTOR_CACHE_DIR"),
        # The sum of each timed compile stage (dynamo's own dynamo_timed keys).
        "compile_times_s": {key: round(sum(values), 3)
                            for key, values in dynamo_utils.compilation_time_metrics.items()},
        "counters": {group: dict(values) for group, values in dynamo_utils.counters.items()
                     if group in ("inductor", "aot_autograd", "dynamo_cache", "stats")},
    }
    if SAVE:
        t = time.time()
        saved = torch.compiler.save_cache_artifacts()
        if saved is not None:
            blob, info = saved
            with open(SAVE, "wb") as fh:
                fh.write(blob)
            result["saved_bytes"] = len(blob)
            result["saved_artifacts"] = {kind: len(keys) for kind, keys in info.artifacts.items()}
        result["save_s"] = round(time.time() - t, 3)
    with open(OUT, "w") as fh:
        json.dump(result, fh, indent=1)


class MarkingStdout:
    """Passes writes through and notes when the first marked line appears."""

    def __init__(self, inner):
        self.inner = inner

    def write(self, text: str) -> int:
        if "mark" not in seen and MARK.search(text):
            seen["mark"] = round(time.time() - T0, 3)
            if STOP:
                self.inner.write(text)
                self.inner.flush()
                report("mark")
                os._exit(0)
        return self.inner.write(text)

    def __getattr__(self, name):
        return getattr(self.inner, name)


import torch  # noqa: E402  (timed: part of every trainer's start)

seen["torch_import"] = round(time.time() - T0, 3)
# Why AOTAutograd skipped its cache, one log line per graph (into the trainer's stderr).
logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
logging.getLogger("torch._functorch._aot_autograd.autograd_cache").setLevel(logging.INFO)
for setting in filter(None, os.environ.get("PROBE_DYNAMO", "").split(",")):
    name, value = setting.split("=", 1)
    setattr(torch._dynamo.config, name, ast.literal_eval(value))
sys.stdout = MarkingStdout(sys.stdout)
script = sys.argv[1]
sys.argv = sys.argv[1:]
try:
    runpy.run_path(script, run_name="__main__")
finally:
    if "mark" in seen or not STOP:
        report("exit")
