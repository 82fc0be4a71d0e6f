import Foundation
import GANDiagnostics

/// Turns a located element tree into a typed `Spec`, reporting every
/// structural problem and every value out of its range. Files named by
/// `src=` are read through `loadNetwork`.
struct SpecReader {
  /// Reads the layers of a `src=` file: (path as written, where it was written) -> layers.
  typealias NetworkLoader = (String, SourceLocation, [String: BlockDefinition]) -> [Layer]?

  let file: String
  let directory: String
  let loadNetwork: NetworkLoader
  var diagnostics: [Diagnostic] = []
  /// The spec's `<blocks>`, by name.
  var blocks: [String: BlockDefinition] = [:]
  /// Uses of each block so far in the net being read (unnamed uses are `block-N`).
  var useCounts: [String: Int] = [:]
  /// Uses already reported as recursive.
  var recursionReported: Set<SourceLocation> = []

  init(file: String, directory: String? = nil, loadNetwork: @escaping NetworkLoader) {
    self.file = file
    self.directory = directory ?? (file as NSString).deletingLastPathComponent
    self.loadNetwork = loadNetwork
  }

  /// Resolves a path written in the spec against the spec's folder.
  func resolve(_ path: String) -> String {
    if path.hasPrefix("/") || directory.isEmpty { return path }
    return directory + "/" + path
  }

  mutating func attributesOf(_ e: XMLElement, _ def: ElementDefinition) -> AttributeReader { attributes(e, def) }
  mutating func reportUnknown(_ child: XMLElement, in parent: XMLElement, allowed: [String]) { unknownElement(child, in: parent, allowed: allowed) }

  private mutating func attributes(_ e: XMLElement, _ def: ElementDefinition) -> AttributeReader {
    let reader = AttributeReader(e, def)
    diagnostics += reader.diagnostics
    if let text = e.textLocation {
      diagnostics.append(
        .error(
          .unexpectedText, "<\(e.name)> holds text, but it takes only attributes and elements",
          at: text.column == 0 ? e.location : text, help: "delete the text, or turn it into an XML comment"))
    }
    return reader
  }

  mutating func require(
    _ ok: Bool, _ r: AttributeReader, _ name: String, _ message: String, help: String
  ) {
    guard !ok, r.raw(name) != nil else { return }
    diagnostics.append(.error(.outOfRange, message, at: r.location(name), help: help))
  }

  mutating func ignored(_ r: AttributeReader, _ name: String, because reason: String) {
    guard r.has(name) else { return }
    diagnostics.append(
      .warning(
        .optionIgnored, "'\(name)' has no effect \(reason)", at: r.location(name),
        help: "delete \(name)=\"...\""))
  }

  // MARK: Children

  /// Sorts the children of an element with an `.all` model, reporting unknown,
  /// duplicate and missing ones.
  private mutating func children(
    of e: XMLElement, _ def: ElementDefinition
  ) -> [String: XMLElement] {
    let allowed = SpecSchema.childNames(of: def)
    var found: [String: XMLElement] = [:]
    for child in e.children {
      guard allowed.contains(child.name) else {
        unknownElement(child, in: e, allowed: allowed)
        continue
      }
      if let first = found[child.name] {
        diagnostics.append(
          .error(
            .duplicateElement, "<\(e.name)> holds more than one <\(child.name)>", at: child.location,
            notes: [DiagnosticNote("the first <\(child.name)> is here", at: first.location)],
            help: "keep one <\(child.name)> and delete the other"))
        continue
      }
      found[child.name] = child
    }
    if case .all(let required, _) = def.children {
      for name in required where found[name] == nil {
        diagnostics.append(
          .error(
            .missingElement, "<\(e.name)> needs a <\(name)> element", at: e.location,
            help: "add <\(name) .../>: \(SpecSchema.elements[name]?.summary ?? "")"))
      }
    }
    return found
  }

  private mutating func unknownElement(_ child: XMLElement, in parent: XMLElement, allowed: [String]) {
    let everything = Array(SpecSchema.elements.keys)
    let help: String
    if allowed.isEmpty {
      help = "<\(parent.name)> takes attributes only; delete <\(child.name)>"
    } else if let close = Suggestion.closest(to: child.name, in: allowed) {
      help = "did you mean <\(close)>?"
    } else if everything.contains(child.name) {
      help =
        "<\(child.name)> belongs elsewhere; <\(parent.name)> may hold "
        + allowed.prefix(8).map { "<\($0)>" }.joined(separator: ", ")
        + (allowed.count > 8 ? ", ..." : "")
    } else {
      help = Suggestion.help(for: child.name, in: allowed, what: "element inside <\(parent.name)>")
    }
    let message =
      everything.contains(child.name)
      ? "<\(child.name)> is not allowed inside <\(parent.name)>"
      : "unknown element <\(child.name)> inside <\(parent.name)>"
    diagnostics.append(.error(.unknownElement, message, at: child.location, help: help))
  }

  private mutating func noChildren(_ e: XMLElement) {
    for child in e.children { unknownElement(child, in: e, allowed: []) }
  }

  // MARK: The root

  mutating func readSpec(_ root: XMLElement) -> Spec? {
    if root.name == "classifier" { return readClassifier(root) }
    guard root.name == "gan" else {
      let help =
        root.name == "network"
        ? "this is a layer file: name it from a spec with <generator src=\"...\"/>"
        : "a spec's root element is <gan name=\"...\" version=\"1\"> (or <classifier ...> for a judge)"
      diagnostics.append(
        .error(.wrongRoot, "the root element is <\(root.name)>, not <gan>", at: root.location, help: help))
      return nil
    }
    let r = attributes(root, SpecSchema.gan)
    let parts = children(of: root, SpecSchema.gan)
    let name = r.string("name") ?? "gan"
    guard let dataElement = parts["data"], let latentElement = parts["latent"],
      let generatorElement = parts["generator"], let discriminatorElement = parts["discriminator"],
      let trainingElement = parts["training"]
    else {
      return nil
    }
    if let b = parts["blocks"] { readBlocks(b) }
    let data = readData(dataElement)
    let latent = readLatent(latentElement)
    let generator = readNetwork(generatorElement, role: .generator)
    let discriminator = readNetwork(discriminatorElement, role: .discriminator)
    guard let training = readTraining(trainingElement, kind: .gan) else { return nil }
    let output = readOutput(parts["output"], name: name, at: root.location)
    let test = parts["test"].map { readData($0, definition: SpecSchema.test) }
    return Spec(
      file: file, directory: directory, name: name, data: data, latent: latent,
      generator: generator, discriminator: discriminator, training: training, output: output,
      location: root.location, test: test)
  }

  /// `<classifier>`: labelled data, one net, cross-entropy; the net is held
  /// where a GAN's discriminator is, and the generator is empty.
  private mutating func readClassifier(_ root: XMLElement) -> Spec? {
    let r = attributes(root, SpecSchema.classifier)
    let parts = children(of: root, SpecSchema.classifier)
    let name = r.string("name") ?? "classifier"
    guard let dataElement = parts["data"], let networkElement = parts["network"], let trainingElement = parts["training"] else { return nil }
    if let b = parts["blocks"] { readBlocks(b) }
    let data = readData(dataElement)
    let test = parts["test"].map { readData($0, definition: SpecSchema.test) }
    let net = readNetwork(networkElement, role: .classifier)
    guard let training = readTraining(trainingElement, kind: .classifier) else { return nil }
    let output = readOutput(parts["output"], name: name, at: root.location)
    return Spec(
      file: file, directory: directory, name: name, data: data, latent: LatentSpec(size: 1, distribution: .normal, location: root.location),
      generator: NetworkSpec(role: .generator, layers: [], location: root.location), discriminator: net, training: training,
      output: output, location: root.location, kind: .classifier, test: test)
  }

  // MARK: Data and latent

  static let sourceAttributes: [String: [String]] = [
    "ring": ["modes", "radius", "std", "samples"],
    "grid": ["size", "spacing", "std", "samples"],
    "idx": ["images", "labels"],
    "csv": ["path", "columns", "header"],
    "npy": ["path"],
  ]
  static let sourceRequired: [String: [String]] = ["idx": ["images"], "csv": ["path"], "npy": ["path"]]

  private mutating func readData(_ e: XMLElement, definition: ElementDefinition = SpecSchema.data) -> DataSpec {
    let r = attributes(e, definition)
    noChildren(e)
    let source = r.string("source") ?? "ring"
    let applicable = (Self.sourceAttributes[source] ?? []) + (source == "idx" && r.has("labels") ? ["labels-per-class"] : [])
    for a in e.attributes where a.name != "source" && definition.attribute(a.name) != nil {
      if !applicable.contains(a.name) {
        diagnostics.append(
          .error(
            .attributeNotApplicable, "'\(a.name)' does not apply to source=\"\(source)\"",
            at: a.location,
            help: a.name == "labels-per-class" && source == "idx"
              ? "labels-per-class needs labels=\"...\" on this element"
              : "the attributes of source=\"\(source)\" are " + applicable.map { "'\($0)'" }.joined(separator: ", ")))
      }
    }
    for name in Self.sourceRequired[source] ?? [] where !r.has(name) {
      diagnostics.append(
        .error(
          .missingAttribute, "<data source=\"\(source)\"> needs the attribute '\(name)'",
          at: e.location, help: "add \(name)=\"...\": \(SpecSchema.data.attribute(name)!.summary)"))
    }
    let std = r.real("std")
    require(std > 0, r, "std", "'std' must be positive", help: "use a standard deviation such as 0.01")
    let dataSource: DataSource
    switch source {
    case "grid":
      let spacing = r.real("spacing")
      require(spacing > 0, r, "spacing", "'spacing' must be positive", help: "use a spacing such as 2")
      dataSource = .grid(size: r.int("size"), spacing: spacing, std: std, samples: r.int("samples"))
    case "idx":
      dataSource = .idx(images: resolve(r.string("images") ?? ""), labels: r.raw("labels").map(resolve))
    case "csv":
      dataSource = .csv(
        path: resolve(r.string("path") ?? ""), columns: r.has("columns") ? r.names("columns") : nil,
        header: r.bool("header"))
    case "npy":
      dataSource = .npy(path: resolve(r.string("path") ?? ""))
    default:
      let radius = r.real("radius")
      require(radius > 0, r, "radius", "'radius' must be positive", help: "use a radius such as 1")
      dataSource = .ring(modes: r.int("modes"), radius: radius, std: std, samples: r.int("samples"))
    }
    let perClass = r.raw("labels-per-class").map { _ in r.int("labels-per-class") }
    return DataSpec(source: dataSource, labelsPerClass: perClass, location: e.location, attributeLocations: r.locations)
  }

  private mutating func readLatent(_ e: XMLElement) -> LatentSpec {
    let r = attributes(e, SpecSchema.latent)
    noChildren(e)
    return LatentSpec(
      size: r.int("size"), distribution: LatentDistribution(rawValue: r.string("distribution") ?? "") ?? .normal,
      location: e.location)
  }

  // MARK: Networks

  private mutating func readNetwork(_ e: XMLElement, role: NetworkRole) -> NetworkSpec {
    let def = role == .generator ? SpecSchema.generator : role == .discriminator ? SpecSchema.discriminator : SpecSchema.networkFile
    let r = attributes(e, def)
    var layers = readLayers(e)
    var source: String? = nil
    if let src = r.raw("src") {
      if !e.children.isEmpty {
        diagnostics.append(
          .error(
            .srcAndInline, "<\(e.name)> has both src=\"\(src)\" and layers of its own",
            at: r.location("src"), notes: [DiagnosticNote("the first inline layer is here", at: e.children[0].location)],
            help: "keep the layers in one place: delete src=\"...\" or the inline layers"))
      } else if let loaded = loadNetwork(src, r.location("src"), blocks) {
        layers = loaded
      }
      source = resolve(src)
    }
    return NetworkSpec(role: role, layers: layers, location: e.location, source: source)
  }

  mutating func readLayers(_ e: XMLElement) -> [Layer] {
    useCounts = [:]
    return expand(e.children, start: Layer.netInputReference, uses: [], stack: []).compactMap { item in
      let before = diagnostics.count
      var layer = readLayer(item.element, parent: e)
      diagnostics.noteExpansion(from: before, item.uses)
      layer?.expansion = item.uses
      return layer
    }
  }

  /// Reports an error at `location`.
  mutating func error(_ id: DiagnosticID, _ message: String, at location: SourceLocation, help: String) {
    diagnostics.append(.error(id, message, at: location, help: help))
  }

  private mutating func readLayer(_ e: XMLElement, parent: XMLElement) -> Layer? {
    guard SpecSchema.layerNames.contains(e.name), let def = SpecSchema.elements[e.name] else {
      unknownElement(e, in: parent, allowed: SpecSchema.layerNames)
      return nil
    }
    let r = attributes(e, def)
    noChildren(e)
    let op = LayerRegistry.family(e.name).read(e.name, r, &self)
    var layer = Layer(
      element: e.name, op: op, id: r.raw("id"), input: r.raw("input"), location: e.location,
      attributeLocations: r.locations)
    if def.attribute("spectral-norm") != nil {
      if r.bool("spectral-norm") {
        layer.spectralNorm = r.int("power-iterations")
      } else {
        ignored(r, "power-iterations", because: "without spectral-norm=\"true\"")
      }
    }
    return layer
  }

  // MARK: Training and output

  private mutating func readOptimizer(_ e: XMLElement) -> OptimizerSpec {
    let r = attributes(e, SpecSchema.optimizer)
    noChildren(e)
    let kind = OptimizerKind(rawValue: r.string("kind") ?? "adam") ?? .adam
    let lr = r.real("lr"), beta1 = r.real("beta1"), beta2 = r.real("beta2")
    let momentum = r.real("momentum"), decay = r.real("weight-decay"), epsilon = r.real("epsilon")
    require(lr > 0, r, "lr", "'lr' must be positive, not \(lr)", help: "use a learning rate such as 2e-4")
    require(beta1 >= 0 && beta1 < 1, r, "beta1", "'beta1' must be at least 0 and below 1", help: "use a value such as 0.5")
    require(beta2 >= 0 && beta2 < 1, r, "beta2", "'beta2' must be at least 0 and below 1", help: "use a value such as 0.999")
    require(momentum >= 0 && momentum < 1, r, "momentum", "'momentum' must be at least 0 and below 1", help: "use a value such as 0.9")
    require(decay >= 0, r, "weight-decay", "'weight-decay' must not be negative", help: "use 0 for none")
    require(epsilon > 0, r, "epsilon", "'epsilon' must be positive", help: "use a small value such as 1e-8")
    switch kind {
    case .adam: ignored(r, "momentum", because: "with kind=\"adam\"")
    case .sgd:
      ignored(r, "beta1", because: "with kind=\"sgd\"")
      ignored(r, "beta2", because: "with kind=\"sgd\"")
      ignored(r, "epsilon", because: "with kind=\"sgd\"")
    case .rmsprop: ignored(r, "beta1", because: "with kind=\"rmsprop\"")
    }
    var o = OptimizerSpec(
      net: NetworkRole(rawValue: r.string("net") ?? "") ?? .generator, kind: kind, lr: lr, beta1: beta1,
      beta2: beta2, momentum: momentum, weightDecay: decay, epsilon: epsilon,
      location: e.location)
    o.schedule = LRSchedule(rawValue: r.string("schedule") ?? "") ?? .constant
    o.warmup = r.int("warmup")
    o.warmupLocation = r.location("warmup")
    return o
  }

  private mutating func readTraining(_ e: XMLElement, kind: SpecKind) -> TrainingSpec? {
    let roles: [NetworkRole] = kind == .classifier ? [.classifier] : [.generator, .discriminator]
    let r = attributes(e, SpecSchema.training)
    var optimizers: [NetworkRole: (OptimizerSpec, XMLElement)] = [:]
    for child in e.children {
      guard child.name == "optimizer" else {
        unknownElement(child, in: e, allowed: ["optimizer"])
        continue
      }
      let opt = readOptimizer(child)
      guard roles.contains(opt.net) else {
        diagnostics.append(
          .error(
            .optimizerNet, kind == .classifier ? "a classifier has one net: net=\"\(opt.net.rawValue)\" names none" : "a GAN has no net called '\(opt.net.rawValue)'",
            at: child.location, help: "use " + roles.map { "net=\"\($0.rawValue)\"" }.joined(separator: " or ")))
        continue
      }
      if let (_, first) = optimizers[opt.net] {
        diagnostics.append(
          .error(
            .optimizerDuplicate, "a second <optimizer> for the \(opt.net.rawValue)", at: child.location,
            notes: [DiagnosticNote("the first is here", at: first.location)],
            help: "keep one <optimizer net=\"\(opt.net.rawValue)\">"))
        continue
      }
      optimizers[opt.net] = (opt, child)
    }
    for role in roles where optimizers[role] == nil {
      diagnostics.append(
        .error(
          .optimizerMissing, "<training> has no <optimizer> for the \(role.rawValue)", at: e.location,
          help: "add <optimizer net=\"\(role.rawValue)\" kind=\"adam\" lr=\"2e-4\" beta1=\"0.5\"/>"))
    }
    let loss = kind == .classifier && !r.has("loss") ? .crossEntropy : Loss(rawValue: r.string("loss") ?? "") ?? .nonSaturating
    if kind == .classifier {
      require(loss == .crossEntropy, r, "loss", "a classifier trains with loss=\"cross-entropy\", not \"\(loss.rawValue)\"", help: "delete loss=\"...\" or write loss=\"cross-entropy\"")
      for name in ["d-steps", "label-smoothing", "conditional", "pack", "ema", "clip", "gp-weight", "feature-matching", "r1", "r2", "regularize-every"] {
        ignored(r, name, because: "in a classifier")
      }
    } else {
      require(loss != .crossEntropy, r, "loss", "loss=\"cross-entropy\" is a classifier's", help: "use a game such as \"non-saturating\", or \"semi-supervised\" for a GAN that classifies")
    }
    let smoothing = r.real("label-smoothing")
    require(
      smoothing > 0 && smoothing <= 1, r, "label-smoothing", "'label-smoothing' must be above 0 and at most 1, not \(smoothing)",
      help: "use the target for real samples, such as 0.9 (1.0 = no smoothing)")
    let ema = r.optionalReal("ema")
    if let ema { require(ema > 0 && ema < 1, r, "ema", "'ema' must be above 0 and below 1, not \(ema)", help: "use a decay such as 0.999") }
    let clip = r.real("clip"), gpWeight = r.real("gp-weight")
    require(clip > 0, r, "clip", "'clip' must be positive", help: "use a bound such as 0.01")
    require(gpWeight >= 0, r, "gp-weight", "'gp-weight' must not be negative", help: "use a weight such as 10")
    if loss != .wasserstein { ignored(r, "clip", because: "unless loss=\"wasserstein\"") }
    if loss != .wassersteinGP { ignored(r, "gp-weight", because: "unless loss=\"wasserstein-gp\"") }
    if r.has("label-smoothing") && !loss.usesSigmoid && smoothing != 1 {
      ignored(r, "label-smoothing", because: "with loss=\"\(loss.rawValue)\"")
    }
    let threads = r.raw("threads").map { _ in r.int("threads") }
    if let threads, threads > 1024 {
      diagnostics.append(
        .error(
          .tooLarge, "'threads' = \(threads) is more than any machine needs", at: r.location("threads"),
          help: "leave threads out to use every core"))
    }
    let featureMatching = r.raw("feature-matching")
    let r1 = r.real("r1"), r2 = r.real("r2")
    require(r1 >= 0, r, "r1", "'r1' must not be negative", help: "use a gamma such as 10, or 0 for none")
    require(r2 >= 0, r, "r2", "'r2' must not be negative", help: "use a gamma such as 10, or 0 for none")
    if r1 == 0 && r2 == 0 { ignored(r, "regularize-every", because: "without r1 or r2") }
    var augment: [Augmentation] = []
    for word in (r.raw("diff-augment") ?? "").split(whereSeparator: { $0 == " " || $0 == "," }) {
      guard let a = Augmentation(rawValue: String(word)) else {
        diagnostics.append(
          .error(
            .invalidChoice, "'\(word)' is not a DiffAugment policy", at: r.location("diff-augment"),
            help: Suggestion.help(for: String(word), in: Augmentation.allCases.map(\.rawValue), what: "policy")))
        continue
      }
      if augment.contains(a) {
        diagnostics.append(.error(.outOfRange, "'\(word)' is named twice in diff-augment", at: r.location("diff-augment"), help: "name each policy once"))
      }
      augment.append(a)
    }
    guard let d = optimizers[kind == .classifier ? .classifier : .discriminator]?.0,
      let g = kind == .classifier ? d : optimizers[.generator]?.0
    else { return nil }
    return TrainingSpec(
      steps: r.int("steps"), batch: r.int("batch"), loss: loss, dSteps: r.int("d-steps"),
      labelSmoothing: smoothing, seed: UInt64(r.int("seed")), conditional: r.bool("conditional"),
      threads: threads, pack: r.int("pack"), ema: ema, clip: clip, gpWeight: gpWeight, featureMatching: featureMatching, r1: r1, r2: r2,
      regularizeEvery: r.int("regularize-every"), augment: augment, syncBatchnorm: r.bool("sync-batchnorm"),
      generatorOptimizer: g, discriminatorOptimizer: d, location: e.location,
      attributeLocations: r.locations)
  }

  private mutating func readOutput(_ element: XMLElement?, name: String, at location: SourceLocation) -> OutputSpec {
    // No <output>: the schema's defaults, read the same way as from an empty element.
    let e = element ?? XMLElement(name: "output", location: location, attributes: [], children: [])
    let r = attributes(e, SpecSchema.output)
    noChildren(e)
    let count = r.int("sample-count")
    if count > 4096 {
      diagnostics.append(
        .error(
          .tooLarge, "'sample-count' = \(count) is too many samples for one image", at: r.location("sample-count"),
          help: "use at most 4096"))
    }
    let evalEvery = r.int("eval-every")
    if evalEvery > 0 && !r.has("judge") {
      diagnostics.append(
        .error(
          .missingAttribute, "eval-every=\"\(evalEvery)\" needs a judge to compute the metrics with", at: r.location("eval-every"),
          help: "add judge=\"runs/fashion-judge\" (a run of a <classifier> spec such as specs/fashion-judge.xml)"))
    }
    if evalEvery == 0 { ignored(r, "judge", because: "without eval-every") }
    let evalSamples = r.int("eval-samples")
    require(evalSamples >= 2 && evalSamples <= 50_000, r, "eval-samples", "'eval-samples' must be between 2 and 50000, not \(evalSamples)", help: "use 1000 (more is steadier and slower)")
    return OutputSpec(
      dir: r.string("dir") ?? "runs/\(name)", samplesEvery: r.int("samples-every"),
      checkpointEvery: r.int("checkpoint-every"), sampleCount: count, evalEvery: evalEvery, judge: r.raw("judge"), evalSamples: evalSamples,
      keep: r.int("keep"))
  }
}
