"""PacGAN's metrics for 2-D mixtures (Lin et al. 2018), as `ganc eval` reports
them: a sample is high quality when it lies within 3 standard deviations of
its nearest mode centre; a mode is covered when it gets a high-quality sample;
KL is the divergence of the high-quality samples' histogram over modes from
the uniform distribution. One judge for ganc's and PyTorch's samples.
"""
import math

import numpy as np


def mixture_centres(data):
    """Mode centres and per-mode std of a `ring` or `grid` data element."""
    if data["source"] == "ring":
        modes, radius = int(data.get("modes", "8")), float(data.get("radius", "1"))
        angles = 2 * math.pi * np.arange(modes) / modes
        return np.stack([radius * np.cos(angles), radius * np.sin(angles)], 1), float(data.get("std", "0.01"))
    size, spacing = int(data.get("size", "5")), float(data.get("spacing", "2"))
    axis = (np.arange(size) - (size - 1) / 2) * spacing
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], 1), float(data.get("std", "0.05"))


def mode_metrics(samples, centres, std):
    samples = np.asarray(samples, np.float64).reshape(len(samples), -1)[:, :2]
    finite = np.isfinite(samples).all(1)
    d = np.linalg.norm(samples[finite, None, :] - centres[None], axis=2)
    nearest, dist = d.argmin(1), d.min(1)
    good = dist < 3 * std
    counts = np.bincount(nearest[good], minlength=len(centres))
    total = counts.sum()
    if total:
        p = counts[counts > 0] / total
        kl = float((p * np.log(p * len(centres))).sum())
    else:
        kl = float("inf")
    return {"modes": len(centres), "modes_covered": int((counts > 0).sum()),
            "high_quality_share": float(total / len(samples)) if len(samples) else 0.0, "kl_to_uniform": kl}
