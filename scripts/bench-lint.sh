#!/usr/bin/env bash
# Benchmark: time `ganc lint` on a generated 200-layer spec (release build).
# Usage: bash scripts/bench-lint.sh [LAYERS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
layers="${1:-200}"; runs="${2:-20}"
swift build -c release --product ganc >/dev/null
spec=$(mktemp --suffix=.xml)
python3 - "$layers" > "$spec" <<'PY'
import sys
n = int(sys.argv[1])
print('<gan name="deep" version="1">\n  <data source="ring"/>\n  <latent size="32"/>\n  <generator>')
for i in range(n // 2 - 1):
    print('    <dense units="64" activation="relu"/>')
print('    <dense units="2"/>\n  </generator>\n  <discriminator>')
for i in range(n // 2 - 1):
    print('    <dense units="64" activation="leaky-relu"/>')
print('    <dense units="1"/>\n  </discriminator>')
print('  <training steps="10" batch="64">\n    <optimizer net="generator" lr="1e-3"/>\n    <optimizer net="discriminator" lr="1e-3"/>\n  </training>\n</gan>')
PY
.build/release/ganc lint -q "$spec" >/dev/null
start=$(date +%s%N)
for _ in $(seq "$runs"); do .build/release/ganc lint -q "$spec" >/dev/null; done
end=$(date +%s%N)
echo "ganc lint, $layers layers: $(( (end - start) / runs / 1000000 )) ms per run (whole process, mean of $runs)"
rm -f "$spec"
