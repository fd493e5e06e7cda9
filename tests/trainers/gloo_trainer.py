"""Tiny torchrun/gloo trainer for the supervisor tests; behaviour picked by MODE.

It prints lines in the upstream log conventions (so the phase table applies) and does a
real all_reduce per step over gloo, so a rank that stops makes the others block.
MODE: ok | overrun | hang_rank1 | crash_rank1
"""

import os
import sys
import time

import torch
import torch.distributed as dist

mode = os.environ.get("MODE", "ok")
steps = int(os.environ.get("STEPS", "3"))
dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()


def say(msg):
    if rank == 0:
        print(msg, flush=True)


say(f"world_size:{world} grad_accum_steps:1")
say(f"rank0 pid={os.getpid()} tmp={sorted(os.listdir('/tmp'))}")
x = torch.ones(4)
say(f"step:0/{steps} val_loss:7.0000 val_bpb:4.0000 train_time:0ms step_avg:0.01ms")
t0 = time.monotonic()
i = 0
while True:
    i += 1
    if mode == "hang_rank1" and rank == 1 and i == 2:
        time.sleep(3600)  # silent: rank 0 blocks in the next all_reduce
    if mode == "crash_rank1" and rank == 1 and i == 2:
        raise RuntimeError("rank 1 crashed on purpose")
    dist.all_reduce(x)
    ms = int((time.monotonic() - t0) * 1000)
    say(f"step:{i}/{steps} train_loss:3.0 train_time:{ms}ms step_avg:{ms / i:.2f}ms")
    if mode != "overrun" and i >= steps:
        break
    time.sleep(0.2)
say(f"stopping_early: wallclock_cap train_time:{ms}ms step:{i}/{steps}")
say("Total submission size int8+zlib: 12345 bytes")
say("final_int8_zlib_roundtrip val_loss:2.0000 val_bpb:1.2000 eval_time:5ms")
say("final_int8_zlib_roundtrip_exact val_loss:2.00000000 val_bpb:1.20000000")
dist.barrier()
dist.destroy_process_group()
# torch 2.13 (CPU, gloo) can abort in C++ static destructors at interpreter exit; all output is flushed.
sys.stdout.flush()
sys.stderr.flush()
os._exit(0)
