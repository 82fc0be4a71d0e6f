"""Trains a spec in PyTorch, independently of ganc (its own random numbers),
as the reference for learning tables; the same model, game and budget as
`ganc train` (torchgan.Game), one thread by default.

Writes into OUT: samples.npy (N generated samples, G in eval mode, EMA weights
when the spec keeps them), eval.json (PacGAN's mode metrics for ring and grid
data) and seconds (training time).

Usage: python reference.py SPEC --out OUT [--steps N] [--seed N] [--samples 2500] [--threads 1]
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ganspec  # noqa: E402
from metrics import mixture_centres, mode_metrics  # noqa: E402
from torchgan import Draws, Game  # noqa: E402


class Data:
    """Real batches: ring and grid mixtures (fresh draws, or a fixed set of
    `samples` points visited in shuffled epochs) and IDX images in [-1, 1]."""

    def __init__(self, spec, rng):
        d = spec.data
        self.rng = rng
        self.fixed = None
        source = d["source"]
        if source in ("ring", "grid"):
            self.centres, self.std = mixture_centres(d)
            n = int(d.get("samples", "0"))
            if n > 0:
                self.fixed = self.draw(n)
        elif source == "idx":
            import gzip
            path = d["images"] if os.path.isabs(d["images"]) else os.path.join(spec.folder, d["images"])
            raw = (gzip.open if path.endswith(".gz") else open)(path, "rb").read()
            n, h, w = (int.from_bytes(raw[i:i + 4], "big") for i in (4, 8, 12))
            images = np.frombuffer(raw, np.uint8, n * h * w, 16).reshape(n, 1, h, w)
            self.fixed = images.astype(np.float32) / 127.5 - 1
        else:
            raise SystemExit(f"reference: data source {source} is not supported here")
        self.order, self.at = None, 0

    def draw(self, n):
        modes = self.rng.integers(0, len(self.centres), n)
        return (self.centres[modes] + self.std * self.rng.standard_normal((n, 2))).astype(np.float32)

    def batch(self, n):
        if self.fixed is None:
            return torch.from_numpy(self.draw(n))
        out = []
        while n > 0:
            if self.order is None or self.at == len(self.order):
                self.order, self.at = self.rng.permutation(len(self.fixed)), 0
            take = min(n, len(self.order) - self.at)
            out.append(self.fixed[self.order[self.at:self.at + take]])
            self.at += take
            n -= take
        return torch.from_numpy(np.concatenate(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("spec")
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--samples", type=int, default=2500)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    spec = ganspec.load(args.spec, steps=args.steps, seed=args.seed)
    t = spec.training
    if t["conditional"]:
        raise SystemExit("reference: conditional specs are not supported here")
    torch.manual_seed(t["seed"])
    data = Data(spec, np.random.default_rng(t["seed"]))
    game = Game(spec, Draws())
    batch = t["batch"] * t["pack"]

    def noise(n):
        if spec.latent_distribution == "uniform":
            return torch.rand(n, spec.latent_size) * 2 - 1
        return torch.randn(n, spec.latent_size)

    start = time.time()
    for step in range(t["steps"]):
        for _ in range(t["d-steps"]):
            game.d_step(noise(batch), data.batch(batch))
        game.g_step(noise(batch))
    seconds = time.time() - start
    os.makedirs(args.out, exist_ok=True)
    game.G.eval()
    with torch.no_grad():
        if game.ema is not None:
            for n, p in game.G.named_parameters():
                p.copy_(game.ema[n])
        samples = game.G(noise(args.samples)).numpy()
    np.save(os.path.join(args.out, "samples.npy"), samples)
    with open(os.path.join(args.out, "seconds"), "w") as f:
        f.write(f"{seconds:.1f}\n")
    if spec.data["source"] in ("ring", "grid"):
        report = mode_metrics(samples, *mixture_centres(spec.data))
        with open(os.path.join(args.out, "eval.json"), "w") as f:
            json.dump(report, f)
        print(json.dumps(report))


if __name__ == "__main__":
    main()
