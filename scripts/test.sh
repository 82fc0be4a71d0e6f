#!/usr/bin/env bash
# Sets everything up and runs the test suite: the Swift tests, then the
# quick parity suite (every shipped spec and 12 generated ones, 2 steps each,
# against an independent PyTorch model; Benchmarks/parity/), the artefact
# checks with their users' tools (TensorBoard, onnxruntime), then a minute of
# fuzzing the spec front end with leak detection on (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
# The code follows the formatter's configuration (.swift-format).
swift format lint --strict -r Sources Tests Fuzz Examples
swift build --build-tests
swift test --skip-build
python=$(bash Benchmarks/parity/setup.sh)
"$python" Benchmarks/parity/suite.py --quick --ganc .build/debug/ganc
# A run's TensorBoard event file, read back by TensorBoard's own reader.
"$python" scripts/check-tensorboard.py --ganc .build/debug/ganc
# Every shipped generator exported, read back by onnx.checker, onnxruntime and PyTorch.
"$python" scripts/check-export.py --ganc .build/debug/ganc --steps 2
# A run's report.html rendered by headless Chromium, and its command rerun.
"$python" scripts/check-report.py --ganc .build/debug/ganc
scripts/fuzz.sh "${GANC_FUZZ_SECONDS:-60}"
