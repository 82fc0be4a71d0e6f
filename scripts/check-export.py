"""Exports the generator of every shipped GAN spec (and the net of each
classifier spec, checked against PyTorch's own net) and reads it back with the
tools its users have: `onnx.checker` (full check, with shape inference) and
onnxruntime run the ONNX model at two batch sizes on the same noise (and
labels) as `ganc sample --noise --labels`; PyTorch loads the safetensors
export into the parity harness's own G (Benchmarks/parity/torchgan.py, built
from the spec with PyTorch's layers and spectral norm) and runs it in eval
mode on that noise too. All three must agree within 1e-5 of the samples'
largest magnitude. Exits non-zero on any difference.

By default: every shipped spec, the parity harness's hand-written cases
(attention, conditional batch norm, blocks, spectral norm, ...) and 12 of
its generated specs (seed 1). Each spec is trained for a few steps first (so batch-norm statistics, EMA
weights and spectral norm's u and v are no longer their initial values).

Usage: python scripts/check-export.py [--ganc .build/debug/ganc] [--steps 3] [--generated 12] [SPEC ...]
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import torch
from safetensors.torch import load_file

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Benchmarks", "parity"))
import ganspec  # noqa: E402
import generate  # noqa: E402
import torchgan  # noqa: E402


def train_and_export(spec_path, ganc, steps, folder, stem):
    """Trains a few steps, exports both formats (RUN/STEM.onnx, RUN/STEM.safetensors), checks the model."""
    name = os.path.splitext(os.path.basename(spec_path))[0]
    run = os.path.join(folder, name)
    subprocess.run([ganc, "train", spec_path, "--steps", str(steps), "--out", run, "-q", "--threads", "2"], check=True)
    subprocess.run([ganc, "export", run], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([ganc, "export", run, "--format", "safetensors"], check=True, stdout=subprocess.DEVNULL)
    model_path = os.path.join(run, stem + ".onnx")
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == 17, model.opset_import
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    return name, run, model_path, model, session, os.path.join(run, stem + ".safetensors")


def check(spec_path, ganc, steps, folder, tolerance):
    name, run, model_path, model, session, weights_path = train_and_export(spec_path, ganc, steps, folder, "generator")
    inputs = {i.name: i for i in session.get_inputs()}
    assert inputs["z"].shape[0] == "batch", inputs["z"].shape
    latent = inputs["z"].shape[1]
    spec = ganspec.load(spec_path)
    conditional = "label" in inputs
    problems = []
    rng = np.random.default_rng(7)
    worst, worst_torch = 0.0, 0.0
    for n in (5, 1):
        z = rng.standard_normal((n, latent)).astype(np.float32)
        feeds = {"z": z}
        command = [ganc, "sample", run, "--format", "npy", "--noise", os.path.join(folder, "z.npy"), "--out", os.path.join(folder, "s.npy")]
        np.save(os.path.join(folder, "z.npy"), z)
        if conditional:
            labels = rng.integers(0, 10, n).astype(np.int64)
            feeds["label"] = labels
            np.save(os.path.join(folder, "labels.npy"), labels)
            command += ["--labels", os.path.join(folder, "labels.npy")]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        ours = np.load(os.path.join(folder, "s.npy"))
        onnx_out = session.run(["samples"], feeds)[0]
        scale = max(1.0, float(np.abs(ours).max()))
        error = float(np.abs(onnx_out - ours).max()) / scale
        worst = max(worst, error)
        if onnx_out.shape != ours.shape or not error <= tolerance:
            problems.append(f"batch {n}: onnxruntime {onnx_out.shape} vs ganc sample {ours.shape}, error {error:.2e}")

        # PyTorch: the harness's G from the spec, with the exported weights.
        G = torchgan.Net(spec.generator, torchgan.Draws())
        state = load_file(weights_path)
        missing, unexpected = G.load_state_dict(state, strict=False)
        missing = [m for m in missing if not m.endswith("num_batches_tracked")]
        if missing or unexpected:
            problems.append(f"safetensors: missing {missing}, unexpected {unexpected}")
            continue
        G.eval()
        with torch.no_grad():
            label = torch.from_numpy(feeds["label"]).float().reshape(n, 1) if conditional else None
            out = G(torch.from_numpy(z), label).numpy().reshape(ours.shape)
        init = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
        if "data_std" in init:
            out = out * init["data_std"] + init["data_mean"]
        error_torch = float(np.abs(out - ours).max()) / scale
        worst_torch = max(worst_torch, error_torch)
        if not error_torch <= tolerance:
            problems.append(f"batch {n}: PyTorch with the safetensors weights vs ganc sample, error {error_torch:.2e}")
    size = os.path.getsize(model_path)
    print(f"{name}: onnx {size / 1e6:.2f} MB, {len(model.graph.node)} nodes, inputs {sorted(inputs)}: "
          + ("ok" if not problems else "; ".join(problems)) + f" (worst error: onnxruntime {worst:.1e}, PyTorch {worst_torch:.1e})")
    return problems


def check_classifier(spec_path, ganc, steps, folder, tolerance):
    """A classifier run (a judge): its ONNX logits against PyTorch's own net with the safetensors weights."""
    name, run, model_path, model, session, weights_path = train_and_export(spec_path, ganc, steps, folder, "classifier")
    spec = ganspec.load(spec_path)
    net = torchgan.Net(spec.discriminator, torchgan.Draws())
    missing, unexpected = net.load_state_dict(load_file(weights_path), strict=False)
    problems = []
    if [m for m in missing if not m.endswith("num_batches_tracked")] or unexpected:
        problems.append(f"safetensors: missing {missing}, unexpected {unexpected}")
    net.eval()
    rng = np.random.default_rng(7)
    worst = 0.0
    for n in (5, 1):
        x = rng.uniform(-1, 1, (n,) + tuple(spec.data_shape)).astype(np.float32)
        logits, features = session.run(["logits", "features"], {"x": x})
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        error = float(np.abs(logits - ref).max()) / max(1.0, float(np.abs(ref).max()))
        worst = max(worst, error)
        if logits.shape != ref.shape or features.shape[0] != n or not error <= tolerance:
            problems.append(f"batch {n}: onnxruntime logits {logits.shape} vs PyTorch {ref.shape}, error {error:.2e}")
    print(f"{name} (classifier): onnx {os.path.getsize(model_path) / 1e6:.2f} MB, {len(model.graph.node)} nodes: "
          + ("ok" if not problems else "; ".join(problems)) + f" (worst logit error against PyTorch {worst:.1e})")
    return problems


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ganc", default=".build/debug/ganc")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--tolerance", type=float, default=1e-5)
    ap.add_argument("--generated", type=int, default=12, help="generated specs (Benchmarks/parity/generate.py)")
    ap.add_argument("--seed", type=int, default=1, help="seed of the spec generator")
    ap.add_argument("specs", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(2)
    folder = tempfile.mkdtemp(prefix="ganc-export-")
    specs = args.specs
    if not specs:
        specs = sorted(glob.glob("specs/*.xml"))
        generate.write_data(folder)
        for case in sorted(glob.glob("Benchmarks/parity/cases/*.xml")):
            shutil.copy(case, folder)
            specs.append(os.path.join(folder, os.path.basename(case)))
        gen = generate.Gen(generate.random.Random(args.seed))
        for i in range(args.generated):
            path = os.path.join(folder, f"gen-{i:03d}.xml")
            with open(path, "w") as f:
                f.write(gen.spec(f"gen-{i:03d}"))
            specs.append(path)
    failed = []
    for path in specs:
        with open(path) as f:
            classifier = "<classifier" in f.read()
        if (check_classifier if classifier else check)(path, args.ganc, args.steps, folder, args.tolerance):
            failed.append(path)
    if failed:
        print(f"check-export: {len(failed)} specs differ: {', '.join(failed)}")
        sys.exit(1)
    print("check-export: every exported generator and classifier reads back in onnxruntime and PyTorch")


if __name__ == "__main__":
    main()
