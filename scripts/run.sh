#!/usr/bin/env bash
# Sets everything up and runs the main job: training the default spec
# (specs/ring.xml, built-in data) into runs/ring, then evaluating it and
# exporting its generator as ONNX; RUN/report.html shows it all.
# Usage: bash scripts/run.sh [SPEC] [extra ganc train options]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product ganc
spec="${1:-specs/ring.xml}"
shift || true
name=$(basename "$spec" .xml)
out="runs/$name"
if [ -e "$out/checkpoint.safetensors" ]; then
  # Keep earlier runs: number the new folder instead of overwriting.
  i=2; while [ -e "runs/$name-$i" ]; do i=$((i + 1)); done; out="runs/$name-$i"
fi
.build/release/ganc train "$spec" --out "$out" "$@"
.build/release/ganc eval "$out"
.build/release/ganc export "$out"
echo "the run's report: $out/report.html"
