#!/usr/bin/env bash
# Every GPU test and benchmark in one run, for a lent GPU machine (one H200, 15 minutes in all).
#
# On the GPU machine: `make gpu-wheels` here first (wheels of what its image lacks, torchattacks,
# river and paho-mqtt, plus the Fashion-MNIST files, into the ignored .whl/), carry `.whl`, and run
#     bash benchmarks/gpu.sh
# It installs the wheels into /tmp/gpu-site, then runs, each step under a hard time limit that
# sums to 7.5 minutes (sizes are chosen to finish well inside them on an H200):
#   1. env.txt         nvidia-smi, versions                                         (10 s)
#   2. gpu-tests.log   pytest -m gpu over tests/ and the packages (CUDA no-sync,
#                      compile, TorchFleet, ...)                                     (120 s)
#   3. bench.log       robust GPU benchmarks: PGD-10 ResNet-18 fp32 / bf16 channels_last /
#                      compiled vs torchattacks, PGD-AT epoch vs torchattacks and vs 11 clean
#                      epochs, Fashion-MNIST full-set PGD-AT epoch vs the torchattacks loop (240 s)
#   4. traincore.log   traincore fit() epoch vs a hand-written loop on the GPU         (60 s)
#   5. summary.{md,json} from the raw pytest-benchmark JSON files                     (20 s)
# Results: $OUT (default benchmarks/results/gpu) gets four flat files (the device tool brings back
# at most 8): log.txt (environment, every step's exit status, time and output), summary_robust.md,
# summary_traincore.md and gpu_results.tgz (raw pytest-benchmark JSON, summaries as JSON, the
# quality records attacks_bench.json / training_bench.json). A step that hits its limit is logged
# as such and the next one still runs.
#
# GPU_DRY_RUN=1: the same script on the CPU with tiny sizes (ROBUST_BENCH_FORCE_DEVICE=cpu), no
# wheels, no traincore step (it has no tiny size; `make bench` runs it), limits x5 (a shared CPU).
# `make test` runs this (tests/robust/test_gpu_script.py) so the script cannot rot.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"  # everything is written here, then packed into $OUT
PY="${PYTHON:-python3}"
DRY="${GPU_DRY_RUN:-0}"
export PYTHONUNBUFFERED=1 ROBUST_BENCH_RESULTS="$WORK"

SCALE=1
[ "$DRY" = 1 ] && SCALE=5  # the limits are the GPU budget; a shared CPU only needs to finish
step() {  # step NAME SECONDS COMMAND...: run with a hard limit, log to $WORK/NAME.log
    local name=$1 limit=$(($2 * SCALE))
    shift 2
    local start=$SECONDS
    timeout --kill-after=10 "$limit" "$@" > "$WORK/$name.log" 2>&1
    local rc=$?
    [ "$rc" -eq 0 ] || FAILED=$((FAILED + 1))
    echo "$name: exit $rc after $((SECONDS - start)) s (limit $limit s)" | tee -a "$WORK/steps.txt"
}
FAILED=0

if [ "$DRY" = 1 ]; then
    export ROBUST_BENCH_FORCE_DEVICE=cpu
elif ls .whl/*.whl > /dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/gpu-site .whl/*.whl && export PYTHONPATH="/tmp/gpu-site:${PYTHONPATH:-}"
fi
if [ -z "${ROBUST_FASHION_MNIST_DIR:-}" ] && [ -d .whl/fashion-mnist ]; then
    export ROBUST_FASHION_MNIST_DIR="$PWD/.whl/fashion-mnist"
fi
export PYTHONPATH="$PWD:${PYTHONPATH:-}"
: > "$WORK/steps.txt"

{
    date -u
    nvidia-smi 2>&1 || echo "no nvidia-smi"
    "$PY" -c "import torch, sys; print(sys.version); print('torch', torch.__version__,
'cuda', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available()
else '')"
    for m in torchattacks river paho.mqtt numba; do
        "$PY" -c "import $m; print('$m', getattr($m, '__version__', 'ok'))" 2>&1 | tail -1
    done
} > "$WORK/env.txt" 2>&1

step gpu-tests 120 "$PY" -m pytest -q -m gpu tests robust adaptive traincore \
    -p no:cacheprovider -o addopts="" --timeout=100
step bench 240 "$PY" -m pytest benchmarks/bench_attacks.py benchmarks/bench_training.py \
    -o addopts="" -p no:cacheprovider -p no:xdist -q --benchmark-only -k gpu \
    --benchmark-json="$WORK/raw_robust.json"
if [ "$DRY" != 1 ]; then
    step traincore 60 "$PY" -m pytest benchmarks/bench_traincore.py -o addopts="" \
        -p no:cacheprovider -p no:xdist -q --benchmark-only -k fit_one_epoch \
        --benchmark-json="$WORK/raw_traincore.json"
fi
for raw in "$WORK"/raw_*.json; do
    [ -f "$raw" ] || continue
    name=$(basename "$raw" .json)
    step "summary_${name#raw_}" 20 "$PY" benchmarks/summarize.py "$raw" "$WORK/summary_${name#raw_}"
    cp "$WORK/summary_${name#raw_}.md" "$OUT/" 2> /dev/null
done
for f in env steps gpu-tests bench traincore; do  # one log, in this order
    [ -f "$WORK/$f.txt" ] && { echo "=== $f"; cat "$WORK/$f.txt"; }
    [ -f "$WORK/$f.log" ] && { echo "=== $f"; cat "$WORK/$f.log"; }
done > "$OUT/log.txt"
tar czf "$OUT/gpu_results.tgz" -C "$WORK" .
rm -rf "$WORK"
echo "gpu.sh: $FAILED step(s) failed; results in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$FAILED"
