"""The three reference models of ganc's benchmarks, in PyTorch (CPU).

Each iteration is one D update (a real and a generated batch) and one G update
with fresh noise, Adam for both, the non-saturating loss, fp32 - the same work
as `ganc bench` on specs/bench-*.xml.

Usage: python3 pytorch_gan.py MODEL [--threads N] [--iterations N] [--warmup N]
MODEL: ring-mlp | fashion-mlp | fashion-dcgan
"""
import argparse
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def ring_mlp():
    g = nn.Sequential(nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2))
    d = nn.Sequential(nn.Linear(2, 256), nn.LeakyReLU(0.2), nn.Linear(256, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d, 64, (2,), 512


def fashion_mlp():
    g = nn.Sequential(nn.Linear(100, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2),
                      nn.Linear(512, 1024), nn.LeakyReLU(0.2), nn.Linear(1024, 784), nn.Tanh(), nn.Unflatten(1, (1, 28, 28)))
    d = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
    return g, d, 100, (1, 28, 28), 64


def fashion_dcgan():
    g = nn.Sequential(nn.Linear(100, 6272, bias=False), nn.BatchNorm1d(6272), nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
                      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
                      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1, bias=False),
                      nn.BatchNorm2d(128), nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(6272, 1))
    return g, d, 100, (1, 28, 28), 64


MODELS = {"ring-mlp": ring_mlp, "fashion-mlp": fashion_mlp, "fashion-dcgan": fashion_dcgan}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=MODELS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g, d, z_size, shape, batch = MODELS[args.model]()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = torch.rand((batch,) + shape) * 2 - 1

    def iteration():
        # D: real and generated batches, G without gradients.
        opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = g(torch.randn(batch, z_size))
        loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake)).mean()
        loss_d.backward()
        opt_d.step()
        # G: fresh noise, gradients through D into G.
        opt_g.zero_grad(set_to_none=True)
        loss_g = F.softplus(-d(g(torch.randn(batch, z_size)))).mean()
        loss_g.backward()
        opt_g.step()

    for _ in range(args.warmup):
        iteration()
    start = time.perf_counter()
    for _ in range(args.iterations):
        iteration()
    ms = (time.perf_counter() - start) / args.iterations * 1000
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"pytorch {torch.__version__} {args.model}: {ms:.3f} ms per iteration, {args.threads} threads, peak RSS {rss:.0f} MiB")


if __name__ == "__main__":
    main()
