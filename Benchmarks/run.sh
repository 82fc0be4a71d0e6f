#!/usr/bin/env bash
# Runs ganc and PyTorch side by side on the three reference models, alternating
# the contenders, pinned to the same cores. Quote the ratio, not the times.
# Usage: bash Benchmarks/run.sh [THREADS] [ROUNDS]
# PyTorch: a CPU-only wheel in a virtual environment, e.g.
#   python3 -m venv venv-bench && venv-bench/bin/pip install torch==2.13.0+cpu
#   PYTHON=venv-bench/bin/python bash Benchmarks/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
threads="${1:-2}"; rounds="${2:-3}"
python="${PYTHON:-python3}"
cores="0-$((threads - 1))"
swift build -c release --product ganc >/dev/null
for model in ring-mlp fashion-mlp fashion-dcgan; do
  for round in $(seq "$rounds"); do
    taskset -c "$cores" .build/release/ganc bench "Benchmarks/bench-$model.xml" --threads "$threads" --iterations 50 \
      | awk -v m="$model" '/ms per iteration/ {print "ganc " m ": " $4 " ms per iteration"} /peak RSS/ {print "  peak RSS " $3 " " $4}'
    PYTHONWARNINGS=ignore taskset -c "$cores" "$python" Benchmarks/pytorch_gan.py "$model" --threads "$threads" --iterations 50
  done
done
