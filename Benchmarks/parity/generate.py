"""Generates varied valid specs for the parity harness: random DAGs with skip
connections by `add` and `concat`, over every layer kind, loss, optimizer and
option of the language, on 2-D points or on 1x8x8 images (IDX with labels,
so that conditional specs have classes).

Usage: python generate.py OUT [--count 40] [--seed 1]
Writes OUT/gen-NNN.xml and the small data files they read.
"""
import argparse
import gzip
import os
import random
import struct

import numpy as np

ACTS = ["relu", "leaky-relu", "tanh", "sigmoid", "elu", "gelu", "silu", "softplus"]


class Gen:
    def __init__(self, rng):
        self.r = rng
        self.n = 0

    def id(self):
        self.n += 1
        return f"l{self.n}"

    def act(self, p=0.7):
        if self.r.random() > p:
            return ""
        a = self.r.choice(ACTS)
        return f' activation="{a}"' + (f' slope="{self.r.choice([0.1, 0.2, -0.1])}"' if a == "leaky-relu" else "")

    def dense_opts(self):
        out = ""
        if self.r.random() < 0.3:
            out += ' bias="false"'
        init = self.r.choice(["default", "normal", "xavier", "kaiming", None])
        if init:
            out += f' init="{init}"' + (' init-std="0.05"' if init == "normal" and self.r.random() < 0.5 else "")
        if self.r.random() < 0.2:
            out += ' spectral-norm="true"' + (' power-iterations="2"' if self.r.random() < 0.3 else "")
        return out

    def vector_blocks(self, width, norm="batchnorm", count=None):
        """Hidden blocks on vectors of `width` features; returns (xml, width)."""
        xml = ""
        for _ in range(count or self.r.randint(1, 3)):
            u = self.r.randint(3, 9)
            k = self.r.randrange(9)
            if k == 0:
                xml += f'<dense units="{u}" bias="false"/><{norm}{self.norm_opts(norm)}/><activation kind="{self.r.choice(ACTS)}"/>'
            elif k == 1:
                xml += f'<maxout units="{u}" pieces="{self.r.randint(2, 4)}"{self.dense_opts()}/>'
            elif k == 2:
                xml += f'<dense units="{u}"{self.act()}/><dropout rate="{self.r.choice([0.1, 0.3, 0.5])}"/>'
            elif k == 3:
                xml += f'<dense units="{u}"{self.dense_opts()}/><layernorm{self.norm_opts("layernorm")}/><activation kind="tanh"/>'
            elif k == 4:  # a skip around one layer
                a, b = self.id(), self.id()
                xml += f'<dense id="{a}" units="{u}"/><dense id="{b}" units="{u}"{self.act()}/><add inputs="{a} {b}"/>'
            elif k == 5:  # a skip around two
                a, b = self.id(), self.id()
                xml += (f'<dense id="{a}" units="{u}"{self.act()}/><dense units="{u}"{self.act()}/>'
                        f'<dense id="{b}" units="{u}"/><add inputs="{b} {a}"/>')
            elif k == 6:
                a, b = self.id(), self.id()
                v = self.r.randint(2, 5)
                xml += f'<dense id="{a}" units="{u}"/><dense id="{b}" units="{v}"{self.act()}/><concat inputs="{b} {a}"/>'
                u += v
            elif k == 7:
                xml += f'<dense units="{u}"{self.dense_opts()}{self.act()}/><activation kind="{self.r.choice(ACTS)}"/>'
            else:
                xml += f'<dense units="{u}"{self.dense_opts()}{self.act()}/>'
            width = u
        return xml, width

    def norm_opts(self, norm):
        out = ""
        if self.r.random() < 0.3:
            out += f' epsilon="{self.r.choice([1e-3, 1e-5])}"'
        if norm == "batchnorm" and self.r.random() < 0.3:
            out += f' momentum="{self.r.choice([0.01, 0.3])}"'
        if self.r.random() < 0.2:
            out += ' affine="false"'
        return out

    def image_g(self, conditional):
        head = ""
        if conditional:
            e = self.id()
            head = f'<embedding id="{e}" classes="10" dim="{self.r.randint(2, 6)}"/><concat inputs="z {e}"/>'
        c = self.r.choice([4, 8])
        xml = head + f'<dense units="{c * 16}"{self.dense_opts()}/><reshape shape="{c} 4 4"/>'
        if self.r.random() < 0.5:
            xml += f'<batchnorm{self.norm_opts("batchnorm")}/><activation kind="relu"/>'
        k = self.r.randrange(4)
        if k == 0:
            xml += f'<deconv2d filters="4" kernel="4" stride="2" padding="1"{self.act()}{self.dense_opts()}/>'
        elif k == 3:
            xml += f'<deconv2d filters="4" kernel="3" stride="2" padding="1" output-padding="1"{self.act()}/>'
        elif k == 1:
            xml += f'<upsample/><conv2d filters="4" kernel="3" padding="same"{self.act()}/>'
        else:
            xml += f'<deconv2d filters="4" kernel="{self.r.choice([2, 3, 4])}" stride="2" padding="same"{self.act()}/>'
        k = self.r.randrange(3)
        if k == 0:
            a, b = self.id(), self.id()
            xml += f'<conv2d id="{a}" filters="4" kernel="3" padding="1"/><conv2d id="{b}" filters="4" kernel="3" padding="same"{self.act()}/><add inputs="{a} {b}"/>'
        elif k == 1:
            a, b = self.id(), self.id()
            xml += f'<conv2d id="{a}" filters="3" kernel="1"/><conv2d id="{b}" filters="2" kernel="3x1" padding="1x0"{self.act()}/><concat inputs="{a} {b}"/>'
        return xml + f'<conv2d filters="1" kernel="3" padding="same" activation="tanh"/>'

    def image_d(self, conditional, gp):
        head = ""
        if conditional:
            lab = self.id()
            head = f'<embedding classes="10" dim="64"/><reshape id="{lab}" shape="1 8 8"/><concat inputs="x {lab}"/>'
        xml = head
        k = self.r.randrange(3)
        if k == 0:
            xml += f'<conv2d filters="4" kernel="4" stride="2" padding="1" activation="leaky-relu"{self.dense_opts()}/>'
        elif k == 1:
            xml += f'<conv2d filters="4" kernel="3" stride="2" padding="same"{self.act()}/>'
        else:
            xml += f'<conv2d filters="4" kernel="3" dilation="2" padding="2"{self.act()}/><conv2d filters="4" kernel="2" stride="2"/>'
        if self.r.random() < 0.5:
            xml += f'<attention reduction="{self.r.choice([1, 2, 4])}"' + (' spectral-norm="true"' if self.r.random() < 0.5 else "") + '/>'
        norm = "layernorm" if gp else self.r.choice(["batchnorm", "layernorm", None])
        if norm:
            xml += f'<{norm}{self.norm_opts(norm)}/><activation kind="leaky-relu"/>'
        if self.r.random() < 0.4:
            xml += f'<dropout rate="0.2"/>'
        xml += '<flatten/>'
        blocks, _ = self.vector_blocks(0, "layernorm" if gp else "batchnorm", count=self.r.randint(0, 1) or None)
        return xml + (blocks if self.r.random() < 0.5 else "") + '<dense units="1"/>'

    def spec(self, name):
        r = self.r
        loss = r.choice(["non-saturating", "minimax", "least-squares", "hinge", "wasserstein", "wasserstein-gp"])
        image = r.random() < 0.4
        conditional = image and r.random() < 0.5
        pack = 1 if conditional or r.random() < 0.7 else 2
        gp = loss == "wasserstein-gp"
        if image:
            data = '<data source="idx" images="img-idx3.gz" labels="lab-idx1.gz"/>' if (conditional or r.random() < 0.5) \
                else '<data source="npy" path="img.npy"/>'
            g, d = self.image_g(conditional), self.image_d(conditional, gp)
        else:
            data = r.choice(['<data source="ring" samples="256"/>', '<data source="grid" samples="256"/>', '<data source="ring"/>'])
            gb, _ = self.vector_blocks(0)
            db, _ = self.vector_blocks(0, "layernorm" if gp else "batchnorm")
            g, d = gb + f'<dense units="2"{self.dense_opts()}/>', db + '<dense units="1"/>'
        attrs = f'loss="{loss}" d-steps="{r.choice([1, 1, 2])}" seed="{r.randint(0, 99)}"'
        if loss in ("non-saturating", "minimax") and r.random() < 0.4:
            attrs += ' label-smoothing="0.9"'
        if conditional:
            attrs += ' conditional="true"'
        if pack > 1:
            attrs += f' pack="{pack}"'
        if r.random() < 0.3:
            attrs += ' ema="0.9"'
        if loss == "wasserstein":
            attrs += ' clip="0.1"'
        if gp and r.random() < 0.5:
            attrs += ' gp-weight="5"'
        if image and r.random() < 0.3:
            policies = [p for p in ("color", "translation", "cutout") if r.random() < 0.6] or ["translation"]
            attrs += f' diff-augment="{" ".join(policies)}"'
        opts = []
        for net in ("generator", "discriminator"):
            kind = r.choice(["adam", "adam", "sgd", "rmsprop"])
            o = f'net="{net}" kind="{kind}" lr="{r.choice([1e-3, 1e-2]) if kind != "sgd" else 0.05}"'
            if kind == "adam":
                o += f' beta1="{r.choice([0.5, 0.9])}"' + (' beta2="0.99"' if r.random() < 0.3 else "")
            if kind in ("sgd", "rmsprop") and r.random() < 0.6:
                o += f' momentum="{r.choice([0.5, 0.9])}"'
            if kind == "rmsprop" and r.random() < 0.5:
                o += ' beta2="0.9"'
            if r.random() < 0.3:
                o += ' weight-decay="0.01"'
            if kind != "sgd" and r.random() < 0.2:
                o += ' epsilon="1e-6"'
            opts.append(f"<optimizer {o}/>")
        return f'''<gan name="{name}" version="1">
  {data}
  <latent size="{r.randint(2, 6)}" distribution="{r.choice(["normal", "uniform"])}"/>
  <generator>{g}</generator>
  <discriminator>{d}</discriminator>
  <training steps="10" batch="{r.choice([3, 5, 8, 17])}" {attrs}>
    {opts[0]}
    {opts[1]}
  </training>
</gan>
'''


def write_data(out):
    rng = np.random.default_rng(0)
    images = (rng.random((64, 1, 8, 8)) * 255).astype(np.uint8)
    labels = rng.integers(0, 10, 64).astype(np.uint8)
    with gzip.open(os.path.join(out, "img-idx3.gz"), "wb") as f:
        f.write(struct.pack(">IIII", 0x803, 64, 8, 8) + images.tobytes())
    with gzip.open(os.path.join(out, "lab-idx1.gz"), "wb") as f:
        f.write(struct.pack(">II", 0x801, 64) + labels.tobytes())
    np.save(os.path.join(out, "img.npy"), (images.astype(np.float32) / 127.5 - 1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_data(args.out)
    gen = Gen(random.Random(args.seed))
    for i in range(args.count):
        name = f"gen-{i:03d}"
        with open(os.path.join(args.out, name + ".xml"), "w") as f:
            f.write(gen.spec(name))


if __name__ == "__main__":
    main()
