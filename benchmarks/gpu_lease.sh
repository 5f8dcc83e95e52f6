#!/usr/bin/env bash
# Every GPU measurement of issues 15 and 19, prepared to run in one short lease on a GPU machine.
#
# Usage (on the GPU machine, repository root, wheels of the packages its image lacks in .whl/):
#   OUT=/some/folder bash benchmarks/gpu_lease.sh kernels    # CUDA check + atom bench worlds (~2-3 min)
#   OUT=/some/folder bash benchmarks/gpu_lease.sh loop       # issue 19's 12-seed sweep, cold and warm cache
#   OUT=/some/folder bash benchmarks/gpu_lease.sh validate   # 3D validation budgets (time-capped)
# Phases can be chained (``kernels loop validate``). Each step has its own time limit, cut to what is
# left of $TOTAL seconds (default 540); one failing step does not stop the next. Results go to $OUT.
set -u
TOTAL=${TOTAL:-540}
START=$(date +%s)
OUT=${OUT:-/tmp/atom_gpu_out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
WHEELS=${WHEELS:-.whl}
PY=${PY:-python3}
if ls "$WHEELS"/*.whl >/dev/null 2>&1; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl \
    || { echo "wheel install failed"; exit 1; }
  export PYTHONPATH=/tmp/site:src
else
  export PYTHONPATH=src
fi
export XDG_CACHE_HOME=/tmp/atom_cache
step() {  # step NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  local left=$(( TOTAL - ($(date +%s) - START) - 10 ))
  if (( left < 20 )); then echo "=== $name skipped: ${left}s left of TOTAL=${TOTAL}s"; return; fi
  (( limit > left )) && limit=$left
  local t0=$(date +%s.%N)
  echo "=== $name (limit ${limit}s)"
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  tail -n 25 "$OUT/$name.log"
  echo "=== $name rc=$rc wall=$(python3 -c "print(round($(date +%s.%N)-$t0,1))")s"
}
for phase in "${@:-kernels}"; do
case $phase in
  kernels)
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv > "$OUT/env.txt" 2>&1
    $PY -c "import jax; print('jax', jax.__version__, jax.devices())" >> "$OUT/env.txt" 2>&1
    (command -v nvcc || ls /usr/local/cuda/bin/nvcc) >> "$OUT/env.txt" 2>&1
    cat "$OUT/env.txt"
    step check 150 $PY benchmarks/gpu_check_cuda.py --out "$OUT/gpu_check_cuda.json"
    step bench_worlds 240 $PY -m atom_sdk.cli.main bench worlds --size 4096 --size3d 256 --steps 200 \
      --numpy-steps 1 --rounds 3 --output benchmark_results/bench_worlds_gpu.json
    cp benchmark_results/bench_worlds_gpu.json "$OUT/" 2>/dev/null
    ;;
  loop)
    for leg in cold warm; do
      step "sweep_$leg" 200 $PY benchmarks/bench_closed_loop.py --sweep-only --sweep-device gpu \
        --sweep-against benchmark_results/closed_loop_sweep.json --out "$OUT/closed_loop_sweep_gpu_$leg.json"
    done
    ;;
  validate)
    cap=$(( TOTAL - ($(date +%s) - START) - 30 ))
    step validate $(( cap + 15 )) $PY benchmarks/gpu_validation.py --out "$OUT/validation" \
      --cases "${CASES:-tgv3d,sphere,st3d}" --time-cap-s "$cap"
    (cd "$OUT" && tar czf validation.tgz validation 2>/dev/null && rm -rf validation)
    ;;
  *) echo "unknown phase $phase (kernels, loop, validate)"; exit 2 ;;
esac
done
