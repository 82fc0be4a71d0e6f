"""An independent reader of ganc's spec language (shared/spec-format.md and
docs/spec-reference.md), written from the documents, not from ganc's code.

`load(path)` returns a Spec: data, latent, both nets as lists of Layer (with
every default filled in and every feature shape inferred), training and
optimizers. The PyTorch builder (torchgan.py) reads only this.
"""
import math
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class SpecError(Exception):
    pass


ACTIVATIONS = {"relu", "leaky-relu", "tanh", "sigmoid", "elu", "gelu", "silu", "softplus"}


@dataclass
class Layer:
    index: int
    kind: str
    attrs: dict
    id: str = None
    input: str = None
    sources: list = field(default_factory=list)  # ("input", name) or ("layer", index)
    in_shapes: list = field(default_factory=list)
    out_shape: tuple = ()
    geometry: tuple = None  # conv: (top, bottom, left, right) padding, deconv: crop


@dataclass
class Net:
    role: str
    layers: list


@dataclass
class Optimizer:
    kind: str
    lr: float
    beta1: float
    beta2: float
    momentum: float
    weight_decay: float
    epsilon: float
    schedule: str = "constant"
    warmup: int = 0

    def lr_at(self, t, total):
        """The learning rate of update t (from 0) of `total`, from the
        reference's words: linear warm-up over `warmup` updates, then constant
        or a linear decay to zero after the last update."""
        if t < self.warmup:
            return self.lr * (t + 1) / self.warmup
        if self.schedule != "linear":
            return self.lr
        return self.lr * max(0.0, (total - t) / max(total - self.warmup, 1))


@dataclass
class Spec:
    name: str
    folder: str
    data: dict
    data_shape: tuple
    latent_size: int
    latent_distribution: str
    generator: Net
    discriminator: Net
    training: dict
    optimizers: dict


def _bool(v):
    if v in ("true", "1"):
        return True
    if v in ("false", "0"):
        return False
    raise SpecError(f"not a boolean: {v}")


def _pair(v):
    v = str(v)
    if "x" in v:
        h, w = v.split("x")
        return int(h), int(w)
    return int(v), int(v)


NET_INPUT = "@input"


def _expand(elements, blocks, start="@input", counts=None):
    """Expands <use block="..."> from the reference's words: the block's
    layers with $param values substituted, inner ids prefixed by the use's id
    (or BLOCK-N for the N-th unnamed use), `in` read as the layer before the
    use (the net's input when the use comes first), the last layer named by
    the use's id."""
    import copy
    import re
    counts = {} if counts is None else counts
    out = []
    for e in elements:
        if e.tag != "use":
            out.append(e)
            continue
        name = e.get("block")
        params, body = blocks[name]
        values = {p: d for p, d in params.items() if d is not None}
        values.update({k: v for k, v in e.attrib.items() if k not in ("block", "id")})
        counts[name] = counts.get(name, 0) + 1
        use_id = e.get("id")
        prefix = use_id or f"{name}-{counts[name]}"
        in_ref = start
        reads_in = any("in" in (b.get("input") or b.get("inputs") or "").split() for b in body)
        if reads_in and out:
            if out[-1].get("id") is None:
                out[-1] = copy.deepcopy(out[-1])
                out[-1].set("id", prefix + ".in")
            in_ref = out[-1].get("id")
        rename = {"in": in_ref}
        for k, b in enumerate(body):
            if b.get("id") is not None:
                last = k == len(body) - 1
                rename[b.get("id")] = (use_id or prefix + "." + b.get("id")) if last else prefix + "." + b.get("id")
        new_body = []
        for b in body:
            b = copy.deepcopy(b)
            for k, v in list(b.attrib.items()):
                v = re.sub(r"\$([A-Za-z0-9_-]+)", lambda m: values[m.group(1)], v)
                if k == "id":
                    v = rename.get(v, v)
                elif k in ("input", "inputs"):
                    v = " ".join(rename.get(t, t) for t in v.split())
                b.set(k, v)
            new_body.append(b)
        if use_id and new_body[-1].get("id") is None:
            new_body[-1].set("id", use_id)
        out += _expand(new_body, blocks, in_ref, counts)
    return out


def _blocks(root):
    blocks = {}
    for b in root.findall("blocks/block"):
        params = {p.get("name"): p.get("default") for p in b if p.tag == "param"}
        blocks[b.get("name")] = (params, [c for c in b if isinstance(c.tag, str) and c.tag != "param"])
    return blocks


def _net_element(el, folder, seen, blocks=None):
    src = el.get("src")
    if src is None:
        return _expand([c for c in el if isinstance(c.tag, str)], blocks or {})
    path = os.path.normpath(os.path.join(folder, src))
    if path in seen:
        raise SpecError(f"src cycle at {path}")
    root = ET.parse(path).getroot()
    return _net_element(root, os.path.dirname(path), seen | {path}, blocks)


def _data_shape(data, folder, conditional):
    source = data["source"]
    if source in ("ring", "grid"):
        return (2,), None
    if source == "idx":
        import gzip
        import struct
        path = data["images"]
        path = path if os.path.isabs(path) else os.path.join(folder, path)
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            magic, n, h, w = struct.unpack(">IIII", f.read(16))
        return (1, h, w), 10 if data.get("labels") else None
    if source == "csv":
        path = data["path"]
        path = path if os.path.isabs(path) else os.path.join(folder, path)
        with open(path) as f:
            first = f.readline().strip().split(",")
        cols = data.get("columns")
        return (len(cols.split()) if cols else len(first),), None
    if source == "npy":
        import numpy as np
        path = data["path"]
        path = path if os.path.isabs(path) else os.path.join(folder, path)
        a = np.load(path, mmap_mode="r")
        return tuple(a.shape[1:]) or (1,), None
    raise SpecError(f"unknown data source {source}")


def _conv_geometry(kind, a, in_shape):
    c, h, w = in_shape
    kh, kw = a["kernel"]
    sh, sw = a["stride"]
    dh, dw = a["dilation"]
    oph, opw = a.get("output-padding", (0, 0))
    pad = a["padding"]
    out, pads = [], []
    for size, k, s, d, extra, axis in ((h, kh, sh, dh, oph, 0), (w, kw, sw, dw, opw, 1)):
        span = d * (k - 1) + 1
        if pad == "same":
            if kind == "deconv2d":
                n = size * s
                total = span + extra - s
            else:
                n = -(-size // s)
                total = max((n - 1) * s + span - size, 0)
            pads.append((total // 2, total - total // 2))
        else:
            p = 0 if pad == "valid" else pad[axis]
            n = (size - 1) * s - 2 * p + span + extra if kind == "deconv2d" else (size + 2 * p - span) // s + 1
            pads.append((p, p))
        out.append(n)
    return (a["filters"], out[0], out[1]), (pads[0][0], pads[0][1], pads[1][0], pads[1][1])


def _layer(index, el):
    kind = el.tag
    g = el.get
    a = {}
    if kind in ("dense", "conv2d", "deconv2d", "maxout"):
        a["bias"] = _bool(g("bias", "true"))
        a["init"] = g("init", "default")
        a["init-std"] = float(g("init-std", "0.02"))
    if kind in ("dense", "conv2d", "deconv2d", "maxout", "embedding"):
        a["spectral-norm"] = _bool(g("spectral-norm", "false"))
        a["power-iterations"] = int(g("power-iterations", "1"))
    if kind in ("dense", "conv2d", "deconv2d"):
        a["activation"] = g("activation")
        a["slope"] = float(g("slope", "0.2"))
    if kind == "dense":
        a["units"] = int(g("units"))
    elif kind == "maxout":
        a["units"], a["pieces"] = int(g("units")), int(g("pieces"))
    elif kind in ("conv2d", "deconv2d"):
        a["filters"] = int(g("filters"))
        a["kernel"] = _pair(g("kernel"))
        a["stride"] = _pair(g("stride", "1"))
        a["dilation"] = _pair(g("dilation", "1"))
        p = g("padding", "0")
        a["padding"] = p if p in ("same", "valid") else _pair(p)
        if kind == "deconv2d":
            a["output-padding"] = _pair(g("output-padding", "0"))
    elif kind == "batchnorm":
        a["classes"] = int(g("classes")) if g("classes") else None
        a["momentum"] = float(g("momentum", "0.1"))
        a["epsilon"] = float(g("epsilon", "1e-5"))
        a["affine"] = _bool(g("affine", "true"))
    elif kind == "layernorm":
        a["epsilon"] = float(g("epsilon", "1e-5"))
        a["affine"] = _bool(g("affine", "true"))
    elif kind == "activation":
        a["activation"] = g("kind")
        a["slope"] = float(g("slope", "0.2"))
    elif kind == "dropout":
        a["rate"] = float(g("rate"))
    elif kind == "reshape":
        a["shape"] = tuple(int(v) for v in g("shape").split())
    elif kind == "upsample":
        a["scale"] = int(g("scale", "2"))
        a["mode"] = g("mode", "nearest")
    elif kind == "avgpool":
        a["size"] = int(g("size", "2"))
        a["global"] = _bool(g("global", "false"))
    elif kind == "concat":
        a["inputs"] = g("inputs").split()
        a["axis"] = int(g("axis", "0"))
    elif kind in ("add", "dot"):
        a["inputs"] = g("inputs").split()
    elif kind == "embedding":
        a["classes"], a["dim"] = int(g("classes")), int(g("dim"))
    elif kind == "attention":
        a["reduction"] = int(g("reduction", "8"))
        a["spectral-norm"] = _bool(g("spectral-norm", "false"))
        a["power-iterations"] = int(g("power-iterations", "1"))
    elif kind != "flatten":
        raise SpecError(f"unknown layer <{kind}>")
    return Layer(index=index, kind=kind, attrs=a, id=g("id"), input=g("input"))


def _infer(net, input_name, input_shape, label_classes):
    ids = {}
    shapes = []
    for i, layer in enumerate(net.layers):
        def ref(name):
            if name == NET_INPUT:
                return ("input", input_name)
            if name in ("z", "x", "label"):
                return ("input", name)
            return ("layer", ids[name])

        def shape_of(src):
            if src[0] == "input":
                return (1,) if src[1] == "label" else tuple(input_shape)
            return shapes[src[1]]

        if layer.kind in ("concat", "add", "dot"):
            layer.sources = [ref(n) for n in layer.attrs["inputs"]]
        elif layer.input is not None:
            layer.sources = [ref(layer.input)]
        elif layer.kind == "embedding":
            layer.sources = [("input", "label")]
        elif i == 0:
            layer.sources = [("input", input_name)]
        else:
            layer.sources = [("layer", i - 1)]
        if layer.kind == "batchnorm" and layer.attrs["classes"]:
            layer.sources.append(("input", "label"))  # conditional batch norm reads the class too
        layer.in_shapes = [shape_of(s) for s in layer.sources]
        x = layer.in_shapes[0]
        a = layer.attrs
        k = layer.kind
        if k == "dense":
            out = (a["units"],)
        elif k == "maxout":
            out = (a["units"],)
        elif k in ("conv2d", "deconv2d"):
            out, layer.geometry = _conv_geometry(k, a, x)
        elif k in ("batchnorm", "layernorm", "activation", "dropout", "attention"):
            out = x
        elif k == "reshape":
            out = a["shape"]
        elif k == "flatten":
            out = (math.prod(x),)
        elif k == "upsample":
            out = (x[0], x[1] * a["scale"], x[2] * a["scale"])
        elif k == "avgpool":
            out = (x[0],) if a["global"] else (x[0], x[1] // a["size"], x[2] // a["size"])
        elif k == "concat":
            rank = len(x)
            axis = a["axis"] + rank if a["axis"] < 0 else a["axis"]
            out = list(x)
            out[axis] = sum(s[axis] for s in layer.in_shapes)
            out = tuple(out)
        elif k == "add":
            out = x
        elif k == "dot":
            out = (1,)
        elif k == "embedding":
            out = (a["dim"],)
        layer.out_shape = tuple(out)
        shapes.append(layer.out_shape)
        if layer.id:
            ids[layer.id] = i
    return shapes[-1]


def load(path, steps=None, batch=None, seed=None):
    folder = os.path.dirname(os.path.abspath(path))
    root = ET.parse(path).getroot()
    els = {c.tag: c for c in root if isinstance(c.tag, str)}
    data = dict(els["data"].attrib)
    classifier = root.tag == "classifier"
    latent = els.get("latent")
    t = els["training"]
    training = {
        "kind": root.tag, "feature-matching": t.get("feature-matching"),
        "r1": float(t.get("r1", "0")), "r2": float(t.get("r2", "0")), "regularize-every": int(t.get("regularize-every", "1")),
        "steps": int(t.get("steps")), "batch": int(t.get("batch")),
        "loss": t.get("loss", "cross-entropy" if classifier else "non-saturating"), "d-steps": int(t.get("d-steps", "1")),
        "label-smoothing": float(t.get("label-smoothing", "1.0")), "seed": int(t.get("seed", "0")),
        "conditional": _bool(t.get("conditional", "false")), "pack": int(t.get("pack", "1")),
        "ema": float(t.get("ema")) if t.get("ema") is not None else None,
        "clip": float(t.get("clip", "0.01")), "gp-weight": float(t.get("gp-weight", "10")),
        "diff-augment": (t.get("diff-augment") or "").replace(",", " ").split(),
    }
    if steps is not None:
        training["steps"] = steps
    if batch is not None:
        training["batch"] = batch
    if seed is not None:
        training["seed"] = seed
    optimizers = {}
    for o in t:
        if not isinstance(o.tag, str) or o.tag != "optimizer":
            continue
        kind = o.get("kind", "adam")
        default_beta2 = "0.99" if kind == "rmsprop" else "0.999"
        optimizers[o.get("net")] = Optimizer(
            kind=kind, lr=float(o.get("lr")), beta1=float(o.get("beta1", "0.9")),
            beta2=float(o.get("beta2", default_beta2)), momentum=float(o.get("momentum", "0")),
            weight_decay=float(o.get("weight-decay", "0")), epsilon=float(o.get("epsilon", "1e-8")),
            schedule=o.get("schedule", "constant"), warmup=int(o.get("warmup", "0")))
    data_shape, classes = _data_shape(data, folder, training["conditional"])
    if classifier:
        # One net from a sample to class logits, held where a GAN's D is.
        net = Net("classifier", [_layer(i, el) for i, el in enumerate(_net_element(els["network"], folder, frozenset(), _blocks(root)))])
        _infer(net, "x", data_shape, classes)
        return Spec(name=root.get("name"), folder=folder, data=data, data_shape=tuple(data_shape), latent_size=0,
                    latent_distribution="normal", generator=Net("generator", []), discriminator=net,
                    training=training, optimizers=optimizers)
    nets = {}
    for role in ("generator", "discriminator"):
        elements = _net_element(els[role], folder, frozenset(), _blocks(root))
        nets[role] = Net(role, [_layer(i, el) for i, el in enumerate(elements)])
    pack = training["pack"]
    d_shape = (data_shape[0] * pack,) + tuple(data_shape[1:])
    _infer(nets["generator"], "z", (int(latent.get("size")),), classes)
    _infer(nets["discriminator"], "x", d_shape, classes)
    return Spec(name=root.get("name"), folder=folder, data=data, data_shape=tuple(data_shape),
                latent_size=int(latent.get("size")), latent_distribution=latent.get("distribution", "normal"),
                generator=nets["generator"], discriminator=nets["discriminator"],
                training=training, optimizers=optimizers)
