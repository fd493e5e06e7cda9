"""GPU test trainer: every rank holds HOG_MIB of GPU memory and trains until killed.

NCCL when there is a GPU per rank, else gloo with the ranks sharing GPU 0 (so the test
also runs on a one-GPU machine). Used by the `gpu`-marked containment tests.
"""

import os
import time

import torch
import torch.distributed as dist

local = int(os.environ.get("LOCAL_RANK", "0"))
world = int(os.environ.get("WORLD_SIZE", "1"))
ngpu = torch.cuda.device_count()
backend = "nccl" if ngpu >= world else "gloo"
dev = torch.device("cuda", local % ngpu)
torch.cuda.set_device(dev)
dist.init_process_group(backend)
rank = dist.get_rank()
hog = torch.empty(int(os.environ.get("HOG_MIB", "2048")) * (1 << 20), dtype=torch.uint8, device=dev)
hog.fill_(1)
x = torch.ones(4, device=dev if backend == "nccl" else "cpu")
if rank == 0:
    print(f"backend:{backend} world_size:{world} gpus:{ngpu}", flush=True)
    print("step:0/100 val_loss:7.0 val_bpb:4.0 train_time:0ms step_avg:0ms", flush=True)
t0 = time.monotonic()
i = 0
while True:
    i += 1
    dist.all_reduce(x)
    torch.cuda.synchronize()
    if rank == 0:
        ms = int((time.monotonic() - t0) * 1000)
        print(f"step:{i}/100 train_loss:3.0 train_time:{ms}ms step_avg:{ms / i:.1f}ms", flush=True)
    time.sleep(0.2)
