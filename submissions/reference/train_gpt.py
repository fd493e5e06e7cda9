"""pgolf-harness reference submission: a small GPT trainer written from scratch.

It follows the challenge's environment and log conventions (the lines the
harness's default markers look for) so that `harness reproduce` can run and
judge it like any upstream record, on CPU (gloo) in seconds or on CUDA (nccl,
bf16 autocast). It is self-contained on purpose: a submission may not import
the harness, so it carries its own shard reader, byte accounting and
quantizer.

Flow: train under a wall-clock cap -> per-row int8 quantization -> zlib or
brotli -> write final_model.int8.ptz -> load that file back -> score val_bpb.

Launch: torchrun --standalone --nproc_per_node N train_gpt.py
"""

from __future__ import annotations

import glob
import io
import math
import os
import re
import sys
import time
import uuid
import zlib

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _env_float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Hyperparameters:
    data_path = os.environ.get("DATA_PATH", "./data/datasets/embedded")
    tokenizer_path = os.environ.get("TOKENIZER_PATH", "")
    vocab_size = _env_int("VOCAB_SIZE", 1024)
    seed = _env_int("SEED", 1337)
    run_id = os.environ.get("RUN_ID", str(uuid.uuid4()))
    artifact_dir = os.environ.get("ARTIFACT_DIR", ".")
    max_wallclock_seconds = _env_float("MAX_WALLCLOCK_SECONDS", 600.0)
    iterations = _env_int("ITERATIONS", 20000)
    warmup_steps = _env_int("WARMUP_STEPS", 0)
    train_seq_len = _env_int("TRAIN_SEQ_LEN", 256)
    train_batch_tokens = _env_int("TRAIN_BATCH_TOKENS", 16384)
    grad_accum_steps = _env_int("GRAD_ACCUM_STEPS", 1)
    val_loss_every = _env_int("VAL_LOSS_EVERY", 0)
    val_batch_size = _env_int("VAL_BATCH_SIZE", 65536)
    train_log_every = _env_int("TRAIN_LOG_EVERY", 10)
    model_dim = _env_int("MODEL_DIM", 128)
    num_layers = _env_int("NUM_LAYERS", 2)
    num_heads = _env_int("NUM_HEADS", 4)
    mlp_mult = _env_int("MLP_MULT", 2)
    lr = _env_float("LR", 3e-3)
    weight_decay = _env_float("WEIGHT_DECAY", 0.0)
    warmdown_frac = _env_float("WARMDOWN_FRAC", 0.3)
    grad_clip_norm = _env_float("GRAD_CLIP_NORM", 1.0)
    compressor = os.environ.get("COMPRESSOR", "zlib")
    # torch.compile for training: "auto" = on CUDA only (a CPU compile costs minutes on small machines).
    compile = os.environ.get("COMPILE", "auto")


# ----------------------------------------------------------------------------- data

SHARD_MAGIC = 20240520
SHARD_HEADER_INTS = 256


def load_shard(path: str) -> np.ndarray:
    """Read one canonical shard (256 x int32 header, then uint16 tokens)."""
    header = np.fromfile(path, dtype="<i4", count=SHARD_HEADER_INTS)
    if header.size != SHARD_HEADER_INTS or int(header[0]) != SHARD_MAGIC or int(header[1]) != 1:
        raise ValueError(f"{path}: not a canonical shard (bad header)")
    count = int(header[2])
    expected = SHARD_HEADER_INTS * 4 + 2 * count
    if os.path.getsize(path) != expected:
        raise ValueError(f"{path}: header says {count} tokens but the size disagrees")
    return np.fromfile(path, dtype="<u2", count=count, offset=SHARD_HEADER_INTS * 4)


def shard_files(data_path: str, kind: str) -> list[str]:
    # Exact six-digit names: a plain fineweb_val_*.bin glob would also match
    # the byte sidecars fineweb_val_bytes_*.bin.
    pattern = re.compile(rf"^fineweb_{kind}_\d{{6}}\.bin$")
    return sorted(p for p in glob.glob(os.path.join(data_path, f"fineweb_{kind}_*.bin"))
                  if pattern.match(os.path.basename(p)))


class TokenStream:
    """Endless stream over the train shards in order, wrapping at the end."""

    def __init__(self, files: list[str]):
        if not files:
            raise FileNotFoundError("no train shards found")
        self.files = files
        self.file_idx = 0
        self.tokens = load_shard(files[0])
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        parts = []
        while n > 0:
            left = self.tokens.size - self.pos
            if left <= 0:
                self.file_idx = (self.file_idx + 1) % len(self.files)
                self.tokens = load_shard(self.files[self.file_idx])
                self.pos = 0
                continue
            k = min(n, left)
            parts.append(self.tokens[self.pos:self.pos + k])
            self.pos += k
            n -= k
        return np.concatenate(parts)


class DistributedLoader:
    """Every rank reads the same global span and keeps its own contiguous slice."""

    def __init__(self, files: list[str], rank: int, world: int, device: torch.device):
        self.stream = TokenStream(files)
        self.rank, self.world, self.device = rank, world, device

    def next_batch(self, local_tokens: int, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        span = local_tokens + 1
        chunk = self.stream.take(span * self.world)
        local = torch.from_numpy(chunk[self.rank * span:(self.rank + 1) * span].astype(np.int64))
        x = local[:-1].reshape(-1, seq_len)
        y = local[1:].reshape(-1, seq_len)
        return x.to(self.device, non_blocking=True), y.to(self.device, non_blocking=True)


# ------------------------------------------------------------------- byte accounting

def sentencepiece_byte_luts(tokenizer_path: str, vocab_size: int):
    """Per-token byte counts for val_bpb.

    Control/unknown/unused pieces count 0 bytes and act as boundaries; byte-fallback
    pieces count 1; other pieces count the UTF-8 bytes of the piece without its
    leading '\u2581', plus 1 for that space unless the previous token is a boundary.
    """
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=tokenizer_path)
    n = max(sp.get_piece_size(), vocab_size)
    base = np.zeros(n, dtype=np.int64)
    space = np.zeros(n, dtype=bool)
    boundary = np.ones(n, dtype=bool)
    for i in range(sp.get_piece_size()):
        if sp.is_control(i) or sp.is_unknown(i) or sp.is_unused(i):
            continue
        boundary[i] = False
        if sp.is_byte(i):
            base[i] = 1
            continue
        piece = sp.id_to_piece(i)
        if piece.startswith("\u2581"):
            space[i] = True
            piece = piece[1:]
        base[i] = len(piece.encode("utf-8"))
    return base, space, boundary


class ValidationSet:
    """The scored validation stream and the bytes of each scored target."""

    def __init__(self, args: Hyperparameters, seq_len: int):
        files = shard_files(args.data_path, "val")
        if not files:
            raise FileNotFoundError(f"no validation shards in {args.data_path}")
        tokens = np.concatenate([load_shard(f) for f in files])
        # Every target is scored (positions 1..N-1): full sequences of seq_len plus
        # one shorter tail sequence, so coverage is the whole validation stream.
        usable = tokens.size - 1
        if usable < 1:
            raise ValueError("validation stream has no targets")
        self.pattern = os.path.join(args.data_path, "fineweb_val_*.bin")
        self.tokens = tokens.astype(np.int64)
        self.num_targets = usable
        sidecars = shard_files(args.data_path, "val_bytes")
        if sidecars and len(sidecars) == len(files):
            per_token = np.concatenate([load_shard(f) for f in sidecars]).astype(np.int64)
            if per_token.size < usable + 1:
                raise ValueError("byte sidecar is shorter than the validation stream")
            self.target_bytes = per_token[1:usable + 1]
            self.byte_source = "byte_sidecar"
        else:
            if not args.tokenizer_path:
                raise ValueError("TOKENIZER_PATH is required when the data has no byte sidecar")
            base, space, boundary = sentencepiece_byte_luts(args.tokenizer_path, args.vocab_size)
            prev, tgt = self.tokens[:-1], self.tokens[1:]
            self.target_bytes = base[tgt] + (space[tgt] & ~boundary[prev]).astype(np.int64)
            self.byte_source = "sentencepiece_luts"


@torch.no_grad()
def evaluate(model: nn.Module, val: ValidationSet, seq_len: int, batch_tokens: int,
             rank: int, world: int, device: torch.device, autocast) -> tuple[float, float]:
    """Mean loss (nats/token) and val_bpb over every scored target, split across ranks."""
    num_seqs = val.num_targets // seq_len
    tail = val.num_targets - num_seqs * seq_len
    start = num_seqs * rank // world
    end = num_seqs * (rank + 1) // world
    per_batch = max(1, batch_tokens // seq_len)
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    tok_sum = torch.zeros((), dtype=torch.float64, device=device)
    byte_sum = torch.zeros((), dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    spans = [(s * seq_len, min(end, s + per_batch) * seq_len, seq_len) for s in range(start, end, per_batch)]
    if tail and rank == world - 1:
        spans.append((num_seqs * seq_len, val.num_targets, tail))  # the last, shorter sequence
    for lo, hi, width in spans:
        x = torch.from_numpy(val.tokens[lo:hi]).view(-1, width).to(device)
        y = torch.from_numpy(val.tokens[lo + 1:hi + 1]).view(-1, width).to(device)
        with autocast():
            loss = model(x, y)
        n = float(y.numel())
        loss_sum += loss.double() * n
        tok_sum += n
        byte_sum += float(val.target_bytes[lo:hi].sum())
    if world > 1:
        for t in (loss_sum, tok_sum, byte_sum):
            dist.all_reduce(t)
    model.train(was_training)
    mean_loss = (loss_sum / tok_sum).item()
    bpb = (loss_sum / (math.log(2) * byte_sum)).item()
    return mean_loss, bpb


# ----------------------------------------------------------------------------- model

class CausalSelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.proj(y.transpose(1, 2).reshape(b, t, c))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_mult: int):
        super().__init__()
        self.norm1 = nn.RMSNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.norm2 = nn.RMSNorm(dim)
        self.fc = nn.Linear(dim, mlp_mult * dim, bias=False)
        self.out = nn.Linear(mlp_mult * dim, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.out(F.relu(self.fc(self.norm2(x))).square())


class TinyGPT(nn.Module):
    def __init__(self, vocab: int, dim: int, layers: int, heads: int, mlp_mult: int, max_len: int):
        super().__init__()
        self.tok = nn.Embedding(vocab, dim)
        self.pos = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, heads, mlp_mult) for _ in range(layers))
        self.norm = nn.RMSNorm(dim)
        nn.init.normal_(self.tok.weight, std=0.02)
        nn.init.normal_(self.pos.weight, std=0.01)

    def forward(self, idx: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t, device=idx.device))
        for block in self.blocks:
            x = block(x)
        logits = F.linear(self.norm(x), self.tok.weight)  # tied output head
        return F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1))


# ------------------------------------------------------------------------ artifact

def quantize_state(state: dict[str, torch.Tensor]) -> dict:
    """Per-row symmetric int8 for matrices; small tensors stay as float16."""
    out: dict = {"__format__": "pgolf-ref-int8-v1", "q": {}, "scale": {}, "fp16": {}}
    for name, tensor in state.items():
        t = tensor.detach().float().cpu()
        if t.ndim == 2 and t.numel() >= 1024:
            amax = t.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
            scale = amax / 127.0
            out["q"][name] = torch.clamp(torch.round(t / scale), -127, 127).to(torch.int8)
            out["scale"][name] = scale.squeeze(1).to(torch.float16)
        else:
            out["fp16"][name] = t.to(torch.float16)
    return out


def dequantize_state(blob: dict) -> dict[str, torch.Tensor]:
    if blob.get("__format__") != "pgolf-ref-int8-v1":
        raise ValueError("unknown artifact format")
    state = {n: q.float() * blob["scale"][n].float().unsqueeze(1) for n, q in blob["q"].items()}
    state.update({n: t.float() for n, t in blob["fp16"].items()})
    return state


def compress(raw: bytes, method: str) -> bytes:
    if method == "brotli":
        import brotli
        return brotli.compress(raw, quality=11)
    return zlib.compress(raw, 9)


def decompress(data: bytes, method: str) -> bytes:
    if method == "brotli":
        import brotli
        return brotli.decompress(data)
    return zlib.decompress(data)


# ------------------------------------------------------------------------------ main

def main() -> None:
    args = Hyperparameters()
    distributed = "RANK" in os.environ and "WORLD_SIZE" in os.environ
    rank = int(os.environ.get("RANK", 0))
    world = int(os.environ.get("WORLD_SIZE", 1))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    use_cuda = torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // max(1, world)))
    if distributed:
        dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=device if use_cuda else None)
    master = rank == 0

    os.makedirs(args.artifact_dir, exist_ok=True)
    logfile = os.path.join(args.artifact_dir, "logs", f"{args.run_id}.txt")
    if master:
        os.makedirs(os.path.dirname(logfile), exist_ok=True)

    def log0(msg: str) -> None:
        if not master:
            return
        print(msg, flush=True)
        with open(logfile, "a", encoding="utf-8") as f:
            f.write(msg + "\n")

    def autocast():
        if use_cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast("cpu", enabled=False)

    def sync() -> None:
        if use_cuda:
            torch.cuda.synchronize()

    log0(logfile)
    log0(f"Running Python {sys.version.split()[0]}")
    log0(f"Running PyTorch {torch.__version__}")
    if use_cuda and master:
        # The hardware block reviewers (and the harness) read from logs.
        import subprocess
        try:
            smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            smi = ""
        for line in smi.splitlines():
            log0(line)

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)

    seq_len = args.train_seq_len
    accum = args.grad_accum_steps
    if args.train_batch_tokens % (world * accum * seq_len) != 0:
        raise ValueError(
            f"TRAIN_BATCH_TOKENS={args.train_batch_tokens} must be divisible by "
            f"world_size*grad_accum_steps*TRAIN_SEQ_LEN={world * accum * seq_len}")
    local_tokens = args.train_batch_tokens // (world * accum)

    val = ValidationSet(args, seq_len)
    train_files = shard_files(args.data_path, "train")
    dataset_name = os.path.basename(os.path.normpath(args.data_path))
    if val.byte_source == "byte_sidecar":
        log0("val_bpb:byte_sidecar:enabled")
    else:
        log0(f"val_bpb:enabled tokenizer_kind=sentencepiece tokenizer_path={args.tokenizer_path}")
    log0(f"train_loader:dataset:{dataset_name} train_shards:{len(train_files)}")
    log0(f"val_loader:shards pattern={val.pattern} tokens:{val.num_targets}")

    model = TinyGPT(args.vocab_size, args.model_dim, args.num_layers, args.num_heads,
                    args.mlp_mult, seq_len).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    compiled = args.compile == "1" or (args.compile == "auto" and use_cuda)
    train_model: nn.Module = model
    if compiled:
        # One whole graph: DDP's graph split (optimize_ddp) makes AOTAutograd skip its cache for every
        # piece (torch 2.11), so a seed starting with a warm compile cache would still re-trace them.
        # This model is too small for DDP's compute/communication overlap to matter.
        torch._dynamo.config.optimize_ddp = False
        train_model = torch.compile(model, dynamic=False, fullgraph=True)
    ddp_model = nn.parallel.DistributedDataParallel(train_model, device_ids=[local_rank] if use_cuda else None) \
        if distributed else train_model
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95),
                            weight_decay=args.weight_decay, fused=use_cuda)
    log0(f"model_params:{n_params}")
    log0(f"world_size:{world} grad_accum_steps:{accum}")
    log0(f"model_dim:{args.model_dim} num_layers:{args.num_layers} num_heads:{args.num_heads} "
         f"mlp_mult:{args.mlp_mult} lr:{args.lr} compressor:{args.compressor} compile:{int(compiled)}")
    log0(f"train_batch_tokens:{args.train_batch_tokens} train_seq_len:{seq_len} "
         f"iterations:{args.iterations} warmup_steps:{args.warmup_steps} "
         f"max_wallclock_seconds:{args.max_wallclock_seconds:.3f}")
    log0(f"seed:{args.seed}")

    loader = DistributedLoader(train_files, rank, world, device)
    cap_ms = 1000.0 * args.max_wallclock_seconds if args.max_wallclock_seconds > 0 else None

    def lr_scale(step: int, elapsed_ms: float) -> float:
        # Linear warm-down over the last WARMDOWN_FRAC of whichever budget ends first.
        frac_steps = step / max(1, args.iterations)
        frac_time = elapsed_ms / cap_ms if cap_ms else 0.0
        progress = max(frac_steps, frac_time)
        if args.warmdown_frac <= 0 or progress < 1 - args.warmdown_frac:
            return 1.0
        return max(0.0, (1 - progress) / args.warmdown_frac)

    def train_step(step: int, elapsed_ms: float) -> float:
        for g in opt.param_groups:
            g["lr"] = args.lr * lr_scale(step, elapsed_ms)
        total = torch.zeros((), device=device)
        for micro in range(accum):
            x, y = loader.next_batch(local_tokens, seq_len)
            if distributed and isinstance(ddp_model, nn.parallel.DistributedDataParallel):
                ddp_model.require_backward_grad_sync = micro == accum - 1
            with autocast():
                loss = ddp_model(x, y)
            (loss / accum).backward()
            total += loss.detach() / accum
        if args.grad_clip_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return total.item()

    # Optional warm-up steps (kernel/allocator warm-up) whose effect is undone.
    if args.warmup_steps > 0:
        saved_model = {k: v.detach().clone() for k, v in model.state_dict().items()}
        saved_opt = opt.state_dict()
        for w in range(args.warmup_steps):
            train_step(0, 0.0)
            log0(f"warmup_step:{w + 1}/{args.warmup_steps}")
        model.load_state_dict(saved_model)
        opt.load_state_dict(saved_opt)
        loader = DistributedLoader(train_files, rank, world, device)

    # The training timer excludes validation passes (paused around them).
    train_ms = 0.0
    step = 0
    stop_after: int | None = None
    sync()
    t0 = time.perf_counter()
    while True:
        last = step == args.iterations or (stop_after is not None and step >= stop_after)
        if last or (args.val_loss_every > 0 and step % args.val_loss_every == 0):
            sync()
            train_ms += 1000.0 * (time.perf_counter() - t0)
            vloss, vbpb = evaluate(model, val, seq_len, args.val_batch_size,
                                   rank, world, device, autocast)
            log0(f"step:{step}/{args.iterations} val_loss:{vloss:.4f} val_bpb:{vbpb:.4f} "
                 f"train_time:{train_ms:.0f}ms step_avg:{train_ms / max(step, 1):.2f}ms")
            sync()
            t0 = time.perf_counter()
        if last:
            if stop_after is not None and step < args.iterations:
                log0(f"stopping_early: wallclock_cap train_time:{train_ms:.0f}ms step:{step}/{args.iterations}")
            break
        loss = train_step(step, train_ms + 1000.0 * (time.perf_counter() - t0))
        step += 1
        elapsed = train_ms + 1000.0 * (time.perf_counter() - t0)
        if args.train_log_every > 0 and (step <= 5 or step % args.train_log_every == 0):
            log0(f"step:{step}/{args.iterations} train_loss:{loss:.4f} train_time:{elapsed:.0f}ms "
                 f"step_avg:{elapsed / step:.2f}ms")
        if cap_ms is not None and stop_after is None:
            hit = torch.tensor(1 if elapsed >= cap_ms else 0, device=device)
            if distributed:
                dist.all_reduce(hit, op=dist.ReduceOp.MAX)  # every rank stops at the same step
            if hit.item():
                stop_after = step

    if use_cuda:
        log0(f"peak memory allocated: {torch.cuda.max_memory_allocated() // 2**20} MiB "
             f"reserved: {torch.cuda.max_memory_reserved() // 2**20} MiB")

    # Serialize: raw state, then the scored int8 + compressed artifact.
    code_bytes = len(open(__file__, "rb").read())
    raw_path = os.path.join(args.artifact_dir, "final_model.pt")
    art_path = os.path.join(args.artifact_dir, "final_model.int8.ptz")
    method = "brotli" if args.compressor == "brotli" else "zlib"
    suffix = f"int8+{method}"
    if master:
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, raw_path)
        raw_bytes = os.path.getsize(raw_path)
        log0(f"Serialized model: {raw_bytes} bytes")
        log0(f"Code size: {code_bytes} bytes")
        log0(f"Total submission size: {raw_bytes + code_bytes} bytes")
        buf = io.BytesIO()
        torch.save(quantize_state(state), buf)
        payload = buf.getvalue()
        blob = compress(payload, method)
        tmp = art_path + ".partial"
        with open(tmp, "wb") as f:
            f.write(blob)
        os.replace(tmp, art_path)
        art_bytes = os.path.getsize(art_path)
        log0(f"Serialized model {suffix}: {art_bytes} bytes (payload:{len(payload)} raw_torch:{raw_bytes} "
             f"payload_ratio:{raw_bytes / max(1, len(payload)):.2f}x)")
        log0(f"Total submission size {suffix}: {art_bytes + code_bytes} bytes")
    if distributed:
        dist.barrier()

    # Round-trip: every rank loads the artifact from disk and is scored on it.
    sync()
    t_eval = time.perf_counter()
    with open(art_path, "rb") as f:
        blob = torch.load(io.BytesIO(decompress(f.read(), method)), map_location="cpu")
    model.load_state_dict(dequantize_state(blob))
    vloss, vbpb = evaluate(model, val, seq_len, args.val_batch_size, rank, world, device, autocast)
    sync()
    eval_ms = 1000.0 * (time.perf_counter() - t_eval)
    name = f"final_int8_{method}_roundtrip"
    log0(f"{name} val_loss:{vloss:.4f} val_bpb:{vbpb:.4f} eval_time:{eval_ms:.0f}ms")
    log0(f"{name}_exact val_loss:{vloss:.8f} val_bpb:{vbpb:.8f}")

    if distributed:
        dist.barrier()  # every rank leaves the last collective before any tears the group down
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
    # With torch 2.13 (CPU, gloo) a rank can abort in C++ static destructors at interpreter exit
    # ("terminate called without an active exception": 1 to 5 in 16 two-rank runs here, 0 in 30 with
    # this exit). Everything is written, closed and flushed by now, so leave without running them.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
