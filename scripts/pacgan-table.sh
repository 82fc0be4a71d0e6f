#!/usr/bin/env bash
# PacGAN's 2-D experiments, ganc beside PyTorch at the same budget: the ring
# and grid GAN over GAN_SEEDS seeds, their PacGAN2 variants over PACK_SEEDS,
# each trained by ganc and by the PyTorch reference (Benchmarks/parity/
# reference.py: the same model, game and data, its own random numbers), one
# thread per run and two runs at a time, then the table with mean, standard
# error and time for both (Benchmarks/parity/table.py). About two hours on two
# cores at the defaults; the table can be printed from finished runs at any
# time with `.venv-parity/bin/python Benchmarks/parity/table.py`.
# Usage: bash scripts/pacgan-table.sh [STEPS] [GAN_SEEDS] [PACK_SEEDS]   (default 10000 10 5)
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-10000}"; gan_seeds="${2:-10}"; pack_seeds="${3:-5}"
python=$(bash Benchmarks/parity/setup.sh)
swift build -c release --product ganc >/dev/null
out=runs/pacgan-table
rm -rf "$out"
mkdir -p "$out/ganc" "$out/pytorch"
echo "$steps" > "$out/steps"
# A private copy: rebuilding ganc during the runs must not change the contender.
cp .build/release/ganc "$out/ganc-binary"
jobs="$out/jobs"
: > "$jobs"
# The plain GANs first (the comparison that matters most), then PacGAN2.
for seed in $(seq "$gan_seeds"); do
  for spec in pacgan-ring pacgan-grid; do echo "$spec $seed" >> "$jobs"; done
done
for seed in $(seq "$pack_seeds"); do
  for spec in pacgan-ring-pack2 pacgan-grid-pack2; do echo "$spec $seed" >> "$jobs"; done
done
run_one() {  # TRAINER SPEC SEED
  local trainer=$1 spec=$2 seed=$3 dir="$out/$1/$2-seed$3"
  rm -rf "$dir"
  if [ "$trainer" = ganc ]; then
    local start=$(date +%s%N)
    "$out/ganc-binary" train "specs/$spec.xml" --steps "$steps" --seed "$seed" --threads 1 --out "$dir" -q
    awk -v ns=$(( $(date +%s%N) - start )) 'BEGIN { printf "%.1f\n", ns / 1e9 }' > "$dir/seconds"
    "$out/ganc-binary" sample "$dir" -n 2500 --format npy --out "$dir/samples.npy" >/dev/null
    "$out/ganc-binary" eval "$dir" > "$dir/eval.txt"
  else
    "$python" Benchmarks/parity/reference.py "specs/$spec.xml" --steps "$steps" --seed "$seed" --threads 1 --out "$dir" > /dev/null
  fi
}
export -f run_one
export out steps python
# Each (spec, seed) as two jobs, ganc and PyTorch, two at a time.
awk '{print "ganc " $0; print "pytorch " $0}' "$jobs" | xargs -P 2 -L 1 bash -c 'run_one "$@"' _
"$python" Benchmarks/parity/table.py "$out"
