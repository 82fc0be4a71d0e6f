"""Trains specs/ring.xml briefly (samples every 20 steps), evaluates it, and
opens RUN/report.html in headless Chromium: every picture must decode (the
page marks how many did once loaded), every section must be there with the
evaluation's numbers, and nothing may point outside the page. Then the
command the report gives is run again into a new folder and must give the
same weights. Exits non-zero on any problem.

Usage: python scripts/check-report.py [--ganc .build/debug/ganc] [--chromium chromium]
"""
import argparse
import os
import re
import shlex
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ganc", default=".build/debug/ganc")
    ap.add_argument("--chromium", default="chromium")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    ganc = os.path.abspath(args.ganc)
    folder = tempfile.mkdtemp(prefix="ganc-report-")
    with open("specs/ring.xml") as f:
        text = f.read().replace('samples-every="1000"', 'samples-every="20"')
    spec = os.path.join(folder, "ring.xml")
    with open(spec, "w") as f:
        f.write(text)
    run = os.path.join(folder, "run")
    subprocess.run([ganc, "train", spec, "--steps", str(args.steps), "--out", run, "-q", "--threads", "2"], check=True)
    subprocess.run([ganc, "eval", run], check=True, stdout=subprocess.DEVNULL)
    page = os.path.join(run, "report.html")
    problems = []
    with open(page) as f:
        html = f.read()
    if re.search(r'(src|href)="(https?:)?//', html):
        problems.append("the page refers to something outside itself")
    dom = subprocess.run([args.chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", "file://" + page],
                         capture_output=True, text=True, timeout=120).stdout
    # The loss curves, samples at steps 20, 40 and 60, and the final ones.
    want = 1 + args.steps // 20 + 1
    marked = re.search(r'data-images="(\d+) of (\d+)"', dom)
    if not marked or marked.group(1) != marked.group(2) or int(marked.group(2)) != want:
        problems.append(f"Chromium shows {marked.group(0) if marked else 'no image count'}, expected {want} of {want}")
    for section in ("Reproduce", "Curves", "Samples over time", "Evaluation", "Spec", "Compiled", "Files"):
        if f"<h2>{section}</h2>" not in dom:
            problems.append(f"no '{section}' section")
    for needle in ("modes_covered", "high_quality_share", "d_loss", "per training iteration", "&lt;gan name=\"ring\""):
        if needle not in dom:
            problems.append(f"the page lacks {needle}")
    # The command the report gives, into a new folder, gives the same weights.
    commands = re.findall(r"cd [^<\n]*? &amp;&amp; ganc train [^<\n]*", html)
    if len(commands) != 1:
        problems.append(f"expected one training command, found {commands}")
    else:
        line = commands[0].replace("&amp;", "&").replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&#39;", "'")
        words = shlex.split(line.split("&&", 1)[1])
        again = os.path.join(folder, "again")
        words[words.index("--out") + 1] = again
        subprocess.run([ganc] + words[1:], check=True, cwd=shlex.split(line.split("&&", 1)[0])[1])
        a, b = load_file(os.path.join(run, "checkpoint.safetensors")), load_file(os.path.join(again, "checkpoint.safetensors"))
        if sorted(a) != sorted(b) or any(not np.array_equal(a[k], b[k]) for k in a):
            problems.append("the report's command gives different weights")
    for p in problems:
        print("check-report:", p)
    if problems:
        sys.exit(1)
    print(f"check-report: {page} renders in Chromium with its {want} pictures; its command reproduces the weights")


if __name__ == "__main__":
    main()
