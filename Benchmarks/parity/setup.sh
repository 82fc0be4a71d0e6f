#!/usr/bin/env bash
# The parity harness's own environment: a virtual environment at .venv-parity
# with PyTorch's CPU-only wheel (torch==2.13.0+cpu imports without CUDA
# packages; plain `torch` from PyPI is the 5 GB CUDA build), numpy and
# safetensors. Safe to run again. Prints the environment's python.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-parity
if ! "$venv/bin/python" -c "import torch, numpy, safetensors" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==2.13.0+cpu" numpy safetensors >&2 ||
    "$venv/bin/pip" install -q --disable-pip-version-check --index-url https://download.pytorch.org/whl/cpu torch >&2
  "$venv/bin/pip" install -q --disable-pip-version-check numpy safetensors >&2
fi
echo "$PWD/$venv/bin/python"
