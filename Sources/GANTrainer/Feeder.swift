import Foundation
import GANCompiler
import GANIR
import GANRuntime
import GANSpec

/// Writes what a program reads before each run: noise, the class ids G is
/// asked for, the real batch and its labels, and the per-step scalars
/// (learning rates, Adam's bias corrections). `ganc train` and `ganc bench`
/// feed through it, so a benchmark times exactly what training runs.
public struct ProgramFeeder {
  public let seed: UInt64
  public let training: TrainingSpec
  public let latent: LatentSpec
  public let dataset: Dataset
  /// The labelled samples a classifier or a semi-supervised D learns classes
  /// from (the data itself, or its labels-per-class subset).
  public let labelled: Dataset?
  /// Both learning rates are multiplied by this (the divergence guard halves it).
  public var lrScale = 1.0
  /// Data-parallel training: this rank and the number of ranks. The spec's
  /// batch (`training.batch` here) is then each rank's share, and rank r is
  /// fed rows r*b..<(r+1)*b of the global batch one process would be fed: the
  /// same real samples, noise, labels and augmentation draws.
  public var rank = 0, ranks = 1

  public init(seed: UInt64, training: TrainingSpec, latent: LatentSpec, dataset: Dataset, labelled: Dataset? = nil) {
    self.seed = seed
    self.training = training
    self.latent = latent
    self.dataset = dataset
    self.labelled = labelled
  }

  /// The feeder of a checked spec's training: a classifier and a
  /// semi-supervised D also learn classes from its labelled samples (the
  /// labels-per-class subset, or the whole labelled data).
  public init(_ checked: CheckedSpec, dataset: Dataset) throws {
    let spec = checked.spec
    var labelled: Dataset? = nil
    if spec.kind == .classifier || spec.training.loss == .semiSupervised {
      labelled = try spec.data.labelsPerClass.map { try dataset.labelledSubset(perClass: $0) } ?? dataset
    }
    self.init(seed: spec.training.seed, training: spec.training, latent: spec.latent, dataset: dataset, labelled: labelled)
  }

  /// The training steps a compiled spec runs per iteration, in order: k
  /// D-steps and a G-step, or a classifier's one step.
  public static func steps(of checked: CheckedSpec) -> [ProgramKind] {
    checked.spec.kind == .classifier
      ? [.classifierStep] : Array(repeating: .discriminatorStep, count: checked.spec.training.dSteps) + [.generatorStep]
  }

  /// The update count of each net's optimizer during the next run (Adam's t).
  public struct Updates: Sendable {
    public var discriminator: Int
    public var generator: Int
    public init(discriminator: Int, generator: Int) {
      self.discriminator = discriminator
      self.generator = generator
    }
    func count(_ role: NetworkRole) -> Int { role == .generator ? generator : discriminator }
  }

  /// Net `role`'s learning rate at its update `t` (from 0): the schedule's,
  /// times the divergence guard's scale.
  public func learningRate(_ role: NetworkRole, update t: Int) -> Double {
    training.optimizer(for: role).learningRate(update: t, of: training.updates(of: role)) * lrScale
  }

  /// Lazy regularisation: whether D update `t` (from 0) runs the penalised
  /// D-step (every k-th, from the first), in training and in `ganc bench`.
  public func penalizes(update t: Int) -> Bool { t % max(training.regularizeEvery, 1) == 0 }

  /// Noise z from `stream` (numbers first..<first+count): N(0, 1), or U(-1, 1) when the spec says so.
  public func fillNoise(_ buffer: UnsafeMutableBufferPointer<Float>, stream: RandomStream, first: Int = 0) {
    let random = SeededStream(seed: seed, stream)
    if latent.distribution == .uniform {
      for i in 0..<buffer.count { buffer[i] = Float(random.uniform(first + i) * 2 - 1) }
    } else {
      random.fillNormal(buffer, first: first)
    }
  }

  /// Uniformly drawn class ids from `stream` (numbers first..<first+count).
  public func fillLabels(_ buffer: UnsafeMutableBufferPointer<Float>, stream: RandomStream, first: Int = 0) {
    let classes = Double(dataset.classes ?? 1)
    let random = SeededStream(seed: seed, stream)
    for i in 0..<buffer.count { buffer[i] = Float(min(Int(random.uniform(first + i) * classes), Int(classes) - 1)) }
  }

  /// Fills this rank's rows of a batch: `fill` writes the whole batch (ranks
  /// x `rows` rows) into scratch buffers, and the rank's slice is copied out.
  private func share(
    _ buffers: [UnsafeMutableBufferPointer<Float>?], rows: Int, _ fill: ([UnsafeMutableBufferPointer<Float>?], Int) -> Void
  ) {
    guard ranks > 1 else { return fill(buffers, rows) }
    let scratch = buffers.map { b in b.map { UnsafeMutableBufferPointer<Float>.allocate(capacity: $0.count * ranks) } }
    defer { for s in scratch { s?.deallocate() } }
    fill(scratch, rows * ranks)
    for (b, s) in zip(buffers, scratch) {
      guard let b, let s else { continue }
      _ = b.update(fromContentsOf: s[(rank * b.count)..<((rank + 1) * b.count)])
    }
  }

  /// Fills every input of a training step. `done` counts the updates each
  /// net has had so far: they pick the noise and the data batch, and one
  /// more is the optimizer's t for this run.
  public func feed(_ program: BoundProgram, done: Updates) {
    let isD = program.kind != .generatorStep && program.kind != .update(.generator)
    let update = isD ? done.discriminator : done.generator
    var x: UnsafeMutableBufferPointer<Float>? = nil, labels: UnsafeMutableBufferPointer<Float>? = nil
    var labelledX: UnsafeMutableBufferPointer<Float>? = nil, targets: UnsafeMutableBufferPointer<Float>? = nil
    for (input, buffer) in program.inputs {
      switch input.kind {
      case .latent: fillNoise(buffer, stream: RandomStream(isD ? .discriminatorNoise : .generatorNoise, update), first: rank * buffer.count)
      case .generatedLabels: fillLabels(buffer, stream: RandomStream(isD ? .discriminatorLabels : .generatorLabels, update), first: rank * buffer.count)
      case .data: x = buffer
      case .labels: labels = buffer
      case .labelledData: labelledX = buffer
      case .labelTargets: targets = buffer
      case .learningRate(let role):
        // The schedule at this update: fed, so it changes without recompiling.
        buffer[0] = Float(learningRate(role, update: done.count(role)))
      case .adamBiasCorrection(let role, let moment):
        let o = training.optimizer(for: role)
        let t = Double(done.count(role) + 1)
        buffer[0] = Float(1 / (1 - Foundation.pow(moment == 1 ? o.beta1 : o.beta2, t)))
      case .augmentation(let generated, let draw):
        let id = update << 5 | (isD ? 16 : 0) | (generated ? 8 : 0) | draw.rawValue
        Self.fillAugmentation(buffer, draw, shape: input.shape, SeededStream(seed: seed, RandomStream(.augmentation, id)), firstSample: rank * input.shape[0])
      }
    }
    // The real batch and its labels; either may have been removed as unread.
    if x != nil || labels != nil {
      share([x, labels], rows: training.batch * training.pack) { b, rows in
        dataset.fill(b[0], labels: b[1], batch: rows, position: done.discriminator * rows)
      }
    }
    if labelledX != nil || targets != nil, let labelled {
      share([labelledX, targets], rows: training.batch) { b, rows in
        labelled.fill(b[0], labels: nil, targets: b[1], batch: rows, position: done.discriminator * rows)
      }
    }
  }

  /// DiffAugment's per-sample draws, with the ranges of its reference code.
  static func fillAugmentation(
    _ buffer: UnsafeMutableBufferPointer<Float>, _ draw: ProgramInput.AugmentationDraw, shape: [Int], _ stream: SeededStream, firstSample: Int = 0
  ) {
    let batch = shape[0]
    // Sample i of this buffer is sample firstSample + i of the global batch.
    struct Shifted {
      let stream: SeededStream, first: Int, perSample: Int
      func uniform(_ i: Int) -> Double { stream.uniform(first * perSample + i) }
    }
    let random = Shifted(stream: stream, first: firstSample, perSample: draw == .cutout ? 2 : 1)
    switch draw {
    case .brightness: for i in 0..<batch { buffer[i] = Float(random.uniform(i) - 0.5) }
    case .saturation: for i in 0..<batch { buffer[i] = Float(random.uniform(i) * 2) }
    case .contrast: for i in 0..<batch { buffer[i] = Float(random.uniform(i) + 0.5) }
    case .shiftRows, .shiftColumns:
      // One-hot over the shifts -s...s, each equally likely.
      let width = shape[1]
      buffer.update(repeating: 0)
      for i in 0..<batch { buffer[i * width + min(Int(random.uniform(i) * Double(width)), width - 1)] = 1 }
    case .cutout:
      // A square of half the sides, its centre anywhere (clipped at the edges).
      let (h, w) = (shape[2], shape[3])
      let (ch, cw) = (TrainingGraphBuilder.cutoutSize(h), TrainingGraphBuilder.cutoutSize(w))
      let (rows, columns) = (h + (1 - ch % 2), w + (1 - cw % 2))
      buffer.update(repeating: 1)
      for i in 0..<batch {
        let top = min(Int(random.uniform(2 * i) * Double(rows)), rows - 1) - ch / 2
        let left = min(Int(random.uniform(2 * i + 1) * Double(columns)), columns - 1) - cw / 2
        for r in 0..<ch {
          let y = min(max(top + r, 0), h - 1)
          for c in 0..<cw { buffer[(i * h + y) * w + min(max(left + c, 0), w - 1)] = 0 }
        }
      }
    }
  }

  /// Which random numbers the run's ops (dropout, the gradient penalty) read.
  public func random(_ program: BoundProgram, done: Updates) -> RunRandom {
    RunRandom(seed: seed, purpose: program.kind.randomPurpose, run: program.kind == .generatorStep ? done.generator : done.discriminator, rank: rank)
  }
}
