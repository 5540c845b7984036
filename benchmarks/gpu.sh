#!/usr/bin/env bash
# Every GPU test and benchmark in one run, for the lent GPU machine (see the device tool's README).
# Writes under $OUT (default benchmarks/results/gpu): pytest logs, raw pytest-benchmark JSON and
# the summary. On a CPU-only machine it still runs (GPU tests skip, benchmarks run on the CPU).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-benchmarks/results/gpu}"
mkdir -p "$OUT"
PY="${PYTHON:-python}"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$OUT/nvidia-smi.txt"
"$PY" -m pytest -q -m gpu tests robust adaptive traincore -p no:cacheprovider \
    2>&1 | tee "$OUT/gpu-tests.log"
"$PY" -m pytest benchmarks -o addopts="" -p no:cacheprovider -q --benchmark-only \
    -k "${BENCH_FILTER:-gpu or cuda or resnet or fleet}" \
    --benchmark-json="$OUT/raw.json" 2>&1 | tee "$OUT/bench.log"
"$PY" benchmarks/summarize.py "$OUT/raw.json" "$OUT/summary"
