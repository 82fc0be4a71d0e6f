import Foundation
import GANDiagnostics

/// The semantic rules that a schema cannot express: data files, shapes
/// through both nets, G's output against the data, D's single logit, the
/// loss against the architecture, and suspicious but legal choices.
public enum SpecChecker {
  /// The most discriminator updates a run may make (steps x d-steps): each
  /// draws random streams numbered (update << 16) | op within 56 bits.
  public static let maximumUpdates = 1 << 40

  /// Checks `spec`, appending to `diagnostics`; returns the checked spec when
  /// no error was found.
  public static func check(_ spec: Spec, diagnostics: inout [Diagnostic]) -> CheckedSpec? {
    let before = diagnostics.count
    defer { noteExpansions(spec, &diagnostics, from: before) }
    checkSchedules(spec, &diagnostics)
    if spec.kind == .classifier {
      let checked = checkClassifier(spec, diagnostics: &diagnostics)
      return Array(diagnostics[before...]).hasErrors ? nil : checked
    }
    let training = spec.training
    let data = DataProbe.probe(spec.data, diagnostics: &diagnostics)
    if let data { checkLabelSubset(spec, data, semiSupervised: training.loss == .semiSupervised, &diagnostics) }
    checkTest(spec, data, &diagnostics)
    if let data, !training.augment.isEmpty, data.shape.count != 3 {
      diagnostics.append(
        .error(
          .attributeNotApplicable, "diff-augment transforms images (C H W), but the data has shape \(data.shape.shapeText)",
          at: training.location(of: "diff-augment"), help: "delete diff-augment=\"...\": DiffAugment is for image data"))
    }
    if training.loss == .semiSupervised {
      if let data, data.classes == nil {
        diagnostics.append(
          .error(
            .semiSupervised, "loss=\"semi-supervised\" needs labelled data, but <data source=\"\(spec.data.source.name)\"> has no labels",
            at: training.location(of: "loss"), help: spec.data.source.name == "idx" ? "add labels=\"...\" (and labels-per-class=\"100\") to <data>" : "use an idx data set with labels"))
      }
      for (attribute, bad) in [("conditional", training.conditional), ("pack", training.pack > 1)] where bad {
        diagnostics.append(
          .error(
            .semiSupervised, "loss=\"semi-supervised\" cannot be combined with \(attribute)=\"\(attribute == "pack" ? String(training.pack) : "true")\": D classifies each sample on its own",
            at: training.location(of: attribute), help: "delete \(attribute)=\"...\""))
      }
    }

    if training.conditional, let data, data.classes == nil {
      diagnostics.append(
        .error(
          .conditionalWithoutLabels, "conditional=\"true\" needs labelled data, but <data source=\"\(spec.data.source.name)\"> has no labels",
          at: training.location(of: "conditional"),
          help: spec.data.source.name == "idx" ? "add labels=\"...\" to <data>" : "use an idx data set with labels, or set conditional=\"false\""))
    }
    if training.conditional && training.pack > 1 {
      diagnostics.append(
        .error(
          .packShape, "pack=\"\(training.pack)\" cannot be combined with conditional training: a pack would hold several labels",
          at: training.location(of: "pack"), help: "use pack=\"1\" for a conditional GAN, or set conditional=\"false\""))
    }
    let classes = training.conditional ? data?.classes : nil
    var inputsG: [String: Shape] = ["z": [spec.latent.size]]
    var inputsD: [String: Shape] = [:]
    if training.conditional {
      inputsG["label"] = [1]
      inputsD["label"] = [1]
    }
    // Every discriminator update draws its own random streams, numbered below 2^40.
    let (updates, updatesOverflow) = training.steps.multipliedReportingOverflow(by: training.dSteps)
    if updatesOverflow || updates > SpecChecker.maximumUpdates {
      diagnostics.append(
        .error(
          .tooLarge, "steps x d-steps = \(updatesOverflow ? "more than 2^63" : String(updates)) discriminator updates is more than ganc counts (\(SpecChecker.maximumUpdates))",
          at: training.location(of: "steps"), help: "train for fewer steps; resume a finished run to go on"))
      return nil
    }
    let (gBatch, packOverflow) = training.batch.multipliedReportingOverflow(by: training.pack)
    if packOverflow {
      diagnostics.append(.error(.tooLarge, "batch x pack overflows", at: training.location(of: "pack"), help: "use a smaller pack"))
      return nil
    }
    var g = ShapeInference(network: spec.generator, inputs: inputsG, batch: gBatch)
    let generator = g.run()
    diagnostics += g.diagnostics

    var discriminator: CheckedNetwork? = nil
    if let data {
      var dShape = data.shape
      if let packed = Checked.multiply(dShape[0], training.pack) {
        dShape[0] = packed
      }
      inputsD["x"] = dShape
      var d = ShapeInference(network: spec.discriminator, inputs: inputsD, batch: training.batch)
      discriminator = d.run()
      diagnostics += d.diagnostics
      if let generator { checkGeneratorOutput(spec, generator, data, &diagnostics) }
      if let discriminator {
        checkDiscriminatorOutput(spec, discriminator, classes: data.classes, &diagnostics)
        checkFeatureMatching(spec, discriminator, &diagnostics)
      }
    }
    for net in [generator, discriminator].compactMap({ $0 }) {
      checkEmbeddings(net, classes: classes, spec, &diagnostics)
      checkBiasBeforeNorm(net, &diagnostics)
      if training.conditional && !net.readsLabel {
        diagnostics.append(
          .warning(
            .labelsUnused, "training is conditional, but the \(net.role.rawValue) never reads 'label'",
            at: spec.network(net.role).location, help: "read it through <embedding> and <concat>, or set conditional=\"false\""))
      }
    }
    if let discriminator {
      checkLossAgreement(spec, discriminator, &diagnostics)
      checkPenaltyInput(spec, discriminator, &diagnostics)
    }
    guard let data, let generator, let discriminator, !Array(diagnostics[before...]).hasErrors else { return nil }
    return CheckedSpec(spec: spec, data: data, generator: generator, discriminator: discriminator)
  }

  /// The activation a net ends with, looking through layers that only move values.
  static func finalActivation(_ net: CheckedNetwork) -> (Activation?, Layer) {
    var index = net.layers.count - 1
    while index > 0 {
      guard net.layers[index].layer.onlyMovesValues else { break }
      guard case .layer(let j) = net.layers[index].inputs.first else { return (nil, net.layers[index].layer) }
      index = j
    }
    let layer = net.layers[index].layer
    return (layer.op.fusedActivation, layer)
  }

  private static func checkGeneratorOutput(_ spec: Spec, _ g: CheckedNetwork, _ data: DataInfo, _ diagnostics: inout [Diagnostic]) {
    let last = g.layers.last!.layer
    if g.outputShape != data.shape {
      let count = Checked.product(g.outputShape), want = Checked.product(data.shape)
      let help =
        count == want
        ? "add <reshape shape=\"\(data.shape.shapeText)\"/> at the end of the generator"
        : "make the generator's last layer produce \(data.shape.shapeText) (\(want ?? 0) values per sample)"
      diagnostics.append(
        .error(
          .generatorOutput, "the generator makes samples of shape \(g.outputShape.shapeText), but the data has shape \(data.shape.shapeText)",
          at: last.location, notes: [DiagnosticNote("the data is defined here", at: spec.data.location)], help: help))
      return
    }
    // The final activation against the range of the data.
    let (activation, layer) = finalActivation(g)
    guard let range = data.range else {
      if let activation, let r = activation.range, r.upperBound.isFinite || r.lowerBound > -1 {
        diagnostics.append(
          .warning(
            .dataRange, "the generator ends in \(activation.name), whose outputs lie in \(format(r)), but the data is standardised and unbounded",
            at: layer.location, help: "end the generator without an activation"))
      }
      return
    }
    if let activation, let r = activation.range {
      if !(r.lowerBound <= range.lowerBound && r.upperBound >= range.upperBound) {
        diagnostics.append(
          .warning(
            .dataRange, "the generator ends in \(activation.name), whose outputs lie in \(format(r)), but the data spans \(format(range))",
            at: layer.location, help: range == -1...1 ? "end the generator with activation=\"tanh\"" : "end the generator without an activation"))
      }
    } else if activation == nil, range == -1...1 {
      diagnostics.append(
        .warning(
          .dataRange, "the generator's output is unbounded, but image data lies in [-1, 1]",
          at: layer.location, help: "end the generator with activation=\"tanh\""))
    }
  }

  private static func format(_ r: ClosedRange<Double>) -> String {
    func f(_ v: Double) -> String {
      if v.isInfinite { return v < 0 ? "-inf" : "inf" }
      return v == v.rounded() ? String(Int(v)) : String(format2: v)
    }
    return "[\(f(r.lowerBound)), \(f(r.upperBound))]"
  }

  /// A classifier: labelled data (and test data of the same shape), one net
  /// from a sample to one logit per class.
  static func checkClassifier(_ spec: Spec, diagnostics: inout [Diagnostic]) -> CheckedSpec? {
    let before = diagnostics.count
    let data = DataProbe.probe(spec.data, diagnostics: &diagnostics)
    if let data, data.classes == nil {
      diagnostics.append(
        .error(
          .dataLabels, "a classifier needs labelled data, but <data source=\"\(spec.data.source.name)\"> has no labels", at: spec.data.location,
          help: spec.data.source.name == "idx" ? "add labels=\"...\" to <data>" : "use an idx data set with labels"))
    }
    if let data { checkLabelSubset(spec, data, semiSupervised: true, &diagnostics) }
    checkTest(spec, data, &diagnostics)
    var net: CheckedNetwork? = nil
    if let data {
      var inference = ShapeInference(network: spec.discriminator, inputs: ["x": data.shape], batch: spec.training.batch)
      net = inference.run()
      diagnostics += inference.diagnostics
      if let net, let classes = data.classes, net.outputShape != [classes] {
        diagnostics.append(
          .error(
            .classifierOutput, "the classifier must output one logit per class (\(classes)), but it outputs shape \(net.outputShape.shapeText)",
            at: net.layers.last!.layer.location, notes: [DiagnosticNote("the labels are defined here", at: spec.data.location(of: "labels"))],
            help: "end the network with <dense units=\"\(classes)\"/>"))
      }
      if let net {
        checkBiasBeforeNorm(net, &diagnostics)
        let (activation, layer) = finalActivation(net)
        if let activation {
          diagnostics.append(
            .warning(
              .finalSigmoid, "the classifier ends in \(activation.name), but cross-entropy expects raw logits", at: layer.location,
              help: "remove the final activation: the loss applies the softmax itself"))
        }
      }
    }
    guard let data, let net, !Array(diagnostics[before...]).hasErrors else { return nil }
    return CheckedSpec(spec: spec, data: data, generator: CheckedNetwork(role: .generator, layers: [], inputs: [:], outputShape: []), discriminator: net)
  }

  /// A warm-up must end before training does.
  static func checkSchedules(_ spec: Spec, _ diagnostics: inout [Diagnostic]) {
    for role in spec.roles {
      let o = spec.training.optimizer(for: role)
      let total = spec.training.updates(of: role)
      guard o.warmup > 0, o.warmup >= total else { continue }
      diagnostics.append(
        .error(
          .outOfRange, "warmup=\"\(o.warmup)\" is not shorter than the \(role.rawValue)'s \(total) updates", at: o.warmupLocation ?? o.location,
          help: "use a warm-up of a few percent of the run, such as \(max(1, total / 20))"))
    }
  }

  /// `<test>`: labelled, of the training data's shape.
  private static func checkTest(_ spec: Spec, _ data: DataInfo?, _ diagnostics: inout [Diagnostic]) {
    guard let test = spec.test, let probed = DataProbe.probe(test, diagnostics: &diagnostics), let data else { return }
    if probed.classes == nil {
      diagnostics.append(.error(.dataLabels, "the test data has no labels to score against", at: test.location, help: "add labels=\"...\" to <test>"))
    }
    if let testClasses = probed.classes, let train = data.classes, testClasses > train {
      diagnostics.append(
        .error(
          .dataLabels, "the test labels go up to class \(testClasses - 1), but the training labels only to \(train - 1)", at: test.location(of: "labels"),
          notes: [DiagnosticNote("the training labels are named here", at: spec.data.location(of: "labels"))],
          help: "name the test labels of the same data set"))
    }
    if probed.shape != data.shape {
      diagnostics.append(
        .error(
          .shapeMismatch, "the test samples have shape \(probed.shape.shapeText), but the training data has \(data.shape.shapeText)", at: test.location,
          notes: [DiagnosticNote("the training data is defined here", at: spec.data.location)], help: "name test files of the same kind as the training data"))
    }
  }

  /// labels-per-class keeps a subset of the labels: only a classifier or a
  /// semi-supervised GAN reads it, and each class must have that many images.
  private static func checkLabelSubset(_ spec: Spec, _ data: DataInfo, semiSupervised: Bool, _ diagnostics: inout [Diagnostic]) {
    guard let n = spec.data.labelsPerClass else { return }
    let at = spec.data.location(of: "labels-per-class")
    guard semiSupervised else {
      diagnostics.append(
        .error(
          .attributeNotApplicable, "labels-per-class applies to loss=\"semi-supervised\" and to classifiers", at: at,
          help: "delete labels-per-class=\"...\", or set loss=\"semi-supervised\" on <training>"))
      return
    }
    if let count = data.count, let classes = data.classes, n > count / max(classes, 1) {
      diagnostics.append(
        .error(
          .outOfRange, "labels-per-class=\"\(n)\" asks for more images of a class than the data has (\(count) images, \(classes) classes)", at: at,
          help: "use at most \(count / max(classes, 1))"))
    }
  }

  /// feature-matching names a layer of D.
  private static func checkFeatureMatching(_ spec: Spec, _ d: CheckedNetwork, _ diagnostics: inout [Diagnostic]) {
    guard let id = spec.training.featureMatching else { return }
    let ids = d.layers.compactMap(\.layer.id)
    guard !ids.contains(id) else { return }
    diagnostics.append(
      .error(
        .featureMatching, "feature-matching names '\(id)', but the discriminator has no layer with that id", at: spec.training.location(of: "feature-matching"),
        help: ids.isEmpty
          ? "give the D layer whose output G should match an id, such as id=\"features\", and name it here"
          : Suggestion.closest(to: id, in: ids).map { "did you mean '\($0)'?" } ?? "D's layer ids are " + ids.map { "'\($0)'" }.joined(separator: ", ")))
  }

  private static func checkDiscriminatorOutput(_ spec: Spec, _ d: CheckedNetwork, classes: Int?, _ diagnostics: inout [Diagnostic]) {
    if spec.training.loss == .semiSupervised {
      guard let classes, d.outputShape != [classes + 1] else { return }
      diagnostics.append(
        .error(
          .discriminatorOutput,
          "with loss=\"semi-supervised\" the discriminator outputs \(classes) class logits and one for generated samples (\(classes + 1)), but it outputs shape \(d.outputShape.shapeText)",
          at: d.layers.last!.layer.location, notes: [DiagnosticNote("the loss is chosen here", at: spec.training.location(of: "loss"))],
          help: "end the discriminator with <dense units=\"\(classes + 1)\"/>"))
      return
    }
    guard d.outputShape != [1] else { return }
    diagnostics.append(
      .error(
        .discriminatorOutput, "the discriminator must output one logit per sample, but it outputs shape \(d.outputShape.shapeText)",
        at: d.layers.last!.layer.location, help: "end the discriminator with <dense units=\"1\"/>"))
  }

  private static func checkEmbeddings(_ net: CheckedNetwork, classes: Int?, _ spec: Spec, _ diagnostics: inout [Diagnostic]) {
    for entry in net.layers {
      let before = diagnostics.count
      entry.layer.family.check(entry, classes: classes, into: &diagnostics)
      diagnostics.noteExpansion(from: before, entry.layer.expansion)
    }
  }

  /// A diagnostic about a layer of an expanded block that no per-layer
  /// check annotated (the nets' outputs) gets the uses of the last layer
  /// written at its location.
  private static func noteExpansions(_ spec: Spec, _ diagnostics: inout [Diagnostic], from start: Int) {
    let layers = spec.generator.layers + spec.discriminator.layers
    for k in start..<diagnostics.count where !diagnostics[k].notes.contains(where: { $0.message.hasSuffix("expanded by this use") }) {
      guard let at = diagnostics[k].location, let layer = layers.last(where: { $0.location == at && !$0.expansion.isEmpty }) else { continue }
      diagnostics[k].notes += layer.expansion.map(\.note)
    }
  }

  private static func checkBiasBeforeNorm(_ net: CheckedNetwork, _ diagnostics: inout [Diagnostic]) {
    // The layers whose per-channel constants reach `j` unchanged: itself,
    // or the terms of a sum (a residual block's two branches before the next
    // block's batch norm).
    func producers(_ j: Int) -> [Int] {
      guard case .add = net.layers[j].layer.op else { return [j] }
      return net.layers[j].inputs.flatMap { ref -> [Int] in
        if case .layer(let k) = ref { return producers(k) }
        return []
      }
    }
    for entry in net.layers {
      guard entry.layer.cancelsPrecedingBias, case .layer(let first) = entry.inputs.first else { continue }
      for j in producers(first) {
        let producer = net.layers[j].layer
        guard let w = producer.op.weights, w.bias, producer.op.fusedActivation == nil else { continue }
        defer { diagnostics.noteExpansion(from: diagnostics.count - 1, producer.expansion) }
        diagnostics.append(
          .warning(
            .biasBeforeNorm, "the bias of this <\(producer.element)> is cancelled by the <batchnorm> that follows it",
            at: producer.location, notes: [DiagnosticNote("the batchnorm is here", at: entry.layer.location)],
            help: "add bias=\"false\" to the <\(producer.element)>"))
      }
    }
  }

  /// A gradient penalty differentiates D's score with respect to its input:
  /// a D whose score does not depend on x has nothing to penalise.
  private static func checkPenaltyInput(_ spec: Spec, _ d: CheckedNetwork, _ diagnostics: inout [Diagnostic]) {
    let t = spec.training
    guard t.penalizesGradients || t.loss == .wassersteinGP, !d.layers.isEmpty else { return }
    var reads = [Bool](repeating: false, count: d.layers.count)
    for (i, entry) in d.layers.enumerated() {
      reads[i] = entry.inputs.contains {
        switch $0 {
        case .input(let name): return name == "x"
        case .layer(let j): return reads[j]
        }
      }
    }
    guard !reads.last! else { return }
    let attribute = t.r1 > 0 ? "r1" : t.r2 > 0 ? "r2" : "loss"
    diagnostics.append(
      .error(
        .lossArchitecture, "the gradient penalty differentiates D's score with respect to its input, but the discriminator's output does not depend on x",
        at: t.location(of: attribute), notes: [DiagnosticNote("the discriminator ends here", at: d.layers.last!.layer.location)],
        help: "make D read x (its first layer does unless input=\"...\" says otherwise), or drop the penalty"))
  }

  private static func checkLossAgreement(_ spec: Spec, _ d: CheckedNetwork, _ diagnostics: inout [Diagnostic]) {
    let loss = spec.training.loss
    let (activation, layer) = finalActivation(d)
    if activation == .sigmoid {
      let lossLocation = DiagnosticNote("the loss is chosen here", at: spec.training.location(of: "loss"))
      switch loss {
      case .wasserstein, .wassersteinGP, .hinge:
        diagnostics.append(
          .error(
            .lossArchitecture, "the discriminator ends in a sigmoid, but loss=\"\(loss.rawValue)\" needs an unbounded score",
            at: layer.location, notes: [lossLocation], help: "remove the final sigmoid so that D outputs a raw score"))
      case .nonSaturating, .minimax, .leastSquares, .semiSupervised, .crossEntropy:
        diagnostics.append(
          .warning(
            .finalSigmoid, "the discriminator ends in a sigmoid, but loss=\"\(loss.rawValue)\" expects a raw logit",
            at: layer.location, notes: [lossLocation],
            help: loss.usesSigmoid ? "remove the final sigmoid: the loss applies it itself, more stably" : "remove the final sigmoid: least squares compares raw scores with 0 and 1"))
      }
    }
    if loss == .wassersteinGP || spec.training.penalizesGradients, let bn = d.layers.first(where: { $0.layer.mixesSamples }) {
      diagnostics.append(
        .warning(
          .normWithPenalty,
          "the \(loss == .wassersteinGP ? "gradient penalty" : "R1/R2 penalty") is per sample, but <batchnorm> mixes the samples of a batch",
          at: bn.layer.location, help: "use <layernorm/> in the critic, as Gulrajani et al. (2017) advise"))
    }
  }
}

extension String {
  /// A short decimal rendering of a real number.
  init(format2 v: Double) {
    var s = String(v)
    if s.hasSuffix(".0") { s.removeLast(2) }
    if s.count > 8, let r = Double(String(format: "%.4g", v)) { s = String(r) }
    self = s
  }
}
