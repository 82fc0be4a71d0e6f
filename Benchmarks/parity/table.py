"""Prints the side-by-side PacGAN table from the runs under a folder written by
scripts/pacgan-table.sh: for each spec, ganc and PyTorch, mean +- standard
error over seeds of modes covered, high-quality share and KL (one judge:
metrics.py on each run's samples.npy), and the mean training time.

Usage: python table.py [runs/pacgan-table]
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ganspec  # noqa: E402
from metrics import mixture_centres, mode_metrics  # noqa: E402

SPECS = ["pacgan-ring", "pacgan-ring-pack2", "pacgan-grid", "pacgan-grid-pack2"]


def stat(values):
    v = np.asarray(values, float)
    se = v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0
    return v.mean(), se


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "runs/pacgan-table"
    steps = open(os.path.join(root, "steps")).read().strip() if os.path.exists(os.path.join(root, "steps")) else "?"
    print(f"PacGAN 2-D experiments, {steps} steps, 2,500 samples per run, one thread per run, two runs at a time; "
          "mean +- standard error over seeds")
    print("| spec | trainer | seeds | modes covered | high-quality share | KL | seconds per run |")
    print("|---|---|---|---|---|---|---|")
    for spec in SPECS:
        data = ganspec.load(f"specs/{spec}.xml").data
        centres, std = mixture_centres(data)
        for trainer in ("ganc", "pytorch"):
            rows, secs = [], []
            folder = os.path.join(root, trainer)
            if not os.path.isdir(folder):
                continue
            for run in sorted(os.listdir(folder)):
                path = os.path.join(folder, run)
                if not run.startswith(spec + "-seed") or not os.path.exists(os.path.join(path, "samples.npy")):
                    continue
                rows.append(mode_metrics(np.load(os.path.join(path, "samples.npy")), centres, std))
                secs.append(float(open(os.path.join(path, "seconds")).read()))
            if not rows:
                continue
            m, mse = stat([r["modes_covered"] for r in rows])
            h, hse = stat([100 * r["high_quality_share"] for r in rows])
            k, kse = stat([r["kl_to_uniform"] for r in rows])
            print(f"| {spec} | {trainer} | {len(rows)} | {m:.1f} +- {mse:.1f} of {len(centres)} | {h:.1f}% +- {hse:.1f} "
                  f"| {k:.3f} +- {kse:.3f} | {np.mean(secs):.0f} |")


if __name__ == "__main__":
    main()
