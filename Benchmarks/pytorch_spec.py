"""Times any spec's training iteration in PyTorch: the model the parity
harness builds from the spec (Benchmarks/parity: ganspec.py reads the spec,
torchgan.py builds G, D, the losses and optimizers with PyTorch's own layers,
spectral norm and bmm), fed random batches; k D-steps and one G-step per
iteration, as ganc runs them. Beside `ganc bench SPEC`, the ratio of the two
is the speed of ganc's compiled steps against eager PyTorch on the same model.

Usage: python Benchmarks/pytorch_spec.py SPEC [--threads 2] [--iterations 20] [--warmup 3]
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "parity"))
import ganspec  # noqa: E402
import torchgan  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    spec = ganspec.load(args.spec)
    game = torchgan.Game(spec, torchgan.Draws())
    t = spec.training
    n = t["batch"] * t["pack"]
    conditional = t["conditional"]

    def batch():
        z = torch.randn(n, spec.latent_size)
        x = torch.rand((n,) + tuple(spec.data_shape)) * 2 - 1
        labels = torch.randint(0, 10, (n, 1)).float() if conditional else None
        return z, x, labels

    def iteration():
        for _ in range(t["d-steps"]):
            z, x, labels = batch()
            game.d_step(z, x, labels, labels)
        z, _, labels = batch()
        game.g_step(z, labels)

    for _ in range(args.warmup):
        iteration()
    start = time.perf_counter()
    for _ in range(args.iterations):
        iteration()
    seconds = (time.perf_counter() - start) / args.iterations
    print(f"pytorch {spec.name}: {seconds * 1000:.3f} ms per iteration ({t['d-steps']} D-steps + G-step, batch {t['batch']}, "
          f"{args.threads} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
