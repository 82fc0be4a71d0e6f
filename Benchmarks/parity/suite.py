"""The parity table: Benchmarks/parity/parity.py over every shipped spec and
over generated specs (generate.py) that together use every layer kind, loss,
optimizer and option. Prints one row per spec (the largest relative error
after each traced step) and exits 1 if any spec fails after one step or if
ganc fails to train a spec that lints clean.

Usage: python suite.py [--steps 100] [--generated 40] [--shipped specs/*.xml] [--ganc PATH]
       python suite.py --quick      # the test suite's subset: 2 steps, 12 generated specs
"""
import argparse
import glob
import io
import re
import os
import subprocess
import sys
import shutil
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import generate  # noqa: E402
import parity  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--generated", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1, help="seed of the spec generator")
    ap.add_argument("--shipped", nargs="*", help="shipped specs (default: specs/*.xml)")
    ap.add_argument("--quick", action="store_true", help="2 steps, 12 generated specs, the shipped specs")
    ap.add_argument("--ganc", default=os.environ.get("GANC", ".build/release/ganc"))
    ap.add_argument("-v", "--verbose", action="store_true", help="print each spec's full report")
    args = ap.parse_args()
    if args.quick:
        args.steps, args.generated = 2, 12
    shipped = args.shipped if args.shipped is not None else sorted(glob.glob("specs/*.xml"))
    folder = tempfile.mkdtemp(prefix="ganc-parity-specs-")
    generate.write_data(folder)
    gen = generate.Gen(generate.random.Random(args.seed))
    specs = list(shipped)
    # Hand-written cases of the layers and options the shipped specs do not
    # use (attention, DiffAugment, ...), on the generated specs' data files.
    for case in sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cases", "*.xml"))):
        shutil.copy(case, folder)
        specs.append(os.path.join(folder, os.path.basename(case)))
    for i in range(args.generated):
        path = os.path.join(folder, f"gen-{i:03d}.xml")
        with open(path, "w") as f:
            f.write(gen.spec(f"gen-{i:03d}"))
        specs.append(path)
    rows, failures = [], []
    print(f"| spec | steps | worst relative error after each traced step | first D loss | tensors explained by rounding |")
    print("|---|---|---|---|---|")
    for path in specs:
        lint = subprocess.run([args.ganc, "lint", path, "-q", "--color", "never"], capture_output=True, text=True)
        if lint.returncode != 0:
            failures.append(f"{path}: does not lint clean:\n{lint.stderr}")
            continue
        report = io.StringIO()
        steps, note = args.steps, ""
        try:
            try:
                r = parity.check(path, steps=steps, ganc=args.ganc, out=lambda line: report.write(line + "\n"))
            except parity.GancFailed as e:
                # A spec whose learning rates blow it up stops with ganc's
                # divergence error; the steps before it are still compared.
                diverged = re.search(r"training diverged at step (\d+)", str(e))
                if not diverged or int(diverged.group(1)) < 2:
                    raise
                steps, note = int(diverged.group(1)) - 1, f" (diverges at step {diverged.group(1)})"
                r = parity.check(path, steps=steps, ganc=args.ganc, out=lambda line: report.write(line + "\n"))
        except parity.GancFailed as e:
            failures.append(f"{path}: {e}")
            print(f"| {os.path.basename(path)} | {args.steps} | ganc failed | | |", flush=True)
            continue
        errors = ", ".join(f"{step}: {err:.1e}" for step, (err, _) in r["worst"].items())
        print(f"| {os.path.basename(path)} | {steps}{note} | {errors} | {r['loss']:.1e} | {r['explained']} |", flush=True)
        if args.verbose or not r["ok"]:
            sys.stdout.write(report.getvalue())
        if not r["ok"]:
            failures.append(f"{path}: parity failed after one step (see above)")
    if failures:
        print(f"\n{len(failures)} of {len(specs)} specs failed (generated specs are in {folder}):", file=sys.stderr)
        for f in failures:
            print("  " + f, file=sys.stderr)
        raise SystemExit(1)
    print(f"\nall {len(specs)} specs at parity after one step")


if __name__ == "__main__":
    main()
