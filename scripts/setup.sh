#!/usr/bin/env bash
# Installs what ganc needs from Debian: libxml2 (spec parsing and XSD
# validation), zlib (gzipped data files), libpng (sample images), oneDNN
# (matrix products and convolutions), Open MPI (data-parallel training under
# mpirun) and the Fashion-MNIST data set used by
# the shipped specs. With --test, also what the tests read ganc's artefacts
# with: Chromium (headless) for the run report. Safe to run again: it only
# installs what is missing.
set -euo pipefail
pkgs=(libxml2-dev zlib1g-dev libpng-dev libdnnl-dev libopenmpi-dev openmpi-bin dataset-fashion-mnist pkg-config)
if [ "${1:-}" = "--test" ]; then pkgs+=(chromium); fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
