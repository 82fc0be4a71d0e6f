#!/usr/bin/env bash
# Fuzzes the spec front end (Fuzz/SpecFuzzer) with libFuzzer and
# AddressSanitizer, leak detection on, starting from the corpus in
# Fuzz/corpus (the shipped specs, the tests' broken specs, layer files).
#
#   scripts/fuzz.sh [SECONDS] [JOBS]     default: 60 seconds, 1 job
# New inputs go to .build/fuzz-corpus (not committed); a crash leaves
# crash-* in .build/fuzz-artifacts and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${2:-1}
swift build -c release --product SpecFuzzer --build-path .build/fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING >/dev/null
binary=$(swift build -c release --product SpecFuzzer --build-path .build/fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --show-bin-path)/SpecFuzzer
mkdir -p .build/fuzz-corpus .build/fuzz-artifacts
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1
args=(-max_total_time="$seconds" -max_len=8192 -timeout=10 -rss_limit_mb=4096 -detect_leaks=1
  -dict=Fuzz/spec.dict -artifact_prefix=.build/fuzz-artifacts/ -print_final_stats=1)
if [ "$jobs" -gt 1 ]; then args+=(-jobs="$jobs" -workers="$jobs"); fi
"$binary" "${args[@]}" .build/fuzz-corpus Fuzz/corpus
