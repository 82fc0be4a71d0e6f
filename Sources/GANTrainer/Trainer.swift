import Foundation
import GANCompiler
import GANIR
import GANRuntime
import GANSpec

/// What to do when a loss or weight stops being finite.
public enum DivergencePolicy: String, Sendable, CaseIterable {
  /// Roll back to the last good state and stop with a message.
  case stop
  /// Roll back, halve both learning rates and go on (at most 5 times).
  case lowerLR = "lower-lr"
}

/// Command-line choices for a run.
public struct TrainOptions: Sendable {
  public var out: String? = nil
  /// The command line (`ganc train ...`, or `mpirun -np N ganc train ...`), kept in RUN/commands.txt for the report.
  public var command: [String]? = nil
  public var threads: Int? = nil
  public var resume = false
  public var onDivergence = DivergencePolicy.stop
  /// Print a live progress line (a terminal) or periodic plain lines.
  public var liveProgress = false
  public var quiet = false
  /// A folder to write every fed batch, noise draw, random stream and the
  /// state after steps 1, 10, 100, ... into (`--trace`; see `Tracer`).
  public var trace: String? = nil
  /// The mpirun job this process is a rank of (data-parallel training).
  public var cluster: Cluster? = nil
  public init() {}
}

/// One logged training step.
public struct StepMetrics: Sendable {
  public var step: Int
  public var dLoss: Double
  public var gLoss: Double
  public var dReal: Double
  public var dFake: Double
  public var seconds: Double
  /// A classifier's share of its batch classified correctly.
  public var accuracy: Double? = nil
  /// A semi-supervised D's cross-entropy on its labelled batch.
  public var classLoss: Double? = nil
  /// The judge's metrics, on the steps `<output eval-every>` names.
  public var evaluation: JudgeEvaluation? = nil
}

/// Set from the SIGINT handler; checked after every step.
nonisolated(unsafe) var interruptRequested: sig_atomic_t = 0

/// A training run: the compiled steps bound to an arena, the data, the run
/// folder with its outputs, and the state a checkpoint saves.
public final class Trainer {
  public static let compilerVersion = "ganc 0.1.0"

  public let checked: CheckedSpec
  public let runFolder: String
  public let runtime: Runtime
  public let model: CompiledModel
  public let dataset: Dataset
  let options: TrainOptions
  public let specText: String
  let specHash: String
  /// The hashes a checkpoint of this model may carry (today's, then earlier versions').
  let acceptedHashes: [String]

  public private(set) var step = 0
  public private(set) var dUpdates = 0
  public private(set) var gUpdates = 0
  /// Both learning rates are multiplied by this (the divergence guard halves it).
  public var lrScale: Double { feeder.lrScale }
  /// Writes every program's inputs (shared with `ganc bench`).
  public private(set) var feeder: ProgramFeeder
  /// The D-step (a classifier's step) and the G-step (none for a classifier).
  let dProgram: BoundProgram, gProgram: BoundProgram?
  /// With lazy regularisation, the D-step with R1/R2 that runs on every k-th D update.
  let regularizedProgram: BoundProgram?
  /// The labelled samples a classifier or a semi-supervised D learns classes from.
  public let labelled: Dataset?
  public var isClassifier: Bool { checked.spec.kind == .classifier }
  public private(set) var history: [StepMetrics] = []
  /// The judge that `<output eval-every>` measures with, opened on first use.
  var judgeSession: JudgeSession? = nil
  /// The lowest FD so far (its checkpoint is best.safetensors).
  var bestFD = Double.infinity
  var snapshot: [UInt8] = []
  var snapshotState = (step: 0, dUpdates: 0, gUpdates: 0)
  var divergences = 0
  /// Data parallel: the ranks, and each net's update program and gradients.
  let cluster: Cluster?
  var updatePrograms: [NetworkRole: BoundProgram] = [:]
  /// The run's TensorBoard event file, while training (rank 0).
  var events: EventWriter? = nil
  /// Seconds spent summing gradients across ranks (the allreduce's share of a step).
  public private(set) var allreduceSeconds = 0.0
  var gradients: [NetworkRole: [UnsafeMutableBufferPointer<Float>]] = [:]
  /// Whether this process writes the run folder and prints (rank 0, or the only process).
  public var writes: Bool { cluster?.isRoot ?? true }
  var ranks: Int { cluster?.size ?? 1 }

  public var training: TrainingSpec { checked.spec.training }
  var seed: UInt64 { training.seed }

  /// Prepares a run of `checked` (whose source text is `specText`).
  public convenience init(_ checked: CheckedSpec, specText: String, options: TrainOptions) throws {
    try self.init(checked, specText: specText, options: options, adjust: { _ in })
  }

  /// As the public initializer, with `adjust` applied to the compiled model
  /// before it is bound: the tests' seam for a deliberately broken program
  /// (a learning check must be shown to fail on one).
  init(_ global: CheckedSpec, specText: String, options: TrainOptions, adjust: (inout CompiledModel) -> Void) throws {
    // Data parallel: each rank compiles the spec with its share of the batch
    // (the hash, the checkpoint and the run folder's spec keep the global one).
    let ranks = options.cluster?.size ?? 1
    var checked = global
    if ranks > 1 {
      guard global.spec.training.batch % ranks == 0 else {
        throw DataError(
          "the batch (\(global.spec.training.batch)) does not divide among \(ranks) ranks; each rank takes an equal share of the global batch. Use a batch that is a multiple of \(ranks) (--batch), or another number of ranks (mpirun -np)"
        )
      }
      checked.spec.training.batch = global.spec.training.batch / ranks
    }
    self.checked = checked
    self.cluster = ranks > 1 ? options.cluster : nil
    self.options = options
    self.specText = specText
    acceptedHashes = Self.modelHashes(global.spec)
    specHash = acceptedHashes[0]
    runFolder = options.out ?? checked.spec.output.dir
    var compileOptions = CompileOptions()
    compileOptions.ranks = ranks
    compileOptions.sampleBatch = min(checked.spec.output.sampleCount, 256)
    var model = try Compiler.compile(checked, options: compileOptions)
    adjust(&model)
    self.model = model
    runtime = try Runtime(model: self.model, threads: options.threads ?? checked.spec.training.threads ?? ProcessInfo.processInfo.activeProcessorCount)
    dataset = try Dataset(checked.spec.data, shape: checked.data.shape, seed: checked.spec.training.seed)
    let spec = checked.spec
    feeder = try ProgramFeeder(checked, dataset: dataset)
    feeder.rank = options.cluster?.rank ?? 0
    feeder.ranks = ranks
    labelled = feeder.labelled
    if spec.kind == .classifier {
      guard let step = runtime.program(.classifierStep) else { throw RuntimeError("the compiled model lacks a training step") }
      (dProgram, gProgram) = (step, nil)
    } else {
      guard let d = runtime.program(.discriminatorStep), let g = runtime.program(.generatorStep) else {
        throw RuntimeError("the compiled model lacks a training step")
      }
      (dProgram, gProgram) = (d, g)
    }
    regularizedProgram = runtime.program(.regularizedDiscriminatorStep)
    if ranks > 1, let cluster = options.cluster {
      runtime.allReduce = { cluster.sum($0, count: $1) }
      for role in [NetworkRole.generator, .discriminator, .classifier] {
        guard let update = runtime.program(.update(role)) else { continue }
        updatePrograms[role] = update
        let isGradient = { (info: ParameterInfo) -> Bool in if case .gradient = info.role { return info.net == role } else { return false } }
        let own = model.persistent.filter(isGradient).compactMap { runtime.persistent($0.name) }
        let others = model.persistent.filter { !isGradient($0) }.compactMap { runtime.persistent($0.name) }
        gradients[role] = Self.span(own, excluding: others)
      }
    }
    runtime.initializeParameters(seed: checked.spec.training.seed)
  }

  /// A net's gradients are planned one after another: one span from the
  /// first to the end of the last (the alignment padding between them
  /// included, which nothing reads) holds them all, so one allreduce sums
  /// them. Should another tensor lie inside, the contiguous runs instead.
  static func span(_ buffers: [UnsafeMutableBufferPointer<Float>], excluding others: [UnsafeMutableBufferPointer<Float>]) -> [UnsafeMutableBufferPointer<Float>] {
    guard let first = buffers.map({ $0.baseAddress! }).min(), let end = buffers.map({ $0.baseAddress! + $0.count }).max() else { return [] }
    let clear = others.allSatisfy { $0.baseAddress! + $0.count <= first || $0.baseAddress! >= end }
    return clear ? [UnsafeMutableBufferPointer(start: first, count: end - first)] : contiguousRuns(buffers)
  }

  /// Buffers merged where one ends where the next begins.
  static func contiguousRuns(_ buffers: [UnsafeMutableBufferPointer<Float>]) -> [UnsafeMutableBufferPointer<Float>] {
    var runs: [UnsafeMutableBufferPointer<Float>] = []
    for b in buffers.sorted(by: { $0.baseAddress! < $1.baseAddress! }) {
      if let last = runs.last, last.baseAddress! + last.count == b.baseAddress! {
        runs[runs.count - 1] = UnsafeMutableBufferPointer(start: last.baseAddress, count: last.count + b.count)
      } else {
        runs.append(b)
      }
    }
    return runs
  }

  /// Bytes one iteration sends per rank: each net's gradients, once per update.
  public var bytesPerIteration: Int {
    let perNet = gradients.mapValues { $0.reduce(0) { $0 + $1.count } * 4 }
    return (perNet[.discriminator] ?? 0) * (isClassifier ? 1 : training.dSteps) + (perNet[.generator] ?? 0) + (perNet[.classifier] ?? 0)
  }

  /// Data parallel: sums `role`'s gradients across ranks (in place) and
  /// applies its optimizer update; a single process has nothing to do.
  func synchronize(_ role: NetworkRole) throws {
    guard let cluster, let update = updatePrograms[role] else { return }
    let start = Date()
    for run in gradients[role] ?? [] { cluster.sum(run.baseAddress!, count: run.count) }
    allreduceSeconds += Date().timeIntervalSince(start)
    feeder.feed(update, done: done)
    try runtime.run(update, random: feeder.random(update, done: done))
  }

  /// Data parallel, after each iteration: the losses become the means over
  /// ranks (so every rank's divergence guard decides alike), and rank 0's
  /// running statistics replace the others' (as PyTorch's DDP broadcasts its
  /// buffers), so all ranks hold the same state.
  func agree(_ m: inout StepMetrics) {
    guard let cluster else { return }
    let means = cluster.mean([m.dLoss, m.gLoss, m.dReal, m.dFake, m.classLoss ?? 0, m.accuracy ?? 0])
    (m.dLoss, m.gLoss, m.dReal, m.dFake) = (means[0], means[1], means[2], means[3])
    if m.classLoss != nil { m.classLoss = means[4] }
    if m.accuracy != nil { m.accuracy = means[5] }
    for info in model.persistent where !info.trainable && info.role == .network {
      let buffer = runtime.persistent(info.name)!
      cluster.broadcast(buffer.baseAddress!, count: buffer.count)
    }
  }

  public var checkpointPath: String { runFolder + "/checkpoint.safetensors" }

  /// A stable hash of what determines the model and its training math: data,
  /// latent, both nets, the game and the optimizers - not the step count,
  /// threads or output settings, which a resumed run may change.
  static func modelHash(_ spec: Spec) -> String { modelHashes(spec)[0] }

  /// The hash this version writes, then those earlier versions wrote for the
  /// same model (accepted on resume): the builds of 2026-12-01 before the
  /// GAN hash was restored put the spec's kind, feature matching and
  /// labels-per-class in fixed places (the judge of runs/fashion-judge).
  static func modelHashes(_ spec: Spec) -> [String] {
    let t = spec.training
    func layers(_ n: NetworkSpec) -> String { n.layers.map { "\($0.op)|\($0.id ?? "")|\($0.input ?? "")" + ($0.spectralNorm.map { "|sn \($0)" } ?? "") }.joined(separator: ";") }
    func optimizer(_ o: OptimizerSpec) -> String {
      "\(o.kind) \(o.lr) \(o.beta1) \(o.beta2) \(o.momentum) \(o.weightDecay) \(o.epsilon)"
        + (o.schedule == .constant && o.warmup == 0 ? "" : " \(o.schedule.rawValue) warmup \(o.warmup)")
    }
    // Data files by name, not path: a run reopened from another folder is the same model.
    func name(_ path: String) -> String { (path as NSString).lastPathComponent }
    let data: String
    switch spec.data.source {
    case .idx(let images, let labels): data = "idx \(name(images)) \(labels.map(name) ?? "")" + (spec.data.labelsPerClass.map { " labels-per-class \($0)" } ?? "")
    case .csv(let path, let columns, let header): data = "csv \(name(path)) \(columns ?? []) \(header)"
    case .npy(let path): data = "npy \(name(path))"
    default: data = "\(spec.data.source)"
    }
    let text =
      [
        compilerVersion, data, "\(spec.latent.size) \(spec.latent.distribution)", layers(spec.generator), layers(spec.discriminator),
        "\(t.batch) \(t.loss) \(t.dSteps) \(t.labelSmoothing) \(t.conditional) \(t.pack) \(String(describing: t.ema)) \(t.clip) \(t.gpWeight)",
        optimizer(t.generatorOptimizer), optimizer(t.discriminatorOptimizer),
      ].joined(separator: "\n")
      // Only what a spec of an earlier version could not say is added, so
      // the runs of earlier versions keep their hash and still resume.
      + (spec.kind == .gan ? "" : "\n\(spec.kind.rawValue)") + (t.featureMatching.map { "\nfeature-matching \($0)" } ?? "")
      + (t.penalizesGradients ? "\nr1 \(t.r1) r2 \(t.r2) every \(t.regularizeEvery)" : "")
      + (t.augment.isEmpty ? "" : "\naugment \(t.augment.map(\.rawValue).joined(separator: " "))") + (t.syncBatchnorm ? "\nsync-batchnorm" : "")
    var interim = data
    if case .idx(let images, let labels) = spec.data.source {
      interim = "idx \(name(images)) \(labels.map(name) ?? "") \(spec.data.labelsPerClass.map(String.init) ?? "")"
    }
    let interimText = [
      compilerVersion, spec.kind.rawValue, interim, t.featureMatching ?? "", "\(spec.latent.size) \(spec.latent.distribution)", layers(spec.generator),
      layers(spec.discriminator),
      "\(t.batch) \(t.loss) \(t.dSteps) \(t.labelSmoothing) \(t.conditional) \(t.pack) \(String(describing: t.ema)) \(t.clip) \(t.gpWeight)",
      optimizer(t.generatorOptimizer), optimizer(t.discriminatorOptimizer),
    ].joined(separator: "\n")
    return [text, interimText].map { String(fnv1a(Array($0.utf8)), radix: 16) }
  }

  // MARK: Checkpoints

  func makeCheckpoint() -> Checkpoint {
    var tensors: [(name: String, shape: [Int], values: [Float])] = []
    for info in model.persistent {
      if case .gradient = info.role { continue }
      tensors.append((info.name, info.shape, Array(runtime.persistent(info.name)!)))
    }
    if let mean = dataset.columnMean, let std = dataset.columnStd {
      tensors.append(("data.column_mean", [mean.count], mean))
      tensors.append(("data.column_std", [std.count], std))
    }
    return Checkpoint(
      tensors: tensors,
      metadata: [
        "format": "pt", "ganc.version": Self.compilerVersion, "ganc.spec_hash": specHash, "ganc.seed": String(seed),
        "ganc.step": String(step), "ganc.d_updates": String(dUpdates), "ganc.g_updates": String(gUpdates),
        "ganc.batch": String(training.batch * ranks), "ganc.ranks": String(ranks), "ganc.lr_scale": String(lrScale), "ganc.threads": String(runtime.pool.threads), "ganc.name": checked.spec.name,
        "ganc.kind": checked.spec.kind.rawValue,
      ])
  }

  public func saveCheckpoint() throws {
    let checkpoint = makeCheckpoint()
    try checkpoint.write(to: checkpointPath)
    // History: the last `keep` checkpoints by step, the oldest removed.
    let keep = checked.spec.output.keep
    guard keep > 1 else { return }
    try checkpoint.write(to: Self.historyPath(run: runFolder, step: step))
    for (_, path) in Self.history(ofRun: runFolder).dropLast(keep) { try? FileManager.default.removeItem(atPath: path) }
  }

  /// Restores the state of a checkpoint written for the same spec.
  public func restore(from path: String) throws { try restore(try Checkpoint.read(path), from: path) }

  /// Restores from checkpoint `c`, read from `path` (named in errors).
  func restore(_ c: Checkpoint, from path: String) throws {
    guard let hash = c.metadata["ganc.spec_hash"], acceptedHashes.contains(hash) else {
      throw DataError(
        "\(path) was written for a different spec (or batch size); resuming would mix two models. Train into a new folder with --out, or resume with the spec the run was started with (\(runFolder)/spec.xml)"
      )
    }
    guard c.metadata["ganc.seed"] == String(seed) else {
      throw DataError("\(path) was written with seed \(c.metadata["ganc.seed"] ?? "?"), not \(seed); resume with the same seed")
    }
    let written = Int(c.metadata["ganc.ranks"] ?? "1") ?? 1
    guard written == ranks || !options.resume else {
      throw DataError(
        "\(path) was written by \(written) rank\(written == 1 ? "" : "s") and this run has \(ranks); resume on the same number of ranks (\(written == 1 ? "without mpirun" : "mpirun -np \(written)")) so that it continues to the same bits"
      )
    }
    for info in model.persistent {
      if case .gradient = info.role { continue }
      guard let values = c.tensor(info.name), values.count == info.shape.reduce(1, *) else {
        throw DataError("\(path) lacks the tensor '\(info.name)' of shape \(info.shape)")
      }
      let buffer = runtime.persistent(info.name)!
      for i in 0..<values.count { buffer[i] = values[i] }
    }
    step = Int(c.metadata["ganc.step"] ?? "") ?? 0
    dUpdates = Int(c.metadata["ganc.d_updates"] ?? "") ?? 0
    gUpdates = Int(c.metadata["ganc.g_updates"] ?? "") ?? 0
    feeder.lrScale = Double(c.metadata["ganc.lr_scale"] ?? "") ?? 1
    if let threads = c.metadata["ganc.threads"], threads != String(runtime.pool.threads), !options.quiet {
      FileHandle.standardError.write(
        Data("ganc: note: the checkpoint was written with \(threads) threads and this run uses \(runtime.pool.threads); results will match an uninterrupted run only up to float rounding\n".utf8))
    }
  }

  // MARK: Feeding

  var done: ProgramFeeder.Updates { .init(discriminator: dUpdates, generator: gUpdates) }

  /// Output `name` of `program` after its last run (NaN when it has none).
  func value(_ name: String, _ program: BoundProgram) -> Double {
    Double(program.outputs[name]?[0] ?? .nan)
  }

  // MARK: Samples

  /// The largest noise seed `generate` takes, plus one.
  public static let noiseSeeds = 1 << 31

  /// Generated samples from fixed noise (the same for the same `noiseSeed`;
  /// training images use 0), from EMA weights when kept. Class ids cycle
  /// through the classes, or stay for runs of `perClass` samples.
  /// `noise` ([count, latent] values) and `labels` (count class ids), when
  /// given, replace the drawn ones (`ganc sample --noise --labels`).
  public func generate(count: Int, noiseSeed: Int = 0, perClass: Int = 1, noise: [Float]? = nil, labels: [Float]? = nil) throws -> [Float] {
    try generateWithInputs(count: count, noiseSeed: noiseSeed, perClass: perClass, noise: noise, labels: labels).samples
  }

  /// `generate`, also returning the noise ([count, latent]) and class ids
  /// (count, empty when not conditional) it fed (`ganc sample --save-noise`).
  public func generateWithInputs(
    count: Int, noiseSeed: Int = 0, perClass: Int = 1, noise: [Float]? = nil, labels: [Float]? = nil
  ) throws
    -> (samples: [Float], noise: [Float], labels: [Float])
  {
    precondition(noiseSeed >= 0 && noiseSeed < Self.noiseSeeds, "noise seed \(noiseSeed) out of range")
    guard let program = runtime.program(.sampler(averaged: training.ema != nil)),
      let batch = model.program(program.kind)?.inputs.first?.shape.first
    else { throw RuntimeError(isClassifier ? "\(checked.spec.name) is a classifier: it has no generator to sample from" : "the compiled model lacks a sampler") }
    var out: [Float] = [], fedNoise: [Float] = [], fedLabels: [Float] = []
    var k = 0
    while out.count < count * dataset.sampleSize {
      for (input, buffer) in program.inputs {
        switch input.kind {
        // A generator may ignore z (a conditional one reading only its label).
        case .latent:
          if let noise {
            for i in 0..<buffer.count { buffer[i] = k * buffer.count + i < noise.count ? noise[k * buffer.count + i] : 0 }
          } else {
            feeder.fillNoise(buffer, stream: RandomStream(.sampleNoise, noiseSeed << 24 | k))
          }
          fedNoise += buffer
        case .generatedLabels:
          for i in 0..<buffer.count {
            if let labels { buffer[i] = k * batch + i < labels.count ? labels[k * batch + i] : 0; continue }
            buffer[i] = Float((k * batch + i) / max(perClass, 1) % max(dataset.classes ?? 1, 1))
          }
          fedLabels += buffer
        default: break
        }
      }
      try runtime.run(program, random: RunRandom(seed: seed, purpose: .otherProgram, run: k))
      guard let samples = program.outputs["samples"] else { throw RuntimeError("the sampler reports no samples") }
      out += samples
      k += 1
    }
    let latent = checked.spec.latent.size
    return (Array(out.prefix(count * dataset.sampleSize)), Array(fedNoise.prefix(count * latent)), Array(fedLabels.prefix(count)))
  }

  /// A grid of generated images, titled with the step; a conditional
  /// generator's has one row per class.
  public func sampleGrid(count: Int, noiseSeed: Int) throws -> Canvas {
    guard training.conditional, let classes = dataset.classes, classes > 1 else {
      return imageGrid(try generate(count: count, noiseSeed: noiseSeed), count: count)
    }
    let columns = max(1, count / classes)
    return imageGrid(try generate(count: count, noiseSeed: noiseSeed, perClass: columns), count: count, rowPerClass: columns)
  }

  /// A grid of `count` generated images titled with the step (doubled when
  /// small); `rowPerClass` columns when each row holds one class.
  public func imageGrid(_ samples: [Float], count: Int, rowPerClass columns: Int? = nil) -> Canvas {
    let shape = checked.data.shape, scale = shape[1] <= 32 ? 2 : 1
    guard let columns else { return Plots.imageGrid(samples, shape: shape, count: count, scale: scale, title: "step \(step)") }
    return Plots.imageGrid(samples, shape: shape, count: count, scale: scale, columns: columns, title: "step \(step), a row per class")
  }

  func writeSamples(label: String) throws {
    let folder = runFolder + "/samples"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let path = folder + "/\(label).png"
    let shape = checked.data.shape
    var canvas: Canvas? = nil
    if shape.count == 3 {
      canvas = try sampleGrid(count: checked.spec.output.sampleCount, noiseSeed: 0)
    } else if dataset.sampleSize >= 2 {
      let n = 1000
      let generated = try generate(count: n)
      var real = [Float](repeating: 0, count: n * dataset.sampleSize)
      real.withUnsafeMutableBufferPointer { dataset.fill($0, labels: nil, batch: n, position: 0) }
      func points(_ v: [Float]) -> [(Double, Double)] {
        (0..<n).map { (Double(v[$0 * dataset.sampleSize]), Double(v[$0 * dataset.sampleSize + 1])) }
      }
      canvas = Plots.scatter(real: points(real), generated: points(generated), centres: dataset.centres, title: "samples at step \(step)")
    }
    guard let canvas else { return }
    try canvas.write(to: path)
    // The same picture in TensorBoard's Images tab, at its step.
    events?.image(step: step, tag: "samples", png: try canvas.pngData(), width: canvas.width, height: canvas.height)
  }

  /// The scalars of step `m` for TensorBoard: metrics.csv's columns by their
  /// names, and each net's learning rate of its last update.
  func scalars(_ m: StepMetrics) -> [(String, Double)] {
    var out: [(String, Double)]
    if isClassifier {
      out = [("loss", m.dLoss), ("accuracy", m.accuracy ?? .nan)]
    } else {
      out = [("d_loss", m.dLoss), ("g_loss", m.gLoss), ("d_real", m.dReal), ("d_fake", m.dFake)]
      if let c = m.classLoss { out.append(("d_class_loss", c)) }
    }
    for role in checked.spec.roles {
      let updates = role == .generator ? gUpdates : dUpdates
      out.append(("lr/\(role.rawValue)", feeder.learningRate(role, update: max(updates - 1, 0))))
    }
    if let e = m.evaluation {
      let q = e.metrics.manifold
      out += [
        ("fd", e.metrics.fd), ("kid", e.metrics.kidMean), ("precision", q.precision), ("recall", q.recall), ("density", q.density), ("coverage", q.coverage),
      ]
    }
    return out
  }

  // MARK: The loop

  func takeSnapshot() {
    snapshot = Array(runtime.persistentRegion)
    snapshotState = (step, dUpdates, gUpdates)
  }

  func rollBack() {
    snapshot.withUnsafeBytes { runtime.persistentRegion.copyMemory(from: $0) }
    (step, dUpdates, gUpdates) = snapshotState
  }

  func weightsFinite() -> Bool {
    model.persistent.allSatisfy { info in runtime.persistent(info.name)!.allSatisfy(\.isFinite) }
  }

  /// How a run ended.
  public enum Outcome: Equatable, Sendable {
    case finished
    case interrupted
  }

  /// Trains to `training.steps` generator updates, writing into the run folder.
  public func train(log: (String) -> Void) throws -> Outcome {
    let fm = FileManager.default
    // Data parallel: rank 0 alone writes the run folder; the others only read it.
    if writes { try fm.createDirectory(atPath: runFolder, withIntermediateDirectories: true) }
    // Temporary files of writers that were killed mid-write (each up to a checkpoint's size).
    for folder in [runFolder, runFolder + "/samples"] + (options.trace.map { [$0] } ?? []) where writes {
      let removed = Checkpoint.removeStaleTemporaries(in: folder)
      if !removed.isEmpty { log("removed \(removed.count) temporary file\(removed.count == 1 ? "" : "s") left by an interrupted write: \(removed.joined(separator: ", "))") }
    }
    if options.resume {
      try restore(from: checkpointPath)
      log("resuming \(checked.spec.name) at step \(step) from \(checkpointPath)")
    } else if fm.fileExists(atPath: checkpointPath) {
      throw DataError("\(runFolder) already holds a run (checkpoint.safetensors); continue it with --resume \(runFolder), or train into a new folder with --out")
    }
    let metricsPath = runFolder + "/metrics.csv"
    var metricsFile: FileHandle? = nil
    if writes {
      try specText.write(toFile: runFolder + "/spec.xml", atomically: true, encoding: .utf8)
      // The copy's relative paths (data files, src= layers) stay relative to the original's folder.
      try (canonicalPath(checked.spec.directory) + "\n").write(toFile: runFolder + "/spec-origin.txt", atomically: true, encoding: .utf8)
      if let command = options.command { RunReport.recordCommand(command, run: runFolder) }
      if !options.resume || !fm.fileExists(atPath: metricsPath) {
        try metricsHeader.write(toFile: metricsPath, atomically: true, encoding: .utf8)
      }
      guard let handle = FileHandle(forWritingAtPath: metricsPath) else { throw DataError("cannot write \(metricsPath)") }
      handle.seekToEndOfFile()
      metricsFile = handle
      try openJudge()
    }
    defer { try? metricsFile?.close() }
    events = writes ? try EventWriter(folder: runFolder) : nil
    // The spec and the command in TensorBoard's Text tab (indented: markdown code).
    let indented = { (text: String) in text.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + $0 }.joined(separator: "\n") }
    events?.text(step: step, tag: "spec", indented(specText))
    if let command = options.command { events?.text(step: step, tag: "command", indented(command.map(RunReport.shellQuoted).joined(separator: " "))) }
    defer {
      events?.flush()
      events = nil
    }
    func flush(_ text: String) {
      metricsFile?.write(Data(text.utf8))
      events?.flush()
    }
    takeSnapshot()
    // A parent may have left SIGINT blocked or ignored (shells running jobs in
    // the background, test runners); Ctrl-C must still stop the run cleanly.
    var signals = sigset_t()
    sigemptyset(&signals)
    sigaddset(&signals, SIGINT)
    pthread_sigmask(SIG_UNBLOCK, &signals, nil)
    signal(SIGINT) { _ in interruptRequested = 1 }
    defer { signal(SIGINT, SIG_DFL) }
    let tracer = writes ? try options.trace.map { try Tracer(folder: $0) } : nil
    if let tracer { try makeCheckpoint().write(to: tracer.checkpointPath(step)) }
    let output = checked.spec.output
    let start = Date()
    let firstStep = step
    var lastPrint = Date.distantPast
    var pending = ""
    let logEvery = max(1, training.steps / 20)
    while step < training.steps {
      var m = try isClassifier ? classifierUpdate(tracer: tracer) : ganUpdate(tracer: tracer)
      agree(&m)
      step += 1
      if !(m.dLoss.isFinite && m.gLoss.isFinite) || (step % 100 == 0 && !weightsFinite()) {
        let at = step
        rollBack()
        divergences += 1
        guard options.onDivergence == .lowerLR, divergences <= 5 else {
          if writes { try? saveCheckpoint() }
          let losses = isClassifier ? "loss \(m.dLoss)" : "D loss \(m.dLoss), G loss \(m.gLoss)"
          throw DataError(
            "training diverged at step \(at): the losses or weights stopped being finite (\(losses)). The run was rolled back to step \(step) and saved. Lower the learning rates, or rerun with --on-divergence lower-lr"
          )
        }
        feeder.lrScale /= 2
        log("step \(at): training diverged; rolled back to step \(step) and halved the learning rates (now \(lrScale) of the spec's)")
        continue
      }
      let seconds = Date().timeIntervalSince(start)
      m.step = step
      m.seconds = seconds
      if writes && output.evalEvery > 0 && (step % output.evalEvery == 0 || step == training.steps) {
        m.evaluation = try evaluateWithJudge(log: log)
      }
      history.append(m)
      pending += metricsRow(m)
      events?.scalars(step: step, scalars(m))
      let rate = Double(step - firstStep) / max(seconds, 1e-9)
      let eta = Double(training.steps - step) / max(rate, 1e-9)
      let line =
        isClassifier
        ? String(format: "step %d/%d  %.0f it/s  ETA %@  loss %.4f  batch accuracy %.3f", step, training.steps, rate, Self.clock(eta), m.dLoss, m.accuracy ?? .nan)
        : String(
          format: "step %d/%d  %.0f it/s  ETA %@  D %.4f  G %.4f  D(x) %.3f  D(G(z)) %.3f%@", step, training.steps, rate, Self.clock(eta), m.dLoss, m.gLoss, m.dReal, m.dFake,
          m.classLoss.map { String(format: "  class %.4f", $0) } ?? "")
      if !options.quiet && writes {
        if options.liveProgress {
          if Date().timeIntervalSince(lastPrint) > 0.1 || step == training.steps {
            FileHandle.standardError.write(Data("\r\u{1B}[K\(line)".utf8))
            lastPrint = Date()
          }
        } else if step % logEvery == 0 || step == training.steps {
          log(line)
        }
      }
      if let tracer, Tracer.keepsCheckpoint(after: step, of: training.steps) {
        try makeCheckpoint().write(to: tracer.checkpointPath(step))
      }
      if writes && !isClassifier && output.samplesEvery > 0 && step % output.samplesEvery == 0 {
        try writeSamples(label: String(format: "step-%06d", step))
      }
      if output.checkpointEvery > 0 && step % output.checkpointEvery == 0 {
        flush(pending)
        pending = ""
        if weightsFinite() {
          if writes { try saveCheckpoint() }
          takeSnapshot()
        }
      }
      // Every rank stops at the same step when any was interrupted.
      if cluster.map({ $0.any(interruptRequested != 0) }) ?? (interruptRequested != 0) {
        flush(pending)
        if writes {
          try saveCheckpoint()
          try writeCurves()
          try RunReport.write(self)
        }
        if options.liveProgress && !options.quiet { FileHandle.standardError.write(Data("\n".utf8)) }
        if writes { log("interrupted at step \(step); saved \(checkpointPath). Continue with: ganc train --resume \(runFolder)") }
        return .interrupted
      }
    }
    flush(pending)
    guard writes else { return .finished }
    if options.liveProgress && !options.quiet { FileHandle.standardError.write(Data("\n".utf8)) }
    try saveCheckpoint()
    if !isClassifier { try writeSamples(label: "final") }
    try writeCurves()
    try RunReport.write(self)
    return .finished
  }

  /// Measures G on the judge of `<output eval-every>` and keeps the
  /// checkpoint with the lowest FD as best.safetensors.
  /// Opens the judge of `<output eval-every>` (once), so a missing judge stops a run before its first step.
  func openJudge() throws {
    let output = checked.spec.output
    guard output.evalEvery > 0, judgeSession == nil, let judgeRun = output.judge else { return }
    let judge: Trainer
    do {
      judge = try Trainer.open(run: judgeRun, threads: runtime.pool.threads)
    } catch {
      throw DataError("eval-every: cannot open the judge \(judgeRun): \(error). Train it first (ganc train specs/fashion-judge.xml), or set judge=\"...\" to its run folder")
    }
    judgeSession = try JudgeSession(judge: judge, judgeRun: judgeRun, for: self, count: output.evalSamples)
    if let best = try? Checkpoint.read(bestPath), let fd = Double(best.metadata["ganc.fd"] ?? "") { bestFD = fd }
  }

  func evaluateWithJudge(log: (String) -> Void) throws -> JudgeEvaluation? {
    try openJudge()
    guard let session = judgeSession else { return nil }
    let e = try session.evaluate(self)
    if e.metrics.fd < bestFD, weightsFinite() {
      bestFD = e.metrics.fd
      var c = makeCheckpoint()
      c.metadata["ganc.fd"] = String(e.metrics.fd)
      c.metadata["ganc.judge_sha256"] = session.checkpointSHA256
      try c.write(to: bestPath)
    }
    let q = e.metrics.manifold
    if !options.quiet {
      log(
        String(
          format: "step %d: FD %.3f  KID %.5f  precision %.3f  recall %.3f  density %.3f  coverage %.3f%@", step, e.metrics.fd, e.metrics.kidMean, q.precision, q.recall, q.density,
          q.coverage, e.metrics.fd == bestFD ? " (best so far)" : ""))
    }
    return e
  }

  /// The checkpoint with the lowest FD under `<output eval-every>`.
  public var bestPath: String { runFolder + "/best.safetensors" }

  /// The header of metrics.csv for this spec.
  var metricsHeader: String {
    if isClassifier { return "step,loss,accuracy,seconds\n" }
    return "step,d_loss,g_loss,d_real,d_fake,seconds" + (training.loss == .semiSupervised ? ",d_class_loss" : "")
      + (checked.spec.output.evalEvery > 0 ? ",fd,kid,precision,recall,density,coverage" : "") + "\n"
  }

  func metricsRow(_ m: StepMetrics) -> String {
    if isClassifier { return String(format: "%d,%.6g,%.6g,%.3f\n", m.step, m.dLoss, m.accuracy ?? .nan, m.seconds) }
    var row = String(format: "%d,%.6g,%.6g,%.6g,%.6g,%.3f", m.step, m.dLoss, m.gLoss, m.dReal, m.dFake, m.seconds)
    if training.loss == .semiSupervised { row += m.classLoss.map { String(format: ",%.6g", $0) } ?? "," }
    if checked.spec.output.evalEvery > 0 {
      // Empty cells on the steps between evaluations (pandas reads them as NaN).
      if let e = m.evaluation {
        let q = e.metrics.manifold
        row += String(format: ",%.6g,%.6g,%.4f,%.4f,%.4f,%.4f", e.metrics.fd, e.metrics.kidMean, q.precision, q.recall, q.density, q.coverage)
      } else {
        row += ",,,,,,"
      }
    }
    return row + "\n"
  }

  /// k D-steps and one G-step.
  func ganUpdate(tracer: Tracer?) throws -> StepMetrics {
    var m = StepMetrics(step: step, dLoss: 0, gLoss: 0, dReal: 0, dFake: 0, seconds: 0)
    for k in 0..<training.dSteps {
      // Lazy regularisation: the penalised D-step on every k-th update (from the first).
      let program = feeder.penalizes(update: dUpdates) ? regularizedProgram ?? dProgram : dProgram
      feeder.feed(program, done: done)
      try run(program, random: feeder.random(program, done: done), traceLabel: "d-\(k)", tracer: tracer)
      m.dLoss = value("d_loss", program)
      m.dReal = value("d_real", program)
      m.dFake = value("d_fake", program)
      if program.outputs["d_class_loss"] != nil { m.classLoss = value("d_class_loss", program) }
      // (After the outputs are read: the update program may reuse their memory.)
      try synchronize(.discriminator)
      dUpdates += 1
    }
    guard let gProgram else { throw RuntimeError("the compiled model lacks a generator step") }
    feeder.feed(gProgram, done: done)
    try run(gProgram, random: feeder.random(gProgram, done: done), traceLabel: "g", tracer: tracer)
    m.gLoss = value("g_loss", gProgram)
    try synchronize(.generator)
    gUpdates += 1
    return m
  }

  /// One classifier update; its batch accuracy is counted from the logits.
  func classifierUpdate(tracer: Tracer?) throws -> StepMetrics {
    feeder.feed(dProgram, done: done)
    // The targets' buffer may be reused during the run: keep them first.
    let targets = dProgram.input("label_targets").map { Array($0) }
    try run(dProgram, random: feeder.random(dProgram, done: done), traceLabel: "c", tracer: tracer)
    var m = StepMetrics(step: step, dLoss: value("loss", dProgram), gLoss: 0, dReal: .nan, dFake: .nan, seconds: 0)
    if let logits = dProgram.outputs["logits"], let targets {
      m.accuracy = Classification.accuracy(logits: Array(logits), targets: targets, rows: training.batch)
    }
    try synchronize(.classifier)
    dUpdates += 1
    return m
  }

  /// Runs one step's program; with a tracer, records what it was fed and drew.
  func run(_ program: BoundProgram, random: RunRandom, traceLabel: String, tracer: Tracer?) throws {
    guard let tracer, let compiled = model.program(program.kind) else { return try runtime.run(program, random: random) }
    var tensors = tracer.capture(program) + tracer.randomStreams(compiled, random: random)
    try runtime.run(program, random: random)
    for (name, v) in program.outputs.sorted(by: { $0.key < $1.key }) { tensors.append(("output.\(name)", v.count == 1 ? [] : [v.count], Array(v))) }
    try tracer.write(
      step: step + 1, label: traceLabel, tensors: tensors,
      metadata: [
        "program": program.kind.name, "seed": String(random.seed), "d_updates": String(dUpdates), "g_updates": String(gUpdates),
      ])
  }

  /// The loss curves of the whole run (from metrics.csv, so resumed runs are complete).
  func writeCurves() throws {
    let text = (try? String(contentsOfFile: runFolder + "/metrics.csv", encoding: .utf8)) ?? ""
    var d: [(Double, Double)] = [], g: [(Double, Double)] = []
    for line in text.split(separator: "\n").dropFirst() {
      let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
      guard cells.count >= 3, let x = cells[0] else { continue }
      if let v = cells[1] { d.append((x, v)) }
      if let v = cells[2] { g.append((x, v)) }
    }
    try Plots.curves([d, g], colours: [(31, 119, 180), (255, 127, 14)], names: isClassifier ? ["loss", "batch accuracy"] : ["D loss", "G loss"], title: "\(checked.spec.name): losses")
      .write(to: runFolder + "/loss.png")
    guard checked.spec.output.evalEvery > 0, let header = text.split(separator: "\n").first?.split(separator: ",").map(String.init),
      let fdColumn = header.firstIndex(of: "fd")
    else { return }
    // FD alone (its scale is its own), then precision, recall, density and coverage.
    var series = [[(Double, Double)]](repeating: [], count: 5)
    for line in text.split(separator: "\n").dropFirst() {
      let cells = line.split(separator: ",", omittingEmptySubsequences: false).map { Double($0) }
      guard cells.count >= fdColumn + 6, let x = cells[0] else { continue }
      for (k, column) in [fdColumn, fdColumn + 2, fdColumn + 3, fdColumn + 4, fdColumn + 5].enumerated() {
        if let v = cells[column] { series[k].append((x, v)) }
      }
    }
    try Plots.curves([series[0]], colours: [(31, 119, 180)], names: ["FD"], title: "\(checked.spec.name): FD on the judge's features").write(to: runFolder + "/fd.png")
    try Plots.curves(
      Array(series[1...]), colours: [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40)], names: ["precision", "recall", "density", "coverage"],
      title: "\(checked.spec.name): precision, recall, density, coverage"
    ).write(to: runFolder + "/quality.png")
  }

  /// The folder a run's spec copy resolves its relative paths from.
  public static func specOrigin(ofRun run: String) -> String? {
    guard let text = try? String(contentsOfFile: run + "/spec-origin.txt", encoding: .utf8) else { return nil }
    let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return path.isEmpty ? nil : path
  }

  static func clock(_ seconds: Double) -> String {
    guard seconds.isFinite else { return "?" }
    let s = Int(seconds.rounded())
    return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
  }
}
