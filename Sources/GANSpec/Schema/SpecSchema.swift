/// The value syntax an attribute accepts.
public enum AttributeKind: Sendable, Equatable {
  /// A positive integer.
  case count
  /// A non-negative integer.
  case natural
  /// Any integer (an axis may be negative).
  case integer
  /// A real number such as `0.5` or `1e-4`.
  case real
  /// `true` or `false` (also `1` or `0`, as in XSD).
  case boolean
  /// One of the listed words.
  case choice([String])
  /// Space-separated positive integers: a feature shape such as `1 28 28`.
  case shape
  /// A positive integer or `HxW`, such as `4` or `4x3`.
  case pair
  /// A non-negative integer or `HxW`.
  case naturalPair
  /// A non-negative integer, `HxW`, `same` or `valid`.
  case padding
  /// Space-separated layer ids.
  case names
  /// One identifier (letters, digits, `_`, `-`, `.`; not starting with a digit).
  case name
  /// Free text such as a path.
  case text
}

/// One attribute of an element in the spec language.
public struct AttributeDefinition: Sendable {
  public let name: String
  public let kind: AttributeKind
  public let required: Bool
  /// The default, as documented (nil where there is none or it depends on context).
  public let defaultValue: String?
  /// Defaults that replace `defaultValue` when another attribute of the same
  /// element has a given value: (attribute, value, default).
  public let defaultWhen: [(attribute: String, value: String, default: String)]
  public let summary: String

  init(
    _ name: String, _ kind: AttributeKind, required: Bool = false, default value: String? = nil,
    defaultWhen: [(attribute: String, value: String, default: String)] = [], _ summary: String
  ) {
    self.name = name
    self.kind = kind
    self.required = required
    self.defaultValue = value
    self.defaultWhen = defaultWhen
    self.summary = summary
  }

  /// The default where the element's other attributes are `others` (name -> value).
  public func defaultValue(given others: (String) -> String?) -> String? {
    defaultWhen.first { others($0.attribute) == $0.value }?.default ?? defaultValue
  }

  /// The default in words, such as `0.999` or `0.999; 0.99 with kind="rmsprop"`.
  public var documentedDefault: String? {
    guard let d = defaultValue else { return nil }
    return ([d] + defaultWhen.map { "\($0.default) with \($0.attribute)=\"\($0.value)\"" }).joined(separator: "; ")
  }
}

/// What an element may contain.
public enum ChildModel: Sendable, Equatable {
  /// Nothing.
  case empty
  /// Layers, in order.
  case layers
  /// Named elements, each at most once, in any order; `required` ones must appear.
  case all(required: [String], optional: [String])
  /// Any number of the named element.
  case repeated(String)
  /// A block's body: `<param>` elements, then layers whose attribute values
  /// may name parameters as `$name`.
  case block
}

/// One element of the spec language.
public struct ElementDefinition: Sendable {
  public let name: String
  public let attributes: [AttributeDefinition]
  public let children: ChildModel
  public let summary: String

  public func attribute(_ name: String) -> AttributeDefinition? {
    attributes.first { $0.name == name }
  }
}

/// The whole spec language, version 1: every element, attribute, value syntax
/// and default. `ganc schema` prints the XSD generated from this table, and the
/// front end's structural checks read it, so the two can never disagree.
public enum SpecSchema {
  public static let activations = [
    "relu", "leaky-relu", "tanh", "sigmoid", "elu", "gelu", "silu", "softplus",
  ]
  public static let inits = ["default", "normal", "xavier", "kaiming"]
  public static let losses = [
    "non-saturating", "minimax", "least-squares", "hinge", "wasserstein", "wasserstein-gp", "semi-supervised", "cross-entropy",
  ]
  public static let sources = ["ring", "grid", "idx", "csv", "npy"]

  static let layerCommon: [AttributeDefinition] = [
    .init("id", .name, "names this layer's output so that later layers can read it"),
    .init("input", .name, "reads this layer, or `z`, `x` or `label`, instead of the previous layer"),
  ]

  /// The layer elements, in the order of the reference table: each family's
  /// own file (Layers/) defines its elements.
  public static let layers: [ElementDefinition] = LayerFamilies.elements

  static let dataAttributes: [AttributeDefinition] = [
    .init("source", .choice(sources), required: true, "where the real samples come from"),
    .init("modes", .count, default: "8", "ring: number of Gaussians"),
    .init("radius", .real, default: "1", "ring: radius"),
    .init("std", .real, default: "0.01", defaultWhen: [("source", "grid", "0.05")], "ring/grid: standard deviation of each mode"),
    .init("samples", .natural, default: "0", "ring/grid: fixed training set size (0 = fresh draws)"),
    .init("size", .count, default: "5", "grid: modes per side"),
    .init("spacing", .real, default: "2", "grid: distance between modes"),
    .init("images", .text, "idx: image file (.gz allowed)"),
    .init("labels", .text, "idx: label file (.gz allowed)"),
    .init("path", .text, "csv/npy: the file"),
    .init("columns", .names, "csv: the columns to use (default all)"),
    .init("header", .boolean, default: "true", "csv: the first line names the columns"),
    .init("labels-per-class", .count, "idx with labels: keep the labels of only the first N images of each class"),
  ]

  public static let data = ElementDefinition(name: "data", attributes: dataAttributes, children: .empty, summary: "the real data")
  public static let test = ElementDefinition(
    name: "test", attributes: dataAttributes.filter { $0.name != "labels-per-class" }, children: .empty,
    summary: "held-out labelled data: a classifier's (or a semi-supervised D's) accuracy is scored on it, and ganc eval compares generated samples with it")

  public static let latent = ElementDefinition(
    name: "latent",
    attributes: [
      .init("size", .count, required: true, "dimension of z"),
      .init("distribution", .choice(["normal", "uniform"]), default: "normal", "N(0, I) or U[-1, 1]"),
    ], children: .empty, summary: "the generator's noise input z")

  static let network = [
    AttributeDefinition("src", .text, "a file whose root is <network> holding the layers")
  ]

  public static let generator = ElementDefinition(
    name: "generator", attributes: network, children: .layers, summary: "G: z (and label) to a sample")
  public static let discriminator = ElementDefinition(
    name: "discriminator", attributes: network, children: .layers,
    summary: "D: a sample (and label) to one logit")
  public static let networkFile = ElementDefinition(
    name: "network", attributes: network, children: .layers,
    summary: "a classifier's layers, or the root of a src= layer file (which may itself name another file with src)")

  public static let optimizer = ElementDefinition(
    name: "optimizer",
    attributes: [
      .init("net", .choice(["generator", "discriminator", "classifier"]), required: true, "which net it updates"),
      .init("kind", .choice(["adam", "sgd", "rmsprop"]), default: "adam", "the update rule"),
      .init("lr", .real, required: true, "learning rate"),
      .init("beta1", .real, default: "0.9", "adam: first-moment decay"),
      .init("beta2", .real, default: "0.999", defaultWhen: [("kind", "rmsprop", "0.99")], "adam: second-moment decay; rmsprop: squared-gradient decay"),
      .init("momentum", .real, default: "0", "sgd and rmsprop: momentum"),
      .init("weight-decay", .real, default: "0", "L2 penalty added to the gradient"),
      .init("epsilon", .real, default: "1e-8", "adam and rmsprop: added to the denominator"),
      .init("schedule", .choice(["constant", "linear"]), default: "constant", "the learning rate over training: constant, or linear decay to zero at the last update"),
      .init("warmup", .natural, default: "0", "updates of linear warm-up: update t (from 0) uses lr (t + 1) / warmup"),
    ], children: .empty, summary: "one per net")

  public static let training = ElementDefinition(
    name: "training",
    attributes: [
      .init("steps", .count, required: true, "generator updates"),
      .init("batch", .count, required: true, "samples per batch"),
      .init("loss", .choice(losses), default: "non-saturating", "the game"),
      .init("d-steps", .count, default: "1", "discriminator updates per generator update (k)"),
      .init("label-smoothing", .real, default: "1.0", "target for real samples (1.0 = none)"),
      .init("seed", .natural, default: "0", "seeds every random choice"),
      .init("conditional", .boolean, default: "false", "both nets get the class label"),
      .init("threads", .count, "worker threads (default: all cores)"),
      .init("pack", .count, default: "1", "samples the discriminator judges at once (PacGAN)"),
      .init("ema", .real, "decay of an exponential moving average of G's weights"),
      .init("clip", .real, default: "0.01", "wasserstein: weight clipping bound"),
      .init("gp-weight", .real, default: "10", "wasserstein-gp: gradient penalty weight"),
      .init("r1", .real, default: "0", "R1: gamma of the penalty gamma/2 E|grad D(x)|^2 on real samples (0 = none)"),
      .init("r2", .real, default: "0", "R2: the same penalty on generated samples (0 = none)"),
      .init("regularize-every", .count, default: "1", "lazy regularisation: R1/R2 on every k-th D update, multiplied by k"),
      .init("feature-matching", .name, "G's loss matches the batch mean of this D layer's output on real data"),
      .init(
        "sync-batchnorm", .boolean, default: "false",
        "under mpirun: batch norm's statistics over the global batch (summed across ranks), not each rank's share"),
      .init(
        "diff-augment", .text,
        "DiffAugment (Zhao et al. 2020) on every image batch D sees, real and generated: any of color, translation, cutout, applied in the order written"),
    ], children: .repeated("optimizer"), summary: "the training game")

  public static let blocks = ElementDefinition(
    name: "blocks", attributes: [], children: .repeated("block"),
    summary: "reusable blocks of layers, each defined once and used with <use> in any net")
  public static let block = ElementDefinition(
    name: "block", attributes: [.init("name", .name, required: true, "the name <use block=\"...\"> gives")], children: .block,
    summary: "`<param>` elements, then layers; attribute values may be `$param`, and `in` names the block's input")
  public static let param = ElementDefinition(
    name: "param",
    attributes: [
      .init("name", .name, required: true, "the parameter, written `$name` in the block's attribute values"),
      .init("default", .text, "its value when a use does not give one (without it, every use must)"),
    ], children: .empty, summary: "a parameter of a block")
  /// Not a layer family: the reader replaces it by the block's layers.
  public static let use = ElementDefinition(
    name: "use",
    attributes: [
      .init("block", .name, required: true, "the block to expand here"),
      .init("id", .name, "names the block's output (its last layer); its inner layers become `ID.INNER`"),
    ], children: .empty, summary: "the layers of a block, with one attribute per parameter (`filters=\"128\"`)")

  public static let output = ElementDefinition(
    name: "output",
    attributes: [
      .init("dir", .text, "run folder (default runs/<name>)"),
      .init("samples-every", .natural, default: "500", "steps between sample images (0 = only at the end)"),
      .init("checkpoint-every", .natural, default: "1000", "steps between checkpoints (0 = only at the end)"),
      .init("sample-count", .count, default: "64", "samples per image"),
      .init("eval-every", .natural, default: "0", "steps between evaluations on the judge's features (0 = none)"),
      .init("judge", .text, "the judge's run folder for eval-every (a trained <classifier>)"),
      .init("eval-samples", .count, default: "1000", "generated and real samples per evaluation during training"),
      .init(
        "keep", .count, default: "1",
        "checkpoints kept: with N > 1 the last N are also kept as checkpoint-NNNNNN.safetensors, for sample, eval and export --step"),
    ], children: .empty, summary: "where results go")

  public static let gan = ElementDefinition(
    name: "gan",
    attributes: [
      .init("name", .name, required: true, "the model's name"),
      .init("version", .choice(["1"]), required: true, "the language version"),
    ],
    children: .all(
      required: ["data", "latent", "generator", "discriminator", "training"], optional: ["output", "test", "blocks"]),
    summary: "a GAN spec")

  public static let classifier = ElementDefinition(
    name: "classifier",
    attributes: gan.attributes,
    children: .all(required: ["data", "network", "training"], optional: ["test", "output", "blocks"]),
    summary: "a classifier spec: one net trained on labelled data (a judge for ganc eval)")

  /// Every element by name (layers included).
  public static let elements: [String: ElementDefinition] = {
    var all: [String: ElementDefinition] = [:]
    for e in [gan, classifier, data, test, latent, generator, discriminator, networkFile, training, optimizer, output, blocks, block, param, use]
      + layers
    {
      all[e.name] = e
    }
    return all
  }()

  public static let layerNames: [String] = layers.map(\.name)

  /// Names of the elements `parent` may contain.
  public static func childNames(of parent: ElementDefinition) -> [String] {
    switch parent.children {
    case .empty: return []
    case .layers: return layerNames + [use.name]
    case .block: return [param.name] + layerNames + [use.name]
    case .all(let required, let optional): return required + optional
    case .repeated(let name): return [name]
    }
  }
}
