#!/usr/bin/env bash
# GPU proofs on one lent GPU (the device tool), in one command of under 10 minutes:
#   1. environment + sandbox report of the node (cgroup v2, namespaces, GPU)
#   2. the supervisor's CUDA tests (a killed torchrun seed leaves no rank and no GPU memory behind)
#   3. harness overhead: the reference trainer bare vs under `harness reproduce` (target >= 0.995)
#   4. the reference submission reproduced twice, then `harness compare` second vs first
#   5. the FA3 shim under torch.compile (tests/gpu/shim_train.py)
# Usage (repo root, wheels for missing packages in .whl/):  bash bench/gpu_proof.sh
set -u
OUTD=/tmp/gpu_proof; mkdir -p "$OUTD"; BACK="${OUT:-$OUTD}"  # device returns at most 8 files: bundle
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
# STEPS="overhead repro_a repro_b compare" runs a subset (default: all).
want() { [[ " ${STEPS:-env sandbox kill overhead repro_a repro_b compare shim} " == *" $1 "* ]]; }
step() { local name=$1; shift; want "$name" || return 0; local t0=$SECONDS; "$@" > "$OUTD/$name.txt" 2>&1; local rc=$?
         printf '%-10s rc=%-3s %4ss\n' "$name" "$rc" "$((SECONDS - t0))" | tee -a "$OUTD/steps.txt"; }
step env      python3 -m harness env check --policy official --json
step sandbox  python3 -m harness sandbox check --json
step kill     timeout 240 python3 -m pytest -q -rs tests/test_supervisor.py -k "gpu or cuda"
step overhead timeout 300 python3 bench/overhead.py --nproc 1 --seeds 1 --train-seconds ${OVERHEAD_TRAIN_S:-45} --full
step repro_a  timeout 200 python3 -m harness reproduce submissions/reference --mode smoke --seeds 1,2 --train-seconds 60 --env ITERATIONS=400 --out runs --run-id gpu-a --no-progress
step repro_b  timeout 200 python3 -m harness reproduce submissions/reference --mode smoke --seeds 1,2 --train-seconds 60 --env ITERATIONS=400 --out runs --run-id gpu-b --no-progress
step compare  python3 -m harness compare runs/gpu-b runs/gpu-a --format markdown
step shim     env PYTHONPATH="$PWD/harness/fa3_shim:$PYTHONPATH" timeout 240 python3 tests/gpu/shim_train.py --out "$OUTD/shim.json"
cp -r runs "$OUTD/" 2>/dev/null
tar czf "$BACK/gpu_proof.tgz" -C /tmp gpu_proof
cp "$OUTD/steps.txt" "$BACK/steps.txt" 2>/dev/null
tail -n 8 "$OUTD"/overhead.txt "$OUTD"/compare.txt "$OUTD"/kill.txt
