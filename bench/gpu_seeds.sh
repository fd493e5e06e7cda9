#!/usr/bin/env bash
# Smoke-reproduce seed submissions on one lent GPU (the device tool). A late submission
# compiles for minutes and runs longer than one 10-minute device command, so the runs go on
# detached and later commands follow them (GPU_NOTES.md, "Runs longer than one command").
#
#   bash bench/gpu_seeds.sh start pr2014:42 pr1212:2   # returns at once; the runs go on in the background
#   bash bench/gpu_seeds.sh start pr2014:42,pr1987:42 pr1212:2   # two lanes: 2014 then 1987, beside 1212
#   bash bench/gpu_seeds.sh follow 540                  # progress for up to 540 s, then results into $OUT
#
# Inputs, all in the working tree that travels (GPU_DIR, default tmp_gpu/, never committed):
#   smoke_sp1024/ smoke_sp8192/ smoke_caseops/   roots made by `harness data build-embedded --size smoke`
#   debs/     lrzip 0.651 and the libraries the image lacks (`apt-get download lrzip liblzo2-2 liblz4-1 libbz2-1.0`)
#   mirror/   a bare repository holding refs/pull/<N>/head for the PRs to run
# and wheels in .whl/ (zstandard, brotli, python-minifier, the jsonschema stack), installed into the
# image's own interpreter: the sandbox passes PATH and LD_LIBRARY_PATH to the trainer, not PYTHONPATH.
# REPRO_ARGS adds arguments to every `harness reproduce` (e.g. "--env TORCHDYNAMO_DISABLE=1": eager mode,
# no torch.compile warm-up; recorded in the record as a smoke override), ARGS_prN to prN's only
# (ARGS_pr2014="--env TORCHDYNAMO_DISABLE=1 --env WARMUP_STEPS=0" runs #2014 eager beside a compiled
# #1212). PREFIX_DOCS: see flags_for.
# Each argument is a lane, and the lanes run at once, each seed in its own sandbox and cgroup (one
# GPU shared, so timings are not comparable with a run alone and each record carries a host.shared
# warning); a lane of several seeds, `pr2014:42,pr1987:42`, runs them one after another, so two
# lrzip-compressing seeds do not contend. PARALLEL=0 runs every seed one after another. Parallel
# lanes split the CPU cores: OMP_NUM_THREADS = cores / lanes unless set. Without that, #1987 and
# #2014 (one rank each, so torchrun leaves OMP_NUM_THREADS unset) each ran their CPU GPTQ with 16
# threads on the same 16 cores: 263 s for #2014, and #1987 went silent past the 300 s post-phase
# limit and was killed (bench/cpu_threads.py shows the effect).
# Compile caches: every run uses `--compile-cache $W/cache` (CACHE=0: a fresh cache per seed). A
# compiled #2014 smoke on one H200 spends 662-749 s compiling and warming up before its first step and
# 363 s compiling before its TTT eval, which began at 1,584 s of a cold run (fifth device session): with
# the machine's start and the eval, more than a 30-minute device session holds.
# So a cache can travel between sessions: `follow` packs it into $OUT as compile-cache.tgz.partNN
# (15 MiB parts, at most 4 = 60 MiB, once the runs are done or when SAVE_CACHE=1), and `start` unpacks
# $GPU_DIR/cache/compile-cache.tgz.part* back to the same absolute path before the seeds run
# (copy the returned parts there). The records say per seed whether the cache was cold or warm.
# A cache too large to come back is not packed; `follow` prints what it holds instead. #2014's was
# 97 MB gzipped (fifth device session): more than $OUT returns and more than a carried tree takes
# (64 MiB each way), so #2014 cannot start warm in a later session this way; run it eager
# (ARGS_pr2014 above) to reach its TTT eval within one session: the sixth session's eager #2014 took
# 334 s from launch to its record.
set -u
W=${SEEDS_DIR:-/tmp/seeds}
GPU_DIR=${GPU_DIR:-tmp_gpu}

data_for() {  # the smoke dataset of the submission's tokenizer
  case $1 in
    pr107|pr1212) echo "$W/tree/$GPU_DIR/smoke_sp1024/datasets/fineweb10B_sp1024" ;;
    pr1894) echo "$W/tree/$GPU_DIR/smoke_sp8192/datasets/fineweb10B_sp8192" ;;
    pr1987|pr2014) echo "$W/tree/$GPU_DIR/smoke_caseops/datasets/fineweb10B_sp8192_lossless_caps_caseops_v1_reserved" ;;
    *) echo "unknown submission $1" >&2; return 1 ;;
  esac
}
flags_for() {  # FA3 is a hard import in these three; #107 falls back to SDPA itself, #1894 uses SDPA only
  case $1 in pr1212|pr1987|pr2014) echo "--fa3-shim" ;; *) echo "" ;; esac
  # PREFIX_DOCS: phased TTT's prefix documents for the CaseOps seeds, for smoke data built with fewer
  # validation documents than the manifests' 3,000 (`build-embedded --val-docs`); keep it at about 5 %.
  case $1 in pr1987|pr2014) [[ -n ${PREFIX_DOCS:-} ]] && echo "--env PHASED_TTT_PREFIX_DOCS=$PREFIX_DOCS" ;; esac
}

per_pr_args() {  # ARGS_prN, passed down from the caller's environment (start exports nothing for it)
  local name="ARGS_$1"; echo "${!name:-}"
}

run_one() {  # $1 = prN:SEED
  local pr=${1%%:*} seed=${1#*:} data
  data=$(data_for "$pr") || return 1
  local t0=$SECONDS
  # shellcheck disable=SC2046
  python3 -m harness reproduce "submissions/$pr" --mode smoke --nproc 1 --seeds "$seed" --data "$data" \
    --source-repo "$W/tree/$GPU_DIR/mirror" --out "$W/runs" --run-id "$pr-$seed" --no-progress \
    $( [[ ${CACHE:-1} == 1 ]] && echo "--compile-cache $W/cache" ) \
    $(flags_for "$pr") ${REPRO_ARGS:-} $(per_pr_args "$pr") > "$W/$pr-$seed.out" 2>&1
  echo "$? $((SECONDS - t0))" > "$W/$pr-$seed.rc"
}

run_lane() {  # $1 = prN:SEED[,prM:SEED...]
  local item; local -a items; IFS=, read -r -a items <<< "$1"
  for item in "${items[@]}"; do run_one "$item"; done
}

drive() {  # the detached part: tools, then the seeds
  cd "$W/tree" || exit 1
  {
    date -u +"setup %FT%TZ"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl
    for d in "$GPU_DIR"/debs/*.deb; do dpkg -x "$d" "$W/prefix"; done
    lrzip -V; pyminify --version; python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
    if compgen -G "$GPU_DIR/cache/compile-cache.tgz.part*" > /dev/null; then
      mkdir -p "$W/cache"; cat "$GPU_DIR"/cache/compile-cache.tgz.part* | tar xzf - -C "$W/cache" \
        && echo "compile cache restored: $(du -sh "$W/cache" | cut -f1) in $(ls "$W/cache")"
    fi
    date -u +"seeds %FT%TZ"
  } > "$W/setup.log" 2>&1
  local pids=()
  if [[ ${PARALLEL:-1} == 1 && $# -gt 1 && -z ${OMP_NUM_THREADS:-} ]]; then
    local per=$(( $(nproc) / $# )); export OMP_NUM_THREADS=$(( per > 0 ? per : 1 ))
    echo "parallel lanes: OMP_NUM_THREADS=$OMP_NUM_THREADS each" >> "$W/setup.log"
  fi
  for lane in "$@"; do  # a lane is prN:SEED[,prM:SEED...]: its seeds run one after another
    if [[ ${PARALLEL:-1} == 1 ]]; then run_lane "$lane" & pids+=($!); else run_lane "$lane"; fi
  done
  [[ ${#pids[@]} -gt 0 ]] && wait "${pids[@]}"
  date -u +"done %FT%TZ" > "$W/done"
}

status_lines() {
  echo "== $(date -u +%T) $(nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null)"
  for out in "$W"/*.out; do
    [[ -e $out ]] || continue
    local id; id=$(basename "$out" .out)
    local rc="running"; [[ -e $W/$id.rc ]] && rc="rc $(cat "$W/$id.rc")"
    local tlog; tlog=$(ls -t "$W/runs/$id"/seed-*/work/logs/*.txt 2>/dev/null | head -1)
    printf '%-12s %-14s harness: %s\n' "$id" "$rc" "$(tail -n 1 "$out" | cut -c1-150)"
    [[ -n $tlog ]] && printf '%-27s trainer: %s\n' "" "$(tail -n 1 "$tlog" | cut -c1-150)"
  done
}

collect() {  # small files only (logs, records, reports); the artifacts stay on the device
  local back=${OUT:-$W/out}; mkdir -p "$back"
  cp "$W/setup.log" "$back/" 2>/dev/null
  for out in "$W"/*.out; do
    [[ -e $out ]] || continue
    local id; id=$(basename "$out" .out)
    tar czf "$back/$id.tgz" -C "$W" "$id.out" $( [[ -e $W/$id.rc ]] && echo "$id.rc" ) \
      $(cd "$W" && find "runs/$id" -maxdepth 4 \( -name '*.json' -o -name '*.md' -o -name '*.log' -o -name '*.txt' \) \
          -not -path '*/sandbox/*' 2>/dev/null)
  done
  if [[ -d $W/cache && ( -e $W/done || ${SAVE_CACHE:-0} == 1 ) ]]; then
    tar czf "$W/compile-cache.tgz" -C "$W/cache" .
    local size; size=$(stat -c %s "$W/compile-cache.tgz")
    if (( size <= 60 * 1024 * 1024 )); then  # at most 4 parts: with the tarballs, within 8 files
      split -b 15M -d "$W/compile-cache.tgz" "$back/compile-cache.tgz.part"
      echo "compile cache packed: $size bytes in $(ls "$back"/compile-cache.tgz.part* | wc -l) part(s)"
    else
      echo "compile cache not packed: $size bytes compressed is more than \$OUT takes back (60 MiB)"
      echo "what it holds (bytes on disk):"; (cd "$W/cache" && du -s -B1 */* 2>/dev/null | sort -rn | head -12)
    fi
  fi
}

case ${1:-} in
  start)
    shift; [[ $# -gt 0 ]] || { echo "usage: $0 start prN:SEED[,prM:SEED...] ..." >&2; exit 2; }
    for item in ${*//,/ }; do data_for "${item%%:*}" > /dev/null || exit 2; done
    rm -rf "$W"; mkdir -p "$W/tree" "$W/prefix" "$W/runs"
    cp -a . "$W/tree/"
    export PATH="$W/prefix/usr/bin:$PATH"
    export LD_LIBRARY_PATH="$W/prefix/usr/lib/x86_64-linux-gnu:$W/prefix/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PYTHONPATH="$W/tree" PYTHONUNBUFFERED=1 SEEDS_DIR="$W" GPU_DIR REPRO_ARGS="${REPRO_ARGS:-}" PREFIX_DOCS="${PREFIX_DOCS:-}" CACHE="${CACHE:-1}"
    setsid nohup bash "$W/tree/bench/gpu_seeds.sh" _drive "$@" > "$W/driver.log" 2>&1 < /dev/null &
    echo "started $* (driver pid $!); follow with: bash bench/gpu_seeds.sh follow SECONDS"
    ;;
  _drive) shift; drive "$@" ;;
  follow)
    # Status every 60 s, but return within 10 s of the runs ending: device time is the scarce thing.
    limit=${2:-540}; t0=$SECONDS; last=-60
    while (( SECONDS - t0 < limit )) && [[ ! -e $W/done ]]; do
      (( SECONDS - last >= 60 )) && { status_lines; last=$SECONDS; }
      sleep 10
    done
    status_lines; cat "$W/setup.log" 2>/dev/null | head -20; [[ -e $W/done ]] && cat "$W/done"
    collect
    ;;
  *) sed -n '2,/^set -u$/{/^set -u$/!p}' "$0"; exit 2 ;;  # the header, however long
esac
