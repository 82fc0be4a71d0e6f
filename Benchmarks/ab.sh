#!/usr/bin/env bash
# Times two ganc binaries on one spec, alternating them round by round on the
# same cores, and prints each round's ms per iteration and the median ratio.
# Usage: bash Benchmarks/ab.sh OLD_GANC NEW_GANC SPEC [ROUNDS] [THREADS]
set -euo pipefail
old="$1"; new="$2"; spec="$3"; rounds="${4:-5}"; threads="${5:-2}"
cores="0-$((threads - 1))"
ms() { taskset -c "$cores" "$1" bench "$spec" --threads "$threads" --iterations 30 | awk '/ms per iteration/ {print $4}'; }
ratios=()
for r in $(seq "$rounds"); do
  a=$(ms "$old"); b=$(ms "$new")
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN {printf "%.3f", b / a}')
  ratios+=("$ratio")
  echo "round $r: old $a ms, new $b ms, new/old $ratio"
done
printf '%s\n' "${ratios[@]}" | sort -n | awk '{r[NR] = $1} END {print "median new/old: " r[int((NR + 1) / 2)]}'
