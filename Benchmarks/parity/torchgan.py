"""A PyTorch model of a ganc spec: G, D, the losses, the optimizers and the two
training steps, built from ganspec.Spec (an independent reading of the spec).

Parameter, buffer and optimizer-state names are ganc's checkpoint names
(`generator.3.weight`, `discriminator.0.bias.exp_avg`, ...), so a ganc
checkpoint loads here by name. Randomness comes through a `Draws` object: the
replay harness hands it ganc's traced draws, the reference trainer its own.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ganspec import Spec


def activate(kind, x, slope):
    if kind is None:
        return x
    if kind == "relu":
        return F.relu(x)
    if kind == "leaky-relu":
        return F.leaky_relu(x, slope)
    if kind == "tanh":
        return torch.tanh(x)
    if kind == "sigmoid":
        return torch.sigmoid(x)
    if kind == "elu":
        return F.elu(x)
    if kind == "gelu":
        return F.gelu(x)
    if kind == "silu":
        return F.silu(x)
    if kind == "softplus":
        return F.softplus(x)
    raise ValueError(kind)


class Draws:
    """Where dropout masks come from. `uniform(shape)` returns U[0, 1) numbers
    for the next dropout layer called (in call order)."""

    def __init__(self, generator=None):
        self.generator = generator

    def uniform(self, shape):
        return torch.rand(shape, generator=self.generator)


class Deconv(nn.Module):
    """A transposed convolution with ganc's (and TensorFlow's 'same') cropping:
    the full transposed product, output-padding rows and columns appended
    after, then `top`/`left` cropped away. With symmetric padding p this is
    exactly nn.ConvTranspose2d(padding=p, output_padding=...)."""

    def __init__(self, cin, cout, kernel, stride, dilation, extra, geometry, out_hw, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cin, cout, *kernel))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.stride, self.dilation, self.extra, self.geometry, self.out_hw = stride, dilation, extra, geometry, out_hw

    def forward(self, x):
        y = F.conv_transpose2d(x, self.weight, None, self.stride, 0, 0, 1, self.dilation)
        if self.extra != (0, 0):
            y = F.pad(y, (0, self.extra[1], 0, self.extra[0]))
        top, _, left, _ = self.geometry
        y = y[:, :, top:top + self.out_hw[0], left:left + self.out_hw[1]]
        if self.bias is not None:
            y = y + self.bias.view(1, -1, 1, 1)
        return y


class Conv(nn.Conv2d):
    """nn.Conv2d after explicit (possibly asymmetric) zero padding."""

    def __init__(self, cin, cout, kernel, stride, dilation, geometry, bias):
        super().__init__(cin, cout, kernel, stride, 0, dilation, bias=bias)
        top, bottom, left, right = geometry
        self.pads = (left, right, top, bottom)

    def forward(self, x):
        if any(self.pads):
            x = F.pad(x, self.pads)
        return super().forward(x)


class ConditionalBatchNorm(nn.Module):
    """Batch norm without its own affine map, then a scale and shift per class
    (rows of `weight` and `bias`, classes x channels; de Vries et al. 2017)."""

    def __init__(self, classes, channels, eps, momentum):
        super().__init__()
        self.eps, self.momentum = eps, momentum
        self.weight = nn.Parameter(torch.ones(classes, channels))
        self.bias = nn.Parameter(torch.zeros(classes, channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x, label):
        y = F.batch_norm(x, self.running_mean, self.running_var, None, None, self.training, self.momentum, self.eps)
        view = (x.shape[0], x.shape[1]) + (1,) * (x.dim() - 2)
        label = label.reshape(-1).long()
        return y * self.weight[label].view(view) + self.bias[label].view(view)


class SelfAttention(nn.Module):
    """SAGAN's self-attention (Zhang et al. 2019), as its PyTorch code writes
    it: 1x1 query/key convs to C // reduction channels (at least 1), a value
    conv to C, softmax over positions, out = gamma * attended + x, gamma = 0."""

    def __init__(self, channels, reduction, spectral, iterations):
        super().__init__()
        k = max(1, channels // reduction)
        wrap = (lambda m: nn.utils.spectral_norm(m, n_power_iterations=iterations)) if spectral else (lambda m: m)
        self.query_conv = wrap(nn.Conv2d(channels, k, 1))
        self.key_conv = wrap(nn.Conv2d(channels, k, 1))
        self.value_conv = wrap(nn.Conv2d(channels, channels, 1))
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        b, c, h, w = x.shape
        q = self.query_conv(x).view(b, -1, h * w).permute(0, 2, 1)
        k = self.key_conv(x).view(b, -1, h * w)
        attention = torch.softmax(torch.bmm(q, k), dim=-1)
        v = self.value_conv(x).view(b, -1, h * w)
        out = torch.bmm(v, attention.permute(0, 2, 1)).view(b, c, h, w)
        return self.gamma * out + x


class Net(nn.Module):
    """One net of a spec; submodule `i` is layer i, so names match ganc's."""

    def __init__(self, net, draws):
        super().__init__()
        self.spec_layers = net.layers
        self.draws = draws
        for layer in net.layers:
            m = self.make(layer)
            if m is not None:
                if layer.attrs.get("spectral-norm") and layer.kind != "attention":
                    # PyTorch's own: weight_orig, weight_u, weight_v; dim 1 for ConvTranspose2d.
                    m = nn.utils.spectral_norm(m, n_power_iterations=layer.attrs["power-iterations"],
                                               dim=1 if layer.kind == "deconv2d" else 0)
                self.add_module(str(layer.index), m)

    @staticmethod
    def make(layer):
        a, x = layer.attrs, layer.in_shapes[0]
        k = layer.kind
        if k == "dense":
            return nn.Linear(math.prod(x), a["units"], bias=a["bias"])
        if k == "maxout":
            return nn.Linear(math.prod(x), a["units"] * a["pieces"], bias=a["bias"])
        if k == "conv2d":
            return Conv(x[0], a["filters"], a["kernel"], a["stride"], a["dilation"], layer.geometry, a["bias"])
        if k == "deconv2d":
            return Deconv(x[0], a["filters"], a["kernel"], a["stride"], a["dilation"], a["output-padding"],
                          layer.geometry, layer.out_shape[1:], a["bias"])
        if k == "batchnorm" and a["classes"]:
            return ConditionalBatchNorm(a["classes"], x[0], a["epsilon"], a["momentum"])
        if k == "batchnorm":
            cls = nn.BatchNorm2d if len(x) == 3 else nn.BatchNorm1d
            return cls(x[0], eps=a["epsilon"], momentum=a["momentum"], affine=a["affine"])
        if k == "layernorm":
            return nn.LayerNorm(list(x), eps=a["epsilon"], elementwise_affine=a["affine"])
        if k == "embedding":
            return nn.Embedding(a["classes"], a["dim"])
        if k == "attention":
            return SelfAttention(x[0], a["reduction"], a["spectral-norm"], a["power-iterations"])
        return None

    def forward(self, inp, label=None, every_layer=False):
        outs = []
        batch = inp.shape[0]
        for layer in self.spec_layers:
            srcs = []
            for kind, ref in layer.sources:
                if kind == "input":
                    srcs.append(label if ref == "label" else inp)
                else:
                    srcs.append(outs[ref])
            x = srcs[0]
            a, k = layer.attrs, layer.kind
            m = self._modules.get(str(layer.index))
            if k == "dense":
                y = activate(a["activation"], m(x.reshape(batch, -1)), a["slope"])
            elif k == "maxout":
                # amax: tied pieces share the gradient evenly, as in ganc.
                y = m(x.reshape(batch, -1)).view(batch, a["units"], a["pieces"]).amax(dim=2)
            elif k in ("conv2d", "deconv2d"):
                y = activate(a["activation"], m(x), a["slope"])
            elif k == "batchnorm" and a["classes"]:
                y = m(x, srcs[1])
            elif k in ("batchnorm", "layernorm"):
                y = m(x)
            elif k == "activation":
                y = activate(a["activation"], x, a["slope"])
            elif k == "dropout":
                rate = a["rate"]
                if self.training and rate > 0:
                    u = self.draws.uniform(x.shape)
                    keep = ((u - rate) > 0).to(x.dtype)
                    y = x * keep * (1 / (1 - rate))
                else:
                    y = x
            elif k in ("reshape", "flatten"):
                y = x.reshape((batch,) + tuple(layer.out_shape))
            elif k == "upsample":
                y = F.interpolate(x, scale_factor=a["scale"], mode="nearest")
            elif k == "avgpool":
                y = x.mean(dim=(2, 3)) if a["global"] else F.avg_pool2d(x, a["size"])
            elif k == "concat":
                axis = a["axis"]
                y = torch.cat(srcs, dim=axis if axis < 0 else axis + 1)
            elif k == "dot":
                y = (srcs[0].reshape(batch, -1) * srcs[1].reshape(batch, -1)).sum(dim=1, keepdim=True)
            elif k == "add":
                y = srcs[0]
                for s in srcs[1:]:
                    y = y + s
            elif k == "embedding":
                y = m(x.reshape(batch).long())
            elif k == "attention":
                y = m(x)
            outs.append(y)
        return outs if every_layer else outs[-1]


def initialise(net, layers):
    """PyTorch's own initialisation schemes as the spec names them."""
    for layer in layers:
        m = net._modules.get(str(layer.index))
        if m is None or layer.kind not in ("dense", "maxout", "conv2d", "deconv2d") or layer.attrs.get("spectral-norm"):
            continue  # (a spectrally normalised layer's weights come from ganc's checkpoint)
        init = layer.attrs["init"]
        if init == "normal":
            nn.init.normal_(m.weight, 0, layer.attrs["init-std"])
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif init == "xavier":
            nn.init.xavier_uniform_(m.weight)
        elif init == "kaiming":
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        elif layer.kind == "deconv2d":
            # nn.ConvTranspose2d's default (fan-in from weight.size(1)).
            fan_in = m.weight.shape[1] * m.weight.shape[2] * m.weight.shape[3]
            bound = 1 / math.sqrt(fan_in)
            nn.init.uniform_(m.weight, -bound, bound)
            if m.bias is not None:
                nn.init.uniform_(m.bias, -bound, bound)


OPT_STATE = {"adam": ["exp_avg", "exp_avg_sq"], "sgd": ["momentum_buffer"], "rmsprop": ["square_avg", "momentum_buffer"]}


class Game:
    """G, D, their optimizers and the two steps of ganc's training loop."""

    def __init__(self, spec: Spec, draws: Draws):
        self.spec = spec
        self.draws = draws
        self.G = Net(spec.generator, draws)
        self.D = Net(spec.discriminator, draws)
        initialise(self.G, spec.generator.layers)
        initialise(self.D, spec.discriminator.layers)
        self.G.train()
        self.D.train()
        t = spec.training
        self.t = t
        self.opt = {"generator": self.optimizer(self.G, spec.optimizers["generator"]),
                    "discriminator": self.optimizer(self.D, spec.optimizers["discriminator"])}
        self.ema = None
        if t["ema"] is not None:
            self.ema = {n: p.detach().clone() for n, p in self.G.named_parameters()}
        self.d_has_batchnorm = any(l.kind == "batchnorm" for l in spec.discriminator.layers)

    @staticmethod
    def optimizer(net, o):
        params = list(net.parameters())
        if o.kind == "adam":
            return torch.optim.Adam(params, lr=o.lr, betas=(o.beta1, o.beta2), eps=o.epsilon, weight_decay=o.weight_decay)
        if o.kind == "sgd":
            return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        return torch.optim.RMSprop(params, lr=o.lr, alpha=o.beta2, eps=o.epsilon, momentum=o.momentum, weight_decay=o.weight_decay)

    # State by ganc's names.
    def nets(self):
        return {"generator": self.G, "discriminator": self.D}

    def state(self):
        out = {}
        for role, net in self.nets().items():
            for n, p in net.named_parameters():
                out[f"{role}.{n}"] = p.detach()
                st = self.opt[role].state.get(p, {})
                for s in OPT_STATE[self.spec.optimizers[role].kind]:
                    if s in st and st[s] is not None:
                        out[f"{role}.{n}.{s}"] = st[s]
            for n, b in net.named_buffers():
                if not n.endswith("num_batches_tracked"):
                    out[f"{role}.{n}"] = b
        if self.ema is not None:
            for n, v in self.ema.items():
                out[f"ema.generator.{n}"] = v
        return out

    def load(self, tensors):
        """Loads parameters, buffers and EMA weights by ganc's names (optimizer
        state must be zero: the harness starts from step 0)."""
        with torch.no_grad():
            for role, net in self.nets().items():
                for n, p in list(net.named_parameters()) + list(net.named_buffers()):
                    key = f"{role}.{n}"
                    if key in tensors:
                        p.copy_(tensors[key].reshape(p.shape))
                    elif not n.endswith("num_batches_tracked"):
                        raise KeyError(f"the checkpoint lacks {key}")
            if self.ema is not None:
                for n in self.ema:
                    self.ema[n].copy_(tensors[f"ema.generator.{n}"].reshape(self.ema[n].shape))

    # The game.
    def pack(self, v):
        p = self.t["pack"]
        if p == 1:
            return v
        return v.reshape((v.shape[0] // p, v.shape[1] * p) + tuple(v.shape[2:]))

    @staticmethod
    def real_logit(logits):
        """A semi-supervised D's real-vs-generated logit: logsumexp of the K
        class logits minus the "generated" logit (Salimans et al. 2016)."""
        return torch.logsumexp(logits[:, :-1], dim=1, keepdim=True) - logits[:, -1:]

    def d_loss(self, r, f):
        loss = self.t["loss"]
        if loss in ("non-saturating", "minimax", "semi-supervised"):
            s = self.t["label-smoothing"]
            real = F.binary_cross_entropy_with_logits(r, torch.full_like(r, s))
            return real + F.softplus(f).mean()
        if loss == "least-squares":
            return 0.5 * (((r - 1) ** 2).mean() + (f ** 2).mean())
        if loss == "hinge":
            return F.relu(1 - r).mean() + F.relu(1 + f).mean()
        return f.mean() - r.mean()

    def g_loss(self, f):
        loss = self.t["loss"]
        if loss in ("non-saturating", "semi-supervised"):
            return F.softplus(-f).mean()
        if loss == "minimax":
            return -F.softplus(f).mean()
        if loss == "least-squares":
            return 0.5 * ((f - 1) ** 2).mean()
        return -f.mean()

    def set_lr(self, role, lr):
        for group in self.opt[role].param_groups:
            group["lr"] = lr

    def augment(self, x, draws, side):
        """DiffAugment (Zhao et al. 2020) as its reference code writes it, with
        the per-sample draws ganc fed (brightness, saturation and contrast
        factors, the one-hot shifts, the cut-out mask)."""
        for policy in self.t["diff-augment"]:
            d = lambda name: draws[f"augment.{side}.{name}"]
            if policy == "color":
                x = x + d("brightness")
                m = x.mean(dim=1, keepdim=True)
                x = (x - m) * d("saturation") + m
                m = x.mean(dim=[1, 2, 3], keepdim=True)
                x = (x - m) * d("contrast") + m
            elif policy == "translation":
                b, _, h, w = x.shape
                rows, cols = d("shift_rows"), d("shift_columns")
                tx = (rows.argmax(1) - (rows.shape[1] - 1) // 2).view(b, 1, 1)
                ty = (cols.argmax(1) - (cols.shape[1] - 1) // 2).view(b, 1, 1)
                gb, gx, gy = torch.meshgrid(torch.arange(b), torch.arange(h), torch.arange(w), indexing="ij")
                gx = torch.clamp(gx + tx + 1, 0, h + 1)
                gy = torch.clamp(gy + ty + 1, 0, w + 1)
                padded = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
                x = padded.permute(0, 2, 3, 1).contiguous()[gb, gx, gy].permute(0, 3, 1, 2)
            elif policy == "cutout":
                x = x * d("cutout")
        return x

    def d_step(self, z, x, label=None, fake_label=None, gp_eps=None, x_labelled=None, targets=None, regularized=True, draws=None):
        """One discriminator update; returns (loss, mean D(x), mean D(G(z)))."""
        with torch.no_grad():
            fake = self.G(z, fake_label)
        real, gen = self.pack(self.augment(x, draws, "real")), self.pack(self.augment(fake, draws, "generated"))
        semi = self.t["loss"] == "semi-supervised"
        if semi:
            real = torch.cat([real, x_labelled])
        r1, r2 = (self.t["r1"], self.t["r2"]) if regularized else (0.0, 0.0)
        if r1 > 0:
            real = real.detach().requires_grad_(True)
        if r2 > 0:
            gen = gen.detach().requires_grad_(True)
        if not self.d_has_batchnorm:
            labels = None if label is None else torch.cat([label, fake_label])
            scores = self.D(torch.cat([real, gen]), labels)
            r, f = scores[:real.shape[0]], scores[real.shape[0]:]
        else:
            r = self.D(real, label)
            f = self.D(gen, fake_label)
        supervised = None
        if semi:
            b = gen.shape[0]
            logits = r[b:]
            supervised = -(targets * F.log_softmax(logits, dim=1)).sum() / targets.sum().clamp(min=1)
            r, f = self.real_logit(r[:b]), self.real_logit(f)
        loss = self.d_loss(r, f)
        if supervised is not None:
            loss = loss + supervised
        # R1 / R2 (Mescheder et al. 2018), lazily k times every k-th update (Karras et al. 2020).
        k = self.t["regularize-every"]
        for gamma, scores, inp in ((r1, r, real), (r2, f, gen)):
            if gamma > 0:
                dx, = torch.autograd.grad(scores.sum(), inp, create_graph=True)
                loss = loss + gamma * k / 2 * (dx ** 2).sum() / scores.shape[0]
        if self.t["loss"] == "wasserstein-gp":
            eps = gp_eps if gp_eps is not None else torch.rand((real.shape[0],) + (1,) * (real.dim() - 1))
            mixed = (eps * real + (1 - eps) * gen).requires_grad_(True)
            saved = {n: b.clone() for n, b in self.D.named_buffers()}
            score = self.D(mixed, label)
            with torch.no_grad():
                for n, b in self.D.named_buffers():
                    b.copy_(saved[n])
            dx, = torch.autograd.grad(score.sum(), mixed, create_graph=True)
            norm = torch.sqrt((dx ** 2).sum(dim=tuple(range(1, dx.dim()))) + 1e-12)
            loss = loss + self.t["gp-weight"] * ((norm - 1) ** 2).mean()
        self.opt["discriminator"].zero_grad(set_to_none=True)
        loss.backward()
        self.opt["discriminator"].step()
        if self.t["loss"] == "wasserstein":
            c = self.t["clip"]
            with torch.no_grad():
                for p in self.D.parameters():
                    p.clamp_(-c, c)
        sig = self.t["loss"] in ("non-saturating", "minimax", "semi-supervised")
        score = (lambda v: torch.sigmoid(v).mean()) if sig else (lambda v: v.mean())
        return loss.item(), score(r).item(), score(f).item()

    def g_step(self, z, fake_label=None, x=None, draws=None):
        fake_layers = self.D(self.pack(self.augment(self.G(z, fake_label), draws, "generated")), fake_label, every_layer=True)
        f = fake_layers[-1]
        if self.t["loss"] == "semi-supervised":
            f = self.real_logit(f)
        fm = self.t.get("feature-matching")
        if fm:
            # Feature matching: the batch means of D's layer `fm` on real and generated data.
            i = next(l.index for l in self.spec.discriminator.layers if l.id == fm)
            real_layers = self.D(self.pack(self.augment(x, draws, "real")), None, every_layer=True)
            n = fake_layers[i].shape[0]
            target = real_layers[i].reshape(n, -1).mean(0).detach()
            loss = ((target - fake_layers[i].reshape(n, -1).mean(0)) ** 2).mean()
        else:
            loss = self.g_loss(f)
        self.opt["generator"].zero_grad(set_to_none=True)
        loss.backward()
        self.opt["generator"].step()
        if self.ema is not None:
            d = self.t["ema"]
            with torch.no_grad():
                for n, p in self.G.named_parameters():
                    self.ema[n].mul_(d).add_(p, alpha=1 - d)
        return loss.item()


class ClassifierGame:
    """A <classifier> spec: one net, softmax cross-entropy over the labelled
    rows of one-hot targets, one optimizer; state by ganc's names."""

    def __init__(self, spec: Spec, draws: Draws):
        self.spec = spec
        self.draws = draws
        self.C = Net(spec.discriminator, draws)
        initialise(self.C, spec.discriminator.layers)
        self.C.train()
        self.t = spec.training
        self.opt = {"classifier": Game.optimizer(self.C, spec.optimizers["classifier"])}
        self.ema = None

    def nets(self):
        return {"classifier": self.C}

    state = Game.state
    load = Game.load
    set_lr = Game.set_lr

    def step(self, x, targets):
        logits = self.C(x)
        loss = -(targets * F.log_softmax(logits, dim=1)).sum() / targets.sum().clamp(min=1)
        self.opt["classifier"].zero_grad(set_to_none=True)
        loss.backward()
        self.opt["classifier"].step()
        return loss.item()
