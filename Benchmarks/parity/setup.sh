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
  # The CPU wheel where pip offers it (this kind of machine does); otherwise
  # PyPI's default build, which is larger but computes the same on the CPU.
  "$venv/bin/pip" install -q --disable-pip-version-check "torch==2.13.0+cpu" >&2 ||
    "$venv/bin/pip" install -q --disable-pip-version-check torch >&2
  "$venv/bin/pip" install -q --disable-pip-version-check numpy safetensors >&2
fi
# The tools users read ganc's artefacts with: TensorBoard's own reader for
# the event files (scripts/check-tensorboard.py), onnx's checker and
# onnxruntime for the exported generators (scripts/check-export.py).
if ! "$venv/bin/python" -c "import tensorboard, onnx, onnxruntime" 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check tensorboard onnx onnxruntime >&2
fi
echo "$PWD/$venv/bin/python"
