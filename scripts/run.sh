#!/usr/bin/env bash
# Sets everything up and runs the main job on the default spec.
# Usage: bash scripts/run.sh [SPEC]   (default: specs/ring.xml)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
swift build -c release --product ganc
spec="${1:-specs/ring.xml}"
# The main job: check the default spec (training arrives with `ganc train`).
.build/release/ganc lint "$spec"
