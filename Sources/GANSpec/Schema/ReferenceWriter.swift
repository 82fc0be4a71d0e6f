/// Writes the spec language reference (Markdown) from `SpecSchema`, so the
/// documentation, the XSD and the checks describe one language.
public enum ReferenceWriter {
  private static func kindText(_ kind: AttributeKind) -> String {
    switch kind {
    case .count: return "positive integer"
    case .natural: return "integer >= 0"
    case .integer: return "integer"
    case .real: return "number"
    case .boolean: return "true / false"
    case .choice(let values): return values.map { "`\($0)`" }.joined(separator: ", ")
    case .shape: return "shape, e.g. `1 28 28`"
    case .pair: return "`N` or `HxW`"
    case .naturalPair: return "`N` or `HxW` (>= 0)"
    case .padding: return "`N`, `HxW`, `same`, `valid`"
    case .names: return "ids, space-separated"
    case .name: return "id"
    case .text: return "text"
    }
  }

  private static func table(_ e: ElementDefinition) -> String {
    var out = "| attribute | value | default | meaning |\n|---|---|---|---|\n"
    for a in e.attributes {
      let d = a.required ? "**required**" : (a.documentedDefault.map { "`\($0)`" } ?? "-")
      out += "| `\(a.name)` | \(kindText(a.kind)) | \(d) | \(a.summary) |\n"
    }
    return out
  }

  /// The whole reference.
  public static func markdown() -> String {
    var out = """
      # The ganc spec language, version 1: reference

      Generated from ganc's schema table by `ganc schema --format markdown`; the
      XSD (`ganc schema`, `specs/ganc.xsd`) and `ganc lint` read the same table.
      Rules that a table cannot show (shapes, references, data files, the loss
      against the architecture) are listed at the end.

      ## Structure

      `<gan>` holds, in any order and each at most once: `<data>`, `<latent>`,
      `<generator>`, `<discriminator>`, `<training>` (all required), `<output>`
      and `<test>` (optional). `<generator>` and `<discriminator>` hold layers, or
      name a file with `src="..."` whose root is `<network>`.

      `<classifier>` (an extension) holds `<data>` (labelled), `<network>`,
      `<training>` (required), `<test>` and `<output>` (optional): one net from a
      sample to one logit per class, trained with softmax cross-entropy
      (`loss="cross-entropy"`, the default there) by one
      `<optimizer net="classifier">`. Its accuracy on `<test>` is reported after
      training; `ganc eval RUN --judge CLASSIFIER_RUN` measures generators on its
      features (the layer with `id="features"`, else the input of its last layer).


      """
    for e in [
      SpecSchema.gan, SpecSchema.classifier, SpecSchema.data, SpecSchema.test, SpecSchema.latent, SpecSchema.generator, SpecSchema.networkFile,
      SpecSchema.training, SpecSchema.optimizer, SpecSchema.output, SpecSchema.blocks, SpecSchema.block, SpecSchema.param, SpecSchema.use,
    ] {
      out += "### `<\(e.name)>`: \(e.summary)\n\n" + table(e) + "\n"
    }
    out += "## Layers\n\nLayers run in document order; each reads the previous layer's output (the first reads `z` or `x`) unless `input` names another.\n\n"
    for e in SpecSchema.layers {
      out += "### `<\(e.name)>`: \(e.summary)\n\n" + table(e) + "\n"
    }
    out += """
      ## Rules checked by `ganc lint`

      - Shapes are inferred through every layer; conv2d, deconv2d and upsample need
        a `C H W` input; dense and maxout flatten theirs; reshape keeps the element
        count; concat's other axes and add's shapes must match.
      - Output sizes: conv2d `floor((H + 2p - d(k-1) - 1) / s) + 1`; deconv2d
        `(H - 1)s - 2p + d(k-1) + output-padding + 1` (PyTorch). `padding="same"`
        gives `ceil(H / s)` for conv2d and `H * s` for deconv2d (extra padding
        goes after, as in TensorFlow); `valid` is 0.
      - The generator's output shape equals the data shape; the discriminator's
        output is `1` (a logit), or K + 1 with `loss="semi-supervised"`; a
        classifier's is K (the classes of its labels). With `pack="P"` the discriminator reads the data
        shape with its first axis multiplied by P; the generator makes
        `batch * P` samples per step and D judges `batch` packs.
      - `label` (conditional training with labelled data) is read only by
        `<embedding>`, and an embedding needs `classes` above every label.
      - Ids are unique, refer only to earlier layers, and are not `z`, `x` or `label`.
      - Data files must exist and be well formed: IDX (magic 0x803 images,
        0x801 labels, matching counts; plain or .gz), CSV (header, numeric
        columns), NPY (little-endian float/int, C order).
      - No tensor may exceed 4 GiB over a batch, no net 2^30 parameters, no count
        2^31 - 1.
      - Errors: a sigmoid ending D with `hinge`/`wasserstein`/`wasserstein-gp`.
        Warnings: a sigmoid ending D with the other losses; a bias right before
        batchnorm; G's final activation not covering the data range; batchnorm in a
        `wasserstein-gp` critic; options that have no effect; outputs never read.

      ## Extensions to the contract

      All additive: every spec of the contract means the same.
      - `stride`, `dilation`, `padding` and `output-padding` accept `HxW` like `kernel`.
      - `<layernorm affine="false">` turns off its scale and shift.
      - `<network src="...">`: a layer file may itself name another (cycles are errors).
      - `src=` files are read only from the spec's own folder tree (symlinks
        resolved first); `--allow-include DIR` adds a folder. A device, FIFO or
        kernel file is never read as a spec, layer file or data file.
      - `samples-every="0"` / `checkpoint-every="0"`: only at the end of training.
      - `rmsprop` reads `beta2` as its squared-gradient decay (PyTorch's `alpha`,
        default 0.99 when `beta2` is not given, as PyTorch's) and `momentum`.
      - The root may carry `xsi:noNamespaceSchemaLocation` so editors find the XSD.
      - `<classifier>` specs (above), and `<test>` held-out labelled data with
        `<data>`'s attributes (same sample shape as the training data).
      - `loss="semi-supervised"` (Salimans et al. 2016): labelled data; D ends in
        K + 1 units (K class logits, then one for "generated"); D(x) is
        `sigmoid(logsumexp(class logits) - generated logit)`; D's loss is the
        non-saturating one on unlabelled real and generated batches plus the
        cross-entropy of a labelled batch; G's is non-saturating on that D(x).
      - `labels-per-class="N"` on `<data>` (idx with labels): only the first N
        images of each class (file order) keep their labels; a classifier trains
        on those alone, a semi-supervised D draws its labelled batches from them.
        Only those two may use it.
      - `feature-matching="ID"` on `<training>`: G's loss becomes the mean over
        features of (mean over the real batch - mean over the generated batch)^2
        of D's layer `ID` (Salimans et al. 2016); the G-step also reads a real batch.
      - `<dot inputs="a b">`: the per-sample inner product of two outputs of
        equal shape (one value): with `<embedding>` and `<add>` it writes a
        projection discriminator (Miyato and Koyama 2018),
        psi(phi(x)) + <embed(y), phi(x)>.
      - `<avgpool size="2">`: the mean over non-overlapping size x size windows
        (H and W must divide by size), or `global="true"`: over all of H and W
        (C H W to C).
      - `<training r1="gamma" r2="gamma" regularize-every="k">` (Mescheder et
        al. 2018; Karras et al. 2020): D's loss gains gamma/2 times the mean over
        real (R1) or generated (R2) samples of |grad_x D(x)|^2, through the
        compiled double backward; with k > 1 a second D-step program carries
        the penalties times k and runs on D updates 0, k, 2k, ... (the others
        run without them). Batch norm in D draws the per-sample warning.
      - `<optimizer schedule="constant|linear" warmup="N">`: update t (from 0)
        of a net's T updates (G: steps, D: steps x d-steps, a classifier:
        steps) uses lr (t + 1) / N during the warm-up, then lr (constant) or
        lr (T - t) / (T - N) (linear: PyTorch's LinearLR from 1 to 0 over the
        updates after the warm-up). The rate is fed each update, not compiled
        in; T is this run's steps, so resuming with another `--steps` re-plans
        a linear decay. A warm-up as long as the run is an error.
      - Reusable blocks: `<blocks>` (in `<gan>` or `<classifier>`) holds
        `<block name="...">` elements, each `<param name="..." default="...">`
        elements and then layers. `<use block="NAME" id="ID" PARAM="VALUE"/>`
        goes wherever a layer may (in a net, a `src=` layer file, or another
        block) and stands for the block's layers: every `$PARAM` in their
        attribute values becomes the use's value (or the default; a parameter
        without one must be given), ids inside become `ID.INNER` (or
        `BLOCK-N.INNER` for the N-th unnamed use of the block), `in` in an
        `input`/`inputs` names the layer before the use (the net's input when
        the use comes first), and the last layer takes the use's `id`. Errors
        inside an expanded layer point at its line in the block and note the
        use; an unknown block, a parameter the block does not declare, a
        missing value, an undeclared `$name` and a block that uses itself are
        errors. In the XSD a block's layers accept any text (`$PARAM`); `ganc
        lint` checks the values after substitution.
      - `spectral-norm="true"` (and `power-iterations`, default 1) on `<dense>`,
        `<maxout>`, `<conv2d>`, `<deconv2d>` and `<embedding>`: the weight
        divided by its largest singular value, as `torch.nn.utils.spectral_norm`
        (parameters `weight_orig`, buffers `weight_u`, `weight_v`; dim 1 for
        deconv2d): each training forward pass runs the power iteration from the
        stored u and writes u and v back; inference uses them as stored.
      - `<attention reduction="8">` (SAGAN, Zhang et al. 2019) on C H W maps:
        1x1 convolutions to queries and keys of max(1, C / reduction) channels
        and values of C; each position's output is the softmax-weighted sum of
        the values over all H W positions, scaled by a learned `gamma` that
        starts at 0 and added to the input. Parameters `query_conv`,
        `key_conv`, `value_conv` (`.weight`, `.bias`) and `gamma`, as SAGAN's
        PyTorch code; `spectral-norm` normalises the three convolutions. The
        batch's N x N maps (N = H W) count toward the 4 GiB tensor limit.
      - `<training diff-augment="color translation cutout">` (DiffAugment,
        Zhao et al. 2020; image data only): every batch D sees, real and
        generated, in the D-step and the G-step, is augmented in the order
        written with per-sample draws from the seeded streams (so a resumed
        run is the same): color = brightness + U(-0.5, 0.5), saturation (the
        distance from the channel mean) x U(0, 2), contrast (from the image
        mean) x U(0.5, 1.5); translation = a shift by an integer in
        [-H/8, H/8] and [-W/8, W/8] (rounded), zero-filled; cutout = a zeroed
        square of half the sides (rounded) centred anywhere, clipped at the
        edges. Gradients flow through it into G.
      - `<batchnorm classes="K">`: conditional batch norm (de Vries et al.
        2017; the generator of Miyato and Koyama 2018): batch statistics as
        usual, then the scale and shift of each sample's class (parameters
        `weight` and `bias`, K x channels, starting at 1 and 0), read from
        `label`; it needs conditional training, and K above every label.
      - `<training sync-batchnorm="true">`: under `mpirun -np N ganc train`
        (data parallel: `batch` is the global batch, each rank takes batch / N),
        batch norm's statistics are sums over every rank's share (an
        allreduce in the forward pass and its adjoint in the backward), so N
        ranks compute the step of one process; without it each rank
        normalises its own share (as PyTorch's DDP). No effect in one process.
      - `<output eval-every="N" judge="RUN" eval-samples="1000">`: every N steps
        and at the end, FD, KID, precision, recall, density and coverage of
        `eval-samples` generated samples against as many real ones (the spec's
        `<test>`, else the judge's, else the training data) on the judge's
        features, logged in metrics.csv (empty cells between evaluations),
        plotted in fd.png and quality.png, and the lowest-FD state kept as
        best.safetensors. `judge` is a run folder, relative to the current
        directory like `dir`; a judge that cannot be opened stops the run
        before its first step.

      """
    return out
  }
}
