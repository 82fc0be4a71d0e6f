#!/usr/bin/env bash
# Learning A/B of two ganc binaries on a 2-D spec: trains SPEC with each
# binary for the same seeds (one thread per run, the two binaries side by
# side), evaluates each run with its own binary, and prints the mean and
# standard error of the high-quality share, the paired difference and the
# modes covered. GAN outcomes swing with the seed: use 20 or more.
# Usage: bash scripts/learning-ab.sh OLD_GANC NEW_GANC [SPEC] [FIRST_SEED] [SEEDS] [OUT]
#   e.g. a build of an earlier commit (git worktree add /tmp/old REV; swift build -c release
#   there) against .build/release/ganc on specs/ring.xml, seeds 101-130.
set -euo pipefail
old="$1"; new="$2"; spec="${3:-specs/ring.xml}"; first="${4:-101}"; count="${5:-30}"; out="${6:-runs/learning-ab}"
mkdir -p "$out"
one() {  # label binary seed
  local dir="$out/$1-$3"
  rm -rf "$dir"
  "$2" train "$spec" --seed "$3" --threads 1 --out "$dir" -q >/dev/null 2>&1
  "$2" eval "$dir" --threads 1 >/dev/null 2>&1
}
for seed in $(seq "$first" $((first + count - 1))); do
  one old "$old" "$seed" &
  one new "$new" "$seed"
  wait
done
python3 - "$out" "$first" "$count" <<'PY'
import json, statistics as st, sys
out, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def read(label, seed):
    with open(f"{out}/{label}-{seed}/eval.json") as f:
        return json.load(f)
seeds = range(first, first + count)
old = [read("old", s) for s in seeds]
new = [read("new", s) for s in seeds]
def line(name, values):
    se = st.stdev(values) / len(values) ** 0.5 if len(values) > 1 else 0
    print(f"{name}: {st.mean(values):.3f} +- {se:.3f}")
for key in ("high_quality_share", "modes_covered"):
    line(f"old {key}", [r[key] for r in old])
    line(f"new {key}", [r[key] for r in new])
line("paired new - old high_quality_share", [b["high_quality_share"] - a["high_quality_share"] for a, b in zip(old, new)])
PY
