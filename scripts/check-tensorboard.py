"""Trains specs/ring.xml briefly and reads the run's TensorBoard event file
back with TensorBoard's own reader (EventAccumulator): every scalar of
metrics.csv at every step, both learning rates, the sample images as
PNGs of the right size, and the spec and command as text summaries. Exits non-zero on any difference.

Usage: python scripts/check-tensorboard.py [--ganc .build/debug/ganc]
"""
import argparse
import csv
import glob
import io
import os
import struct
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing import event_accumulator


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ganc", default=".build/debug/ganc")
    ap.add_argument("--steps", type=int, default=60)
    args = ap.parse_args()
    run = os.path.join(tempfile.mkdtemp(prefix="ganc-tb-"), "ring")
    # A spec whose samples come every 20 steps, with a linear learning-rate decay.
    spec_dir = os.path.dirname(run)
    with open("specs/ring.xml") as f:
        text = f.read()
    text = text.replace('samples-every="1000"', 'samples-every="20"').replace('lr="1e-3" beta1="0.5"', 'lr="1e-3" schedule="linear" beta1="0.5"', 1)
    spec = os.path.join(spec_dir, "ring.xml")
    with open(spec, "w") as f:
        f.write(text)
    subprocess.run([args.ganc, "train", spec, "--steps", str(args.steps), "--out", run, "-q", "--threads", "2"], check=True)
    files = glob.glob(os.path.join(run, "events.out.tfevents.*"))
    assert len(files) == 1, files
    acc = event_accumulator.EventAccumulator(run, size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    tags = acc.Tags()
    with open(os.path.join(run, "metrics.csv")) as f:
        rows = list(csv.DictReader(f))
    problems = []
    for column in ("d_loss", "g_loss", "d_real", "d_fake"):
        events = {e.step: e.value for e in acc.Scalars(column)}
        for row in rows:
            want, got = float(row[column]), events.get(int(row["step"]))
            if got is None or abs(got - want) > 1e-5 * max(1.0, abs(want)):
                problems.append(f"{column} at step {row['step']}: metrics.csv {want}, TensorBoard {got}")
    for role in ("generator", "discriminator"):
        lrs = [e.value for e in acc.Scalars(f"lr/{role}")]
        if len(lrs) != len(rows):
            problems.append(f"lr/{role}: {len(lrs)} values for {len(rows)} steps")
    # The generator's rate decays linearly (schedule="linear"); the discriminator's is constant.
    g = [e.value for e in acc.Scalars("lr/generator")]
    d = [e.value for e in acc.Scalars("lr/discriminator")]
    if not (g[0] > g[-1] > 0 and max(d) - min(d) < 1e-9):
        problems.append(f"learning rates: generator {g[0]}..{g[-1]}, discriminator {min(d)}..{max(d)}")
    images = acc.Images("samples")
    steps = [i.step for i in images]
    if steps[:3] != [20, 40, 60]:
        problems.append(f"sample images at steps {steps}")
    for i in images:
        png = i.encoded_image_string
        width, height = struct.unpack(">II", png[16:24])
        if png[:8] != b"\x89PNG\r\n\x1a\n" or (width, height) != (i.width, i.height):
            problems.append(f"image at step {i.step}: not a {i.width}x{i.height} PNG")
    # The spec and the command in the Text tab (the text plugin's string tensors).
    texts = acc.PluginTagToContent("text")
    if sorted(texts) != ["command", "spec"]:
        problems.append(f"text summaries {sorted(texts)}, expected command and spec")
    else:
        spec_text = acc.Tensors("spec")[0].tensor_proto.string_val[0].decode()
        command = acc.Tensors("command")[0].tensor_proto.string_val[0].decode()
        if '<gan name="ring"' not in spec_text or "ganc train" not in command or "--steps" not in command:
            problems.append(f"text summaries: spec {spec_text[:60]!r}, command {command!r}")
    if problems:
        print("TensorBoard check FAILED:\n  " + "\n  ".join(problems), file=sys.stderr)
        raise SystemExit(1)
    print(f"TensorBoard reads {files[0]}: {len(rows)} steps of {len(tags['scalars'])} scalars match metrics.csv, {len(images)} sample images, the spec and the command as text")


if __name__ == "__main__":
    main()
