#!/usr/bin/env bash
# Issue 24's compile-cache figures on one lent GPU (the device tool), in one command:
# trainer start -> first warm-up step, cold vs warm, for each way a cache can reach a fresh process.
#
#   [TAG=name] [VAR=value ...] bash bench/compile_cache_gpu.sh TRAINER.py DATASET_DIR TOKENIZER.model [CASES]
#
# The trainer's own settings come from the environment (e.g. the manifest's [env] table); TAG keeps
# the folders of two trainers apart in one command.
#
# Cases (default: the first five; the two counterfactual ones on request), each a fresh process; "fresh" = an empty cache folder, as on a new node:
#   dir_cold     empty Inductor/Triton folder; saves the portable artifacts (mega.bin)
#   dir_warm     the same folder again (a cache that stays on the node)
#   mega_fresh   empty folder, mega.bin loaded into it first (a cache that travelled)
#   pre_cold     empty folder, Dynamo precompile on (TORCH_CACHING_PRECOMPILE=1); saves mega_pre.bin
#   pre_fresh    empty folder, mega_pre.bin loaded first, precompile on (dynamo tracing skipped too)
#   noddp_cold / noddp_warm   counterfactual: torch._dynamo.config.optimize_ddp=False (no DDP graph
#                split, so AOTAutograd can cache every graph); shows what the split costs a warm start
# Prints one line per case (seconds to the mark, torch import, compile stages, cache hits) and
# leaves the JSON and logs in $OUT (or /tmp/ccbench).
set -u
TRAINER=$(realpath "$1"); DATA=$(realpath "$2"); TOK=$(realpath "$3"); CASES=${4:-"dir_cold dir_warm mega_fresh pre_cold pre_fresh"}
PROBE=$(realpath bench/compile_probe.py); TAG=${TAG:-run}; W=/tmp/ccbench-$TAG; C=/tmp/cc-$TAG; BACK=${OUT:-$W}; rm -rf "$W"; mkdir -p "$W"
export DATA_PATH=$DATA TOKENIZER_PATH=$TOK VOCAB_SIZE=1024 RUN_ID=probe MAX_WALLCLOCK_SECONDS=30 VAL_LOSS_EVERY=0 PYTHONUNBUFFERED=1
load() {  # a separate process fills an empty cache folder from a blob, before the trainer starts
  TORCHINDUCTOR_CACHE_DIR=$1/inductor TRITON_CACHE_DIR=$1/triton python3 -c \
    'import sys,torch,time; t=time.time(); i=torch.compiler.load_cache_artifacts(open(sys.argv[1],"rb").read()); print(f"loaded in {time.time()-t:.1f}s:", {k: len(v) for k, v in (i.artifacts.items() if i else [])})' "$2"
}
run() {  # name cache [VAR=value ...]
  local name=$1 cache=$2; shift 2; mkdir -p "$W/$name"
  (cd "$W/$name" && env "$@" TORCHINDUCTOR_CACHE_DIR=$cache/inductor TRITON_CACHE_DIR=$cache/triton \
     PROBE_OUT=$W/$name.json PROBE_STOP=1 timeout 420 torchrun --standalone --nproc_per_node=1 "$PROBE" "$TRAINER" \
     > "$W/$name.log" 2>&1)
  echo "$name rc=$? cache=$(du -sh "$cache" 2>/dev/null | cut -f1)"
  python3 - "$W/$name.json" <<'PY'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except OSError:
    sys.exit(print("  no probe output"))
ct = r["compile_times_s"]
keys = [k for k in ("_compile.compile_inner", "OutputGraph.call_user_compiler", "create_aot_dispatcher_function",
                    "compile_fx_inner", "async_compile.wait") if k in ct]
print(f"  mark {r['first_mark_s']} s  (torch import {r['torch_import_s']} s)  " + "  ".join(f"{k}={ct[k]}" for k in keys))
c = r["counters"]
print("  hits:", {g: {k: v for k, v in c.get(g, {}).items() if "cache" in k} for g in ("inductor", "aot_autograd", "dynamo_cache")},
      "saved", r.get("saved_bytes"), r.get("saved_artifacts"))
PY
}
for case in $CASES; do case $case in
  dir_cold)   run dir_cold $C/dir PROBE_SAVE=$W/mega.bin ;;
  dir_warm)   run dir_warm $C/dir ;;
  mega_fresh) rm -rf $C/mega; load $C/mega "$W/mega.bin"; run mega_fresh $C/mega ;;
  pre_cold)   run pre_cold $C/pre TORCH_CACHING_PRECOMPILE=1 PROBE_SAVE=$W/mega_pre.bin ;;
  pre_fresh)  rm -rf $C/pref; TORCH_CACHING_PRECOMPILE=1 load $C/pref "$W/mega_pre.bin"
              run pre_fresh $C/pref TORCH_CACHING_PRECOMPILE=1 ;;
  noddp_cold) run noddp_cold $C/noddp PROBE_DYNAMO=optimize_ddp=False ;;
  noddp_warm) run noddp_warm $C/noddp PROBE_DYNAMO=optimize_ddp=False ;;
esac; done
grep -h "Bypassing autograd cache" "$W"/*.log | sed 's/.*due to: //' | sort | uniq -c | head -5
ls -la "$W"/*.bin 2>/dev/null
cd "$W" && tar czf "$BACK/ccbench-$TAG.tgz" *.json *.log 2>/dev/null; true
