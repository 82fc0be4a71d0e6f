import GANIR
import GANSpec

/// The programs a compiled model holds, named by what they are.
public enum ProgramKind: Hashable, Sendable {
  /// k of these per generator update: D's loss, gradients and update.
  case discriminatorStep
  /// With lazy regularisation: the D-step that adds R1/R2 (times k), run on every k-th D update.
  case regularizedDiscriminatorStep
  /// G's loss through D, gradients and update.
  case generatorStep
  /// z (and labels) to samples with the live weights, or with the generator's averages.
  case sampler(averaged: Bool)
  /// A classifier's update: cross-entropy against the labels, gradients, update.
  case classifierStep
  /// A judging net in inference mode: samples to class logits and features
  /// (a classifier, or a semi-supervised GAN's discriminator).
  case inference(NetworkRole)
  /// Data-parallel training: the optimizer update of a net from its
  /// gradients, summed across ranks (the steps then end at the gradients).
  case update(NetworkRole)
  /// A program built by hand (tests, tools).
  case custom(String)

  /// Its name in IR dumps, reports and profiles.
  public var name: String {
    switch self {
    case .discriminatorStep: return "d-step"
    case .regularizedDiscriminatorStep: return "d-step-regularized"
    case .generatorStep: return "g-step"
    case .sampler(let averaged): return averaged ? "sample-ema" : "sample"
    case .classifierStep: return "classify-step"
    case .inference(let role): return "\(role.rawValue)-inference"
    case .update(let role): return "\(role.rawValue)-update"
    case .custom(let name): return name
    }
  }

  /// Where its random ops (dropout, the gradient penalty) draw from.
  public var randomPurpose: RandomStream.Purpose {
    switch self {
    case .discriminatorStep, .regularizedDiscriminatorStep, .classifierStep: return .discriminatorStep
    case .generatorStep: return .generatorStep
    default: return .otherProgram
    }
  }
}

/// A value the trainer writes into a program before each run.
public struct ProgramInput: Hashable, Sendable {
  public enum Kind: Hashable, Sendable {
    /// Noise z for the generator.
    case latent
    /// A batch of real samples.
    case data
    /// Class ids of the real samples.
    case labels
    /// One-hot rows [B, width] of the labelled batch's classes (a classifier's
    /// targets; a semi-supervised D's, whose last column, "generated", stays 0).
    case labelTargets
    /// A semi-supervised D's batch of labelled real samples.
    case labelledData
    /// Class ids the generator is asked for.
    case generatedLabels
    /// The net's learning rate this step (fed, so a run can lower it without recompiling).
    case learningRate(NetworkRole)
    /// Adam's bias correction 1 / (1 - beta^t) of moment 1 or 2 for the net's update count t.
    case adamBiasCorrection(NetworkRole, moment: Int)
    /// DiffAugment's draws for the real or the generated batch.
    case augmentation(generated: Bool, AugmentationDraw)
  }

  /// What DiffAugment draws per sample, fed so that resuming and the parity
  /// harness see the same values (index: part of the random stream's id).
  public enum AugmentationDraw: Int, Hashable, Sendable, CaseIterable {
    /// [B, 1, 1, 1]: added (U(-0.5, 0.5)).
    case brightness
    /// [B, 1, 1, 1]: the distance from the channel mean is multiplied by it (U(0, 2)).
    case saturation
    /// [B, 1, 1, 1]: the distance from the image mean is multiplied by it (U(0.5, 1.5)).
    case contrast
    /// [B, 2s + 1]: one-hot row and column shifts -s...s (s = H/8, W/8 rounded).
    case shiftRows, shiftColumns
    /// [B, 1, H, W]: 0 inside the cut-out square, 1 elsewhere.
    case cutout

    public var name: String {
      switch self {
      case .brightness: return "brightness"
      case .saturation: return "saturation"
      case .contrast: return "contrast"
      case .shiftRows: return "shift_rows"
      case .shiftColumns: return "shift_columns"
      case .cutout: return "cutout"
      }
    }
  }
  public var name: String
  public var shape: [Int]
  public var kind: Kind

  public init(name: String, shape: [Int], kind: Kind) {
    self.name = name
    self.shape = shape
    self.kind = kind
  }
}

/// One compiled step: a graph and what it reads and reports.
public struct Program: Hashable, Sendable {
  public var kind: ProgramKind
  public var name: String { kind.name }
  public var graph: Graph
  public var inputs: [ProgramInput]
  /// The optimizer update of each parameter the program trains, by parameter name.
  public var updates: [String: ParameterUpdate] = [:]
  /// How many ops the graph had before the passes ran.
  public var opsBeforePasses: Int = 0
  /// Kernels before fusion (after dead-code elimination).
  public var kernelsBeforeFusion: Int = 0
}

/// Builds the discriminator step, the generator step and the sampler.
public struct TrainingGraphBuilder {
  public let spec: CheckedSpec
  public private(set) var lowering: Lowering
  /// Every persistent tensor: net parameters, optimizer state, EMA weights.
  public private(set) var persistent: [ParameterInfo]

  /// Data-parallel ranks: above 1, each training step ends with its
  /// gradients in persistent tensors (`grad.NAME`, one contiguous run per
  /// net, summed across ranks in place) and `update(role)` applies them.
  public let ranks: Int

  public init(spec: CheckedSpec, ranks: Int = 1) {
    self.spec = spec
    self.ranks = max(ranks, 1)
    lowering = Lowering(spec: spec)
    if spec.spec.training.syncBatchnorm { lowering.statisticRanks = self.ranks }
    persistent = lowering.parameters
    for role in NetworkRole.allCases {
      let opt = spec.spec.training.optimizer(for: role)
      for p in lowering.parameters where p.trainable && p.net == role {
        for state in OptimizerRule(opt).slots {
          persistent.append(
            ParameterInfo(
              name: "\(p.name).\(state)", shape: p.shape, trainable: false, initialization: .constant(0), net: role,
              role: .optimizerState(of: p.name, slot: state)))
        }
      }
    }
    if spec.spec.training.ema != nil {
      // Only learned weights are averaged: the EMA sampler reads the live running statistics.
      for p in lowering.parameters where p.trainable && p.net == .generator {
        persistent.append(
          ParameterInfo(
            name: Self.averageName(p.name), shape: p.shape, trainable: false, initialization: p.initialization, net: .generator,
            role: .average(of: p.name)))
      }
    }
    if self.ranks > 1 {
      for role in NetworkRole.allCases {
        for p in lowering.parameters where p.trainable && p.net == role {
          persistent.append(
            ParameterInfo(
              name: Self.gradientName(p.name), shape: p.shape, trainable: false, initialization: .constant(0), net: role, role: .gradient(of: p.name)))
        }
      }
    }
  }

  /// The persistent tensor holding parameter `name`'s gradient (data parallel).
  public static func gradientName(_ name: String) -> String { "grad." + name }

  /// A net's optimizer update from its summed gradients, divided by the
  /// ranks (each rank's loss is the mean over its share of the batch, so the
  /// mean of the ranks' gradients is the gradient of the global batch's loss).
  public mutating func updateStep(_ role: NetworkRole) throws -> Program {
    var g = Graph()
    var inputs: [ProgramInput] = []
    var params: [String: ValueID] = [:], gradients: [String: ValueID] = [:]
    for info in lowering.parameters where info.trainable && info.net == role {
      params[info.name] = g.parameter(info.name, info.shape)
      gradients[info.name] = g.scale(g.parameter(Self.gradientName(info.name), info.shape), 1 / Double(ranks))
    }
    var parameterUpdates: [String: ParameterUpdate] = [:]
    update(role, gradients: gradients, params: params, &g, inputs: &inputs, parameterUpdates: &parameterUpdates)
    return Program(kind: .update(role), graph: g, inputs: inputs, updates: parameterUpdates, opsBeforePasses: g.nodes.count)
  }

  /// The name of the generator's average of parameter `name`.
  public static func averageName(_ name: String) -> String { "ema." + name }

  var training: TrainingSpec { spec.spec.training }
  var packedBatch: Int { training.batch * training.pack }

  private func dataShape() -> [Int] { spec.data.shape }

  /// Real or generated samples [B*P, ...] regrouped into packs [B, P*C, ...].
  private func pack(_ v: ValueID, _ g: inout Graph) -> ValueID {
    guard training.pack > 1 else { return v }
    var shape = dataShape()
    shape[0] *= training.pack
    return g.reshape(v, [training.batch] + shape)
  }

  /// DiffAugment's largest shift along an axis of `size` (its ratio 1/8, rounded).
  public static func shiftRange(_ size: Int) -> Int { Int(Double(size) * 0.125 + 0.5) }
  /// DiffAugment's cut-out side along an axis of `size` (its ratio 1/2, rounded).
  public static func cutoutSize(_ size: Int) -> Int { Int(Double(size) * 0.5 + 0.5) }

  /// DiffAugment (Zhao et al. 2020) of an image batch [B, C, H, W], in the
  /// spec's order, from fed per-sample draws; differentiable in x, so G learns
  /// through it. Real and generated batches get their own draws.
  private func augment(_ x: ValueID, generated: Bool, _ g: inout Graph, _ inputs: inout [ProgramInput]) throws -> ValueID {
    guard !training.augment.isEmpty, g.shape(x).count == 4 else { return x }
    let shape = g.shape(x)
    let (b, h, w) = (shape[0], shape[2], shape[3])
    func draw(_ d: ProgramInput.AugmentationDraw, _ s: [Int], _ g: inout Graph) -> ValueID {
      let name = "augment.\(generated ? "generated" : "real").\(d.name)"
      inputs.append(ProgramInput(name: name, shape: s, kind: .augmentation(generated: generated, d)))
      return g.input(name, s)
    }
    func mean(_ v: ValueID, _ axes: [Int], _ g: inout Graph) -> ValueID {
      g.broadcast(g.scale(g.sum(v, axes: axes), 1 / Double(axes.map { shape[$0] }.reduce(1, *))), shape)
    }
    var y = x
    for a in training.augment {
      switch a {
      case .color:
        let perSample = [b, 1, 1, 1]
        y = g.addv(y, g.broadcast(draw(.brightness, perSample, &g), shape))
        var m = mean(y, [1], &g)
        y = g.addv(g.mul(g.sub(y, m), g.broadcast(draw(.saturation, perSample, &g), shape)), m)
        m = mean(y, [1, 2, 3], &g)
        y = g.addv(g.mul(g.sub(y, m), g.broadcast(draw(.contrast, perSample, &g), shape)), m)
      case .translation:
        y = try shift(y, axis: 2, weights: draw(.shiftRows, [b, 2 * Self.shiftRange(h) + 1], &g), &g)
        y = try shift(y, axis: 3, weights: draw(.shiftColumns, [b, 2 * Self.shiftRange(w) + 1], &g), &g)
      case .cutout:
        y = g.mul(y, g.broadcast(draw(.cutout, [b, 1, h, w], &g), shape))
      }
    }
    return y
  }

  /// x shifted along `axis` by each sample's t in -s...s (out[i] = x[i + t],
  /// zero-filled), as the sum over t of the one-hot weight times that shift.
  private func shift(_ x: ValueID, axis: Int, weights: ValueID, _ g: inout Graph) throws -> ValueID {
    let shape = g.shape(x), n = shape[axis], s = (g.shape(weights)[1] - 1) / 2
    var total: ValueID? = nil
    for k in 0...(2 * s) where abs(k - s) < n {
      let t = k - s
      var shifted = x
      if t != 0 {
        var part = shape
        part[axis] = n - abs(t)
        let kept = try g.add(.slice(axis: axis, start: max(t, 0)), [x], shape: part)
        shifted = try g.add(.pad(axis: axis, before: max(-t, 0)), [kept], shape: shape)
      }
      let column = try g.add(.slice(axis: 1, start: k), [weights], shape: [shape[0], 1])
      let term = g.mul(shifted, g.broadcast(g.reshape(column, [shape[0], 1, 1, 1]), shape))
      total = total.map { g.addv($0, term) } ?? term
    }
    return total ?? g.scale(x, 0)
  }

  /// BCE with logits against target t: t * softplus(-l) + (1 - t) * softplus(l), averaged.
  private func bce(_ logits: ValueID, target: Double, _ g: inout Graph) -> ValueID {
    var terms: ValueID? = nil
    if target > 0 { terms = g.scale(g.unary(.softplus, g.unary(.neg, logits)), target) }
    if target < 1 {
      let other = g.scale(g.unary(.softplus, logits), 1 - target)
      terms = terms.map { g.addv($0, other) } ?? other
    }
    return g.meanAll(terms!)
  }

  /// log sum_k exp(l_k) over the columns of [B, K] logits, as [B, 1]; the
  /// row maximum is subtracted first and carries no gradient.
  private func logSumExp(_ l: ValueID, _ g: inout Graph) -> ValueID {
    let shape = g.shape(l)
    let m = try! g.add(.stopGradient, [try! g.add(.reduceMax(axes: [1]), [l])])
    let e = g.unary(.exp, g.sub(l, g.broadcast(m, shape)))
    return g.addv(g.unary(.log, g.sum(e, axes: [1])), m)
  }

  /// Softmax cross-entropy of [B, K] logits against one-hot rows, averaged
  /// over the rows that hold a class (all-zero rows are unlabelled).
  private func crossEntropy(_ logits: ValueID, targets: ValueID, _ g: inout Graph) -> ValueID {
    let shape = g.shape(logits)
    let lse = g.broadcast(logSumExp(logits, &g), shape)
    let nll = g.mul(targets, g.sub(lse, logits))
    return g.div(g.sumAll(nll), g.binary(.max, g.sumAll(targets), g.constant(1)))
  }

  /// A semi-supervised D's real-vs-generated logit from K class logits and
  /// one "generated" logit: log sum_k exp(l_k) - l_generated (Salimans et al.).
  private func realLogit(_ logits: ValueID, _ g: inout Graph) throws -> ValueID {
    let shape = g.shape(logits)
    let k = shape[1] - 1
    let classes = try g.add(.slice(axis: 1, start: 0), [logits], shape: [shape[0], k])
    let generated = try g.add(.slice(axis: 1, start: k), [logits], shape: [shape[0], 1])
    return g.sub(logSumExp(classes, &g), generated)
  }

  private func discriminatorLoss(real r: ValueID, fake f: ValueID, _ g: inout Graph) -> ValueID {
    switch training.loss {
    case .nonSaturating, .minimax, .semiSupervised, .crossEntropy:
      return g.addv(bce(r, target: training.labelSmoothing, &g), bce(f, target: 0, &g))
    case .leastSquares:
      let real = g.meanAll(g.unary(.square, g.sub(r, g.constant(1))))
      let fake = g.meanAll(g.unary(.square, f))
      return g.scale(g.addv(real, fake), 0.5)
    case .hinge:
      let real = g.meanAll(g.binary(.max, g.sub(g.constant(1), r), g.constant(0)))
      let fake = g.meanAll(g.binary(.max, g.addv(g.constant(1), f), g.constant(0)))
      return g.addv(real, fake)
    case .wasserstein, .wassersteinGP:
      return g.sub(g.meanAll(f), g.meanAll(r))
    }
  }

  private func generatorLoss(fake f: ValueID, _ g: inout Graph) -> ValueID {
    switch training.loss {
    case .nonSaturating, .semiSupervised, .crossEntropy: return bce(f, target: 1, &g)
    // The saturating game of the original paper: minimise log(1 - D(G(z))) = -softplus(f).
    case .minimax: return g.unary(.neg, g.meanAll(g.unary(.softplus, f)))
    case .leastSquares: return g.scale(g.meanAll(g.unary(.square, g.sub(f, g.constant(1)))), 0.5)
    case .hinge, .wasserstein, .wassersteinGP: return g.unary(.neg, g.meanAll(f))
    }
  }

  /// Mean D(x) as a probability for sigmoid losses, the mean raw score otherwise.
  private func meanScore(_ logits: ValueID, _ g: inout Graph) -> ValueID {
    training.loss.usesSigmoid ? g.meanAll(g.unary(.sigmoid, logits)) : g.meanAll(logits)
  }

  /// Appends optimizer updates (and assigns) for every trainable parameter of `role`.
  private func update(
    _ role: NetworkRole, gradients: [String: ValueID], params: [String: ValueID], _ g: inout Graph, inputs: inout [ProgramInput],
    parameterUpdates: inout [String: ParameterUpdate]
  ) {
    let o = training.optimizer(for: role)
    let net = role.rawValue
    var bias1: ValueID? = nil, bias2: ValueID? = nil
    func scalar(_ name: String, _ kind: ProgramInput.Kind) -> ValueID {
      inputs.append(ProgramInput(name: name, shape: [], kind: kind))
      return g.input(name, [])
    }
    // The learning rate is fed each step, so a run can lower it without recompiling.
    let lr = scalar("\(net).lr", .learningRate(role))
    if o.kind == .adam {
      bias1 = scalar("\(net).adam.bias1", .adamBiasCorrection(role, moment: 1))
      bias2 = scalar("\(net).adam.bias2", .adamBiasCorrection(role, moment: 2))
    }
    let rule = OptimizerRule(o, clip: role == .discriminator && training.loss == .wasserstein ? training.clip : nil)
    let scalars = OptimizerRule.Scalars(learningRate: lr, biasCorrections: bias1.map { ($0, bias2!) })
    let names = ParameterUpdate(rule: rule, learningRate: "\(net).lr", biasCorrections: o.kind == .adam ? ["\(net).adam.bias1", "\(net).adam.bias2"] : [])
    for info in lowering.parameters where info.trainable && info.net == role {
      guard let p = params[info.name], let grad = gradients[info.name] else { continue }
      let newValue = rule.emit(name: info.name, shape: info.shape, parameter: p, gradient: grad, scalars: scalars, &g)
      parameterUpdates[info.name] = names
      if role == .generator, let decay = training.ema {
        let e = g.parameter(Self.averageName(info.name), info.shape)
        try! g.add(.assign(Self.averageName(info.name)), [g.addv(g.scale(e, decay), g.scale(newValue, 1 - decay))])
      }
      try! g.add(.assign(info.name), [newValue])
    }
  }

  /// Differentiates `loss` with respect to `role`'s trainable parameters
  /// (those this step reads) and appends their optimizer updates.
  private func train(
    _ role: NetworkRole, loss: ValueID, params: [String: ValueID], _ g: inout Graph, inputs: inout [ProgramInput],
    parameterUpdates: inout [String: ParameterUpdate]
  ) throws {
    let trainable = lowering.parameters.filter { $0.trainable && $0.net == role && params[$0.name] != nil }
    let grads = try Autodiff.gradients(of: loss, wrt: trainable.map { params[$0.name]! }, in: &g)
    if ranks > 1 {
      // Data parallel: the step ends at the gradients (every trainable
      // parameter of the net gets one, zero when the step does not read it).
      let byName = Dictionary(uniqueKeysWithValues: zip(trainable.map(\.name), grads))
      for info in lowering.parameters where info.trainable && info.net == role {
        let grad = byName[info.name] ?? g.constant(0, info.shape)
        try g.add(.assign(Self.gradientName(info.name)), [grad])
      }
      return
    }
    let gradients = Dictionary(uniqueKeysWithValues: zip(trainable.map(\.name), grads))
    update(role, gradients: gradients, params: params, &g, inputs: &inputs, parameterUpdates: &parameterUpdates)
  }

  private func assignStatistics(_ updates: Lowering.StatisticUpdates, _ g: inout Graph) {
    for name in updates.keys.sorted() { try! g.add(.assign(name), [updates[name]!]) }
  }

  private mutating func generator(_ g: inout Graph, params: inout [String: ValueID], updates: inout Lowering.StatisticUpdates, inputs: inout [ProgramInput], labels: ValueID?) throws -> ValueID {
    let z = g.input("z", [packedBatch, spec.spec.latent.size])
    inputs.append(ProgramInput(name: "z", shape: [packedBatch, spec.spec.latent.size], kind: .latent))
    return try lowering.forward(spec.generator, input: z, label: labels, mode: .training, in: &g, parameterValues: &params, updates: &updates)
  }

  private func labelInput(_ name: String, _ kind: ProgramInput.Kind, _ g: inout Graph, _ inputs: inout [ProgramInput]) -> ValueID? {
    guard training.conditional else { return nil }
    inputs.append(ProgramInput(name: name, shape: [packedBatch, 1], kind: kind))
    return g.input(name, [packedBatch, 1])
  }

  /// Whether D treats every sample on its own (no batch norm), so one pass
  /// over the real and generated batches together means the same as two.
  var discriminatorIsPerSample: Bool {
    !spec.discriminator.layers.contains { $0.layer.mixesSamples }
  }

  /// The discriminator step: G forward (no gradient to G), D on real and
  /// generated batches (together when D has no batch norm), the loss,
  /// gradients to D's parameters, D's update.
  /// R1 or R2: gamma/2 times the mean over the scored rows of |d(sum of
  /// scores)/d input|^2, through the compiled double backward.
  private func gradientPenalty(_ scores: ValueID, wrt input: ValueID, gamma: Double, _ g: inout Graph) throws -> ValueID {
    let dx = try Autodiff.gradients(of: g.sumAll(scores), wrt: [input], in: &g)[0]
    let squares = g.sumAll(g.unary(.square, dx))
    return g.scale(squares, gamma / 2 / Double(g.shape(scores)[0]))
  }

  /// The discriminator step; with `regularized`, R1/R2 as the spec says
  /// (every step, or multiplied by k in the program for every k-th update).
  public mutating func discriminatorStep(regularized: Bool = true) throws -> Program {
    let lazy = training.penalizesGradients && training.regularizeEvery > 1
    return try discriminatorStep(penalties: training.penalizesGradients && regularized, kind: lazy && regularized ? .regularizedDiscriminatorStep : .discriminatorStep)
  }

  private mutating func discriminatorStep(penalties: Bool, kind: ProgramKind) throws -> Program {
    var g = Graph()
    var inputs: [ProgramInput] = []
    var gParams: [String: ValueID] = [:], dParams: [String: ValueID] = [:]
    var updates: Lowering.StatisticUpdates = [:]
    let semiSupervised = training.loss == .semiSupervised
    let fakeLabels = labelInput("generated_label", .generatedLabels, &g, &inputs)
    let fake = try generator(&g, params: &gParams, updates: &updates, inputs: &inputs, labels: fakeLabels)
    let x = g.input("x", [packedBatch] + dataShape())
    inputs.append(ProgramInput(name: "x", shape: [packedBatch] + dataShape(), kind: .data))
    let realLabels = labelInput("label", .labels, &g, &inputs)
    var real = pack(try augment(x, generated: false, &g, &inputs), &g)
    let generated = pack(try augment(fake, generated: true, &g, &inputs), &g)
    // A semi-supervised D also sees a labelled batch, as real data, and its classes.
    var targets: ValueID? = nil
    if semiSupervised {
      let width = g.shape(real)[0]
      let xl = g.input("x_labelled", [width] + dataShape())
      inputs.append(ProgramInput(name: "x_labelled", shape: [width] + dataShape(), kind: .labelledData))
      let classes = spec.discriminator.outputShape[0]
      targets = g.input("label_targets", [width, classes])
      inputs.append(ProgramInput(name: "label_targets", shape: [width, classes], kind: .labelTargets))
      real = try g.add(.concat(axis: 0), [real, xl])
    }
    var r: ValueID, f: ValueID
    if discriminatorIsPerSample {
      // One pass over both batches: products twice as tall, half as many calls.
      let n = g.shape(real)[0]
      let both = try g.add(.concat(axis: 0), [real, generated])
      var labels: ValueID? = nil
      if let realLabels, let fakeLabels { labels = try g.add(.concat(axis: 0), [realLabels, fakeLabels]) }
      let scores = try lowering.forward(spec.discriminator, input: both, label: labels, mode: .training, in: &g, parameterValues: &dParams, updates: &updates)
      let scoreShape = Array(g.shape(scores).dropFirst())
      r = try g.add(.slice(axis: 0, start: 0), [scores], shape: [n] + scoreShape)
      f = try g.add(.slice(axis: 0, start: n), [scores], shape: [g.shape(generated)[0]] + scoreShape)
    } else {
      // Batch norm's statistics belong to each batch, as in the usual two passes.
      r = try lowering.forward(spec.discriminator, input: real, label: realLabels, mode: .training, in: &g, parameterValues: &dParams, updates: &updates)
      f = try lowering.forward(spec.discriminator, input: generated, label: fakeLabels, mode: .training, in: &g, parameterValues: &dParams, updates: &updates)
    }
    var supervised: ValueID? = nil
    if semiSupervised, let targets {
      // Rows 0..<B are the unlabelled batch, B..<2B the labelled one.
      let (b, width) = (g.shape(generated)[0], g.shape(r)[1])
      let labelled = try g.add(.slice(axis: 0, start: b), [r], shape: [b, width])
      supervised = crossEntropy(labelled, targets: targets, &g)
      r = try realLogit(try g.add(.slice(axis: 0, start: 0), [r], shape: [b, width]), &g)
      f = try realLogit(f, &g)
    }
    var loss = discriminatorLoss(real: r, fake: f, &g)
    if let supervised { loss = g.addv(loss, supervised) }
    if penalties {
      // Mescheder et al. (2018); lazily (every k-th update) the penalty counts k times.
      let k = Double(training.regularizeEvery)
      if training.r1 > 0 { loss = g.addv(loss, try gradientPenalty(r, wrt: real, gamma: training.r1 * k, &g)) }
      if training.r2 > 0 { loss = g.addv(loss, try gradientPenalty(f, wrt: generated, gamma: training.r2 * k, &g)) }
    }
    if training.loss == .wassersteinGP {
      // Gulrajani et al.: the critic's input gradient at random interpolates has norm 1.
      let shape = g.shape(real)
      var epsShape = [Int](repeating: 1, count: shape.count)
      epsShape[0] = shape[0]
      let eps = g.broadcast(try g.add(.random(stream: Lowering.penaltyStream), [], shape: epsShape), shape)
      let mixed = g.addv(g.mul(eps, real), g.mul(g.sub(g.constant(1), eps), generated))
      // The pass starts from this step's statistics (a spectral norm's u)
      // and its writes are dropped, as the harness restores D's buffers.
      var scratch = updates
      let score = try lowering.forward(spec.discriminator, input: mixed, label: realLabels, mode: .training, in: &g, parameterValues: &dParams, updates: &scratch)
      let dx = try Autodiff.gradients(of: g.sumAll(score), wrt: [mixed], in: &g)[0]
      let norm = g.unary(.sqrt, g.addv(g.sum(g.unary(.square, dx), axes: Array(1..<shape.count)), g.constant(1e-12)))
      let penalty = g.meanAll(g.unary(.square, g.sub(norm, g.constant(1))))
      loss = g.addv(loss, g.scale(penalty, training.gpWeight))
    }
    var parameterUpdates: [String: ParameterUpdate] = [:]
    try train(.discriminator, loss: loss, params: dParams, &g, inputs: &inputs, parameterUpdates: &parameterUpdates)
    assignStatistics(updates, &g)
    g.outputs = [loss, meanScore(r, &g), meanScore(f, &g)]
    g.outputNames = [g.outputs[0]: "d_loss", g.outputs[1]: "d_real", g.outputs[2]: "d_fake"]
    if let supervised {
      g.outputs.append(supervised)
      g.outputNames[supervised] = "d_class_loss"
    }
    return Program(kind: kind, graph: g, inputs: inputs, updates: parameterUpdates, opsBeforePasses: g.nodes.count)
  }

  /// The generator step: G forward, D forward with D frozen, the generator
  /// loss, gradients through D into G, G's update.
  public mutating func generatorStep() throws -> Program {
    var g = Graph()
    var inputs: [ProgramInput] = []
    var gParams: [String: ValueID] = [:], dParams: [String: ValueID] = [:]
    var updates: Lowering.StatisticUpdates = [:]
    let labels = labelInput("generated_label", .generatedLabels, &g, &inputs)
    let fake = try generator(&g, params: &gParams, updates: &updates, inputs: &inputs, labels: labels)
    let seen = pack(try augment(fake, generated: true, &g, &inputs), &g)
    let fakeLayers = try lowering.forwardLayers(spec.discriminator, input: seen, label: labels, mode: .training, in: &g, parameterValues: &dParams, updates: &updates)
    var f = fakeLayers.last!
    if training.loss == .semiSupervised { f = try realLogit(f, &g) }
    let loss: ValueID
    if let id = training.featureMatching, let layer = spec.discriminator.layers.firstIndex(where: { $0.layer.id == id }) {
      // Salimans et al.: match the batch mean of a D layer's output on real data.
      let x = g.input("x", [packedBatch] + dataShape())
      inputs.append(ProgramInput(name: "x", shape: [packedBatch] + dataShape(), kind: .data))
      let realLabels = labelInput("label", .labels, &g, &inputs)
      let realSeen = pack(try augment(x, generated: false, &g, &inputs), &g)
      let realLayers = try lowering.forwardLayers(spec.discriminator, input: realSeen, label: realLabels, mode: .training, in: &g, parameterValues: &dParams, updates: &updates)
      func batchMean(_ v: ValueID, _ g: inout Graph) -> ValueID {
        let n = g.shape(v)[0]
        return g.scale(g.sum(g.reshape(v, [n, g.shape(v).dropFirst().reduce(1, *)]), axes: [0]), 1 / Double(n))
      }
      let target = try g.add(.stopGradient, [batchMean(realLayers[layer], &g)])
      loss = g.meanAll(g.unary(.square, g.sub(target, batchMean(fakeLayers[layer], &g))))
    } else {
      loss = generatorLoss(fake: f, &g)
    }
    var parameterUpdates: [String: ParameterUpdate] = [:]
    try train(.generator, loss: loss, params: gParams, &g, inputs: &inputs, parameterUpdates: &parameterUpdates)
    assignStatistics(updates, &g)
    g.outputs = [loss, meanScore(f, &g)]
    g.outputNames = [g.outputs[0]: "g_loss", g.outputs[1]: "d_fake_g"]
    return Program(kind: .generatorStep, graph: g, inputs: inputs, updates: parameterUpdates, opsBeforePasses: g.nodes.count)
  }

  /// A classifier's step: the net on a labelled batch, softmax cross-entropy,
  /// gradients and the update. Reports the loss and the logits (the trainer
  /// counts correct answers from them).
  public mutating func classifierStep() throws -> Program {
    var g = Graph()
    let batch = training.batch
    let classes = spec.discriminator.outputShape[0]
    let x = g.input("x", [batch] + dataShape())
    let targets = g.input("label_targets", [batch, classes])
    var inputs = [
      ProgramInput(name: "x", shape: [batch] + dataShape(), kind: .labelledData),
      ProgramInput(name: "label_targets", shape: [batch, classes], kind: .labelTargets),
    ]
    var params: [String: ValueID] = [:]
    var updates: Lowering.StatisticUpdates = [:]
    let logits = try lowering.forward(spec.discriminator, input: x, label: nil, mode: .training, in: &g, parameterValues: &params, updates: &updates)
    let loss = crossEntropy(logits, targets: targets, &g)
    var parameterUpdates: [String: ParameterUpdate] = [:]
    try train(.classifier, loss: loss, params: params, &g, inputs: &inputs, parameterUpdates: &parameterUpdates)
    assignStatistics(updates, &g)
    g.outputs = [loss, logits]
    g.outputNames = [loss: "loss", logits: "logits"]
    return Program(kind: .classifierStep, graph: g, inputs: inputs, updates: parameterUpdates, opsBeforePasses: g.nodes.count)
  }

  /// The layer whose output is a judging net's features: the one with
  /// id="features", else the input of its last layer.
  public static func featureLayer(of net: CheckedNetwork) -> Int {
    net.layers.firstIndex { $0.layer.id == "features" } ?? max(net.layers.count - 2, 0)
  }

  /// A judging net (the classifier, or a semi-supervised D) in inference
  /// mode on `batch` samples: class logits and features.
  public mutating func inference(batch: Int) throws -> Program {
    var g = Graph()
    let net = spec.discriminator
    let x = g.input("x", [batch] + dataShape())
    var params: [String: ValueID] = [:]
    var updates: Lowering.StatisticUpdates = [:]
    let layers = try lowering.forwardLayers(net, input: x, label: nil, mode: .inference, in: &g, parameterValues: &params, updates: &updates)
    let features = g.reshape(layers[Self.featureLayer(of: net)], [batch, net.layers[Self.featureLayer(of: net)].outputShape.reduce(1, *)])
    g.outputs = [layers.last!, features]
    g.outputNames = [layers.last!: "logits", features: "features"]
    return Program(
      kind: .inference(net.role), graph: g, inputs: [ProgramInput(name: "x", shape: [batch] + dataShape(), kind: .data)], opsBeforePasses: g.nodes.count)
  }

  /// Inference: z (and labels) to samples, with running statistics; `ema`
  /// reads the averaged weights.
  public mutating func sampler(batch: Int, ema: Bool = false) throws -> Program {
    var g = Graph()
    var inputs: [ProgramInput] = [ProgramInput(name: "z", shape: [batch, spec.spec.latent.size], kind: .latent)]
    let z = g.input("z", [batch, spec.spec.latent.size])
    var label: ValueID? = nil
    if training.conditional {
      inputs.append(ProgramInput(name: "generated_label", shape: [batch, 1], kind: .generatedLabels))
      label = g.input("generated_label", [batch, 1])
    }
    var params: [String: ValueID] = [:]
    if ema {
      for p in lowering.parameters where p.trainable && p.net == .generator {
        params[p.name] = g.parameter(Self.averageName(p.name), p.shape)
      }
    }
    var updates: Lowering.StatisticUpdates = [:]
    let out = try lowering.forward(spec.generator, input: z, label: label, mode: .inference, in: &g, parameterValues: &params, updates: &updates)
    g.outputs = [out]
    g.outputNames = [out: "samples"]
    return Program(kind: .sampler(averaged: ema), graph: g, inputs: inputs, opsBeforePasses: g.nodes.count)
  }
}
