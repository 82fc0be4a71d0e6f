#!/usr/bin/env bash
# Trains the four PacGAN specs over several seeds and prints PacGAN's table
# (modes covered and high-quality share, mean +- standard error over seeds).
# Usage: bash scripts/pacgan-table.sh [STEPS] [SEEDS...]   (default 10000 steps, seeds 1 2)
# Runs two single-threaded trainings at a time on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-10000}"; shift || true
seeds=("$@")
[ ${#seeds[@]} -eq 0 ] && seeds=(1 2)
swift build -c release --product ganc >/dev/null
out=runs/pacgan
mkdir -p "$out"
jobs=()
for spec in pacgan-ring pacgan-ring-pack2 pacgan-grid pacgan-grid-pack2; do
  for seed in "${seeds[@]}"; do jobs+=("$spec $seed"); done
done
run() {
  local spec=$1 seed=$2 dir="$out/$1-seed$2"
  rm -rf "$dir"
  local start=$(date +%s)
  .build/release/ganc train "specs/$spec.xml" --steps "$steps" --seed "$seed" --threads 1 --out "$dir" -q
  echo $(( $(date +%s) - start )) > "$dir/seconds"
  .build/release/ganc eval "$dir" > "$dir/eval.txt"
}
i=0
while [ $i -lt ${#jobs[@]} ]; do
  run ${jobs[$i]} &
  if [ $((i + 1)) -lt ${#jobs[@]} ]; then run ${jobs[$((i + 1))]} & fi
  wait
  i=$((i + 2))
done
python3 - "$out" "$steps" <<'PY'
import json, math, os, sys
out, steps = sys.argv[1], int(sys.argv[2])
print(f"PacGAN 2-D experiments, {steps} steps ({steps / 1000:g} epochs of 100,000 points), 2,500 samples")
print("| spec | seeds | modes covered | high-quality share | KL | seconds per run |")
print("|---|---|---|---|---|---|")
for spec in ["pacgan-ring", "pacgan-ring-pack2", "pacgan-grid", "pacgan-grid-pack2"]:
    runs = sorted(d for d in os.listdir(out) if d.startswith(spec + "-seed"))
    rows = [json.load(open(f"{out}/{d}/eval.json")) for d in runs]
    secs = [int(open(f"{out}/{d}/seconds").read()) for d in runs]
    def stat(key, scale=1):
        v = [r[key] * scale for r in rows]
        m = sum(v) / len(v)
        se = (sum((x - m) ** 2 for x in v) / (len(v) - 1)) ** 0.5 / len(v) ** 0.5 if len(v) > 1 else 0
        return m, se
    modes, mse = stat("modes_covered"); hq, hse = stat("high_quality_share", 100); kl, kse = stat("kl_to_uniform")
    total = rows[0]["modes"]
    print(f"| {spec} | {len(rows)} | {modes:.1f} +- {mse:.1f} of {total} | {hq:.1f}% +- {hse:.1f} | {kl:.3f} +- {kse:.3f} | {sum(secs) / len(secs):.0f} |")
PY
