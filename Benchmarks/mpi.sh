#!/usr/bin/env bash
# Data-parallel scaling on one machine: 1 process x T threads against R ranks
# x (T/R) threads (mpirun), on the three reference models, alternating.
# Prints samples per second (from metrics.csv's seconds, so compilation and
# data loading are left out) and, for the ranks, the allreduce's share.
# Usage: bash Benchmarks/mpi.sh [CORES] [RANKS] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
cores="${1:-2}"; ranks="${2:-2}"; rounds="${3:-2}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
swift build -c release --product ganc >/dev/null
g=.build/release/ganc
work=$(mktemp -d)
rate() {  # run folder, steps, batch -> samples per second
  awk -F, -v s="$2" -v b="$3" 'END { printf "%.0f", s * b / $6 }' "$1/metrics.csv"
}
for model in ring-mlp:400:512 fashion-mlp:300:64 fashion-dcgan:40:64; do
  IFS=: read -r name steps batch <<<"$model"
  for round in $(seq "$rounds"); do
    rm -rf "$work"/*
    taskset -c "0-$((cores - 1))" "$g" train "Benchmarks/bench-$name.xml" --steps "$steps" --threads "$cores" --out "$work/one" -q
    share=$(taskset -c "0-$((cores - 1))" mpirun -np "$ranks" --oversubscribe --bind-to none "$g" train "Benchmarks/bench-$name.xml" \
      --steps "$steps" --threads $((cores / ranks > 0 ? cores / ranks : 1)) --out "$work/ranks" 2>&1 | sed -n 's/.*allreduce took .*(\(.*%\)).*/\1/p')
    echo "$name round $round: 1 x $cores threads $(rate "$work/one" "$steps" "$batch") samples/s; $ranks ranks x $((cores / ranks)) $(rate "$work/ranks" "$steps" "$batch") samples/s (allreduce $share of rank 0's time)"
  done
done
rm -rf "$work"
