import ArgumentParser
import Foundation
import GANCompiler
import GANData
import GANDiagnostics
import GANSpec
import GANIR
import GANRuntime
import GANTrainer

/// Reads, lints and checks a spec with command-line overrides applied.
func loadSpec(_ path: String, colour: ColourChoice, options: LintOptions) throws -> (CheckedSpec, String) {
  let checked = try checkedSpec(path, colour: colour, options: options)
  guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw ExitCode(2) }
  return (checked, text)
}

/// `ganc train`: compiles a spec and runs the adversarial loop.
struct Train: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a spec: D-steps and G-steps on all cores, with progress, samples, plots, metrics and checkpoints.",
    discussion: """
      Writes into the run folder (the spec's <output dir>, or --out): spec.xml, metrics.csv,
      samples/*.png, loss.png and checkpoint.safetensors. Ctrl-C saves a checkpoint and stops;
      `ganc train --resume RUN` continues to the same bits as an uninterrupted run.
      Exit codes: 0 finished, 1 errors (spec, data, divergence), 2 usage or I/O, 130 interrupted.
      """)

  @Argument(help: "The spec to train (optional with --resume: the run's own copy is used).", completion: .file(extensions: ["xml"]))
  var spec: String?

  @Option(help: "Continue the run in this folder from its checkpoint.")
  var resume: String?

  @Option(help: "Generator updates (overrides the spec).")
  var steps: Int?

  @Option(help: "Batch size (overrides the spec).")
  var batch: Int?

  @Option(help: "Seed (overrides the spec).")
  var seed: UInt64?

  @Option(help: "Worker threads (default: the spec's, else all cores).")
  var threads: Int?

  @Option(help: "The run folder (overrides <output dir>).")
  var out: String?

  @Option(help: "When losses or weights stop being finite: stop (roll back and end) or lower-lr (roll back, halve the learning rates, go on).")
  var onDivergence: String = "stop"

  @Flag(name: .shortAndLong, help: "Print nothing but errors.")
  var quiet = false

  @Option(help: ArgumentHelp("Write every batch, noise draw and random stream, and the state after steps 0, 1, 10, 100, ..., into this folder (for Benchmarks/parity).", valueName: "dir"))
  var trace: String?

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  func validate() throws {
    if spec == nil && resume == nil { throw ValidationError("name a spec to train, or a run to --resume") }
    if let steps, steps < 1 || steps > 1_000_000_000 { throw ValidationError("--steps must be between 1 and 1000000000") }
    if let batch, batch < 1 || batch > 1 << 24 { throw ValidationError("--batch must be between 1 and 16777216") }
    if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
    if DivergencePolicy(rawValue: onDivergence) == nil { throw ValidationError("--on-divergence is 'stop' or 'lower-lr'") }
  }

  func run() throws {
    // Under mpirun this process is one rank of a data-parallel job; otherwise MPI is never touched.
    let cluster = Cluster.join()
    var training = false
    do {
      try train(cluster: cluster, started: &training)
    } catch {
      guard let cluster, cluster.size > 1 else {
        cluster?.finish()
        throw error
      }
      // Before training every rank meets the same problem (the same spec,
      // data and batch): rank 0 has said it, and all leave with its code.
      // During training a failing rank ends the whole job (never a hang in
      // a collective), with its message.
      guard training else {
        cluster.finish()
        throw error
      }
      if !(error is ExitCode) { Out.error("ganc: error (rank \(cluster.rank) of \(cluster.size)): \(error)\n") }
      cluster.abort((error as? ExitCode)?.rawValue ?? 1)
    }
    cluster?.finish()
  }

  func train(cluster: Cluster?, started: inout Bool) throws {
    let quiet = self.quiet || !(cluster?.isRoot ?? true)
    let specPath = spec ?? (resume! + "/spec.xml")
    if spec == nil && !FileManager.default.fileExists(atPath: specPath) {
      Out.error("ganc: error: \(resume!) holds no spec.xml; is it a run folder?\n")
      throw ExitCode(2)
    }
    // The run's own copy keeps the batch and seed it was trained with unless overridden.
    var lintOptions = spec == nil ? Trainer.lintOptions(ofRun: resume!, batch: batch, seed: seed) : LintOptions(batch: batch, seed: seed)
    lintOptions.steps = steps
    lintOptions.allowedFolders = includes.allowInclude
    let (checked, text) = try loadSpec(specPath, colour: color, options: lintOptions)
    var options = TrainOptions()
    options.out = resume ?? out
    options.cluster = cluster
    // Ranks on one machine share its cores.
    options.threads = threads ?? cluster.map { max(1, ProcessInfo.processInfo.activeProcessorCount / $0.localSize) }
    options.resume = resume != nil
    options.onDivergence = DivergencePolicy(rawValue: onDivergence)!
    options.quiet = quiet
    options.trace = trace
    // The report's reproducing command: a data-parallel run is only reproduced by as many ranks.
    let launcher = cluster.map { $0.size > 1 ? ["mpirun", "-np", String($0.size)] : [] } ?? []
    options.command = launcher + ["ganc"] + CommandLine.arguments.dropFirst()
    options.liveProgress = isatty(STDERR_FILENO) != 0 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    let trainer: Trainer
    do {
      trainer = try Trainer(checked, specText: text, options: options)
    } catch {
      if cluster?.isRoot ?? true { Out.error("ganc: error: \(error)\n") }
      throw ExitCode(1)
    }
    let log: (String) -> Void = { line in if !quiet { Out.error(line + "\n") } }
    if !quiet {
      let threads = "\(trainer.runtime.pool.threads) thread\(trainer.runtime.pool.threads == 1 ? "" : "s")"
      let ranks =
        cluster.map { c in
          c.size > 1
            ? " on \(c.size) ranks (\(checked.spec.training.batch / c.size) samples and \(threads) each; \(CompileReport.bytes(trainer.bytesPerIteration)) of gradients summed per iteration)"
            : ""
        } ?? ", \(threads)"
      log("training \(checked.spec.name): \(checked.spec.training.steps) steps of batch \(checked.spec.training.batch)\(ranks), into \(trainer.runFolder)")
    }
    let start = Date()
    let outcome: Trainer.Outcome
    started = true
    do {
      outcome = try trainer.train(log: log)
    } catch {
      if cluster == nil { Out.error("ganc: error: \(error)\n") }
      throw cluster == nil ? ExitCode(1) : error
    }
    started = false
    if outcome == .interrupted { throw ExitCode(130) }
    guard trainer.writes else { return }
    if trainer.isClassifier || checked.spec.training.loss == .semiSupervised {
      // A net that classifies is scored on held-out data, and the score kept beside the run.
      do {
        try writeEvalReport(try classificationReport(trainer, log: quiet ? { _ in } : log), trainer: trainer)
      } catch {
        Out.error("ganc: error: \(error)\n")
        throw ExitCode(1)
      }
    }
    if trainer.isClassifier {
      if !quiet {
        log(
          String(
            format: "done in %.1f s: loss %.4f; wrote %@/{metrics.csv,loss.png,checkpoint.safetensors,eval.json,report.html}", Date().timeIntervalSince(start),
            trainer.history.last?.dLoss ?? .nan, trainer.runFolder))
      }
      return
    }
    if !quiet, let cluster, cluster.size > 1 {
      let seconds = Date().timeIntervalSince(start)
      log(String(format: "the gradient allreduce took %.2f s of %.2f s (%.1f%%) on rank 0", trainer.allreduceSeconds, seconds, trainer.allreduceSeconds / max(seconds, 1e-9) * 100))
    }
    if !quiet {
      let last = trainer.history.last
      log(
        String(
          format: "done in %.1f s: D loss %.4f, G loss %.4f; wrote %@/{metrics.csv,loss.png,samples/,checkpoint.safetensors,report.html}",
          Date().timeIntervalSince(start), last?.dLoss ?? .nan, last?.gLoss ?? .nan, trainer.runFolder))
    }
  }
}

/// Opens a finished (or interrupted) run (see `Trainer.open`), rendering what is wrong.
func openRun(_ run: String, checkpoint: String?, step: Int? = nil, colour: ColourChoice, threads: Int?, includes: IncludeOptions) throws -> Trainer {
  let sources = SourceStore()
  do {
    let path = try step.map { try Trainer.checkpoint(ofRun: run, step: $0) } ?? checkpoint
    return try Trainer.open(run: run, checkpoint: path, threads: threads, sources: sources, allowedFolders: includes.allowInclude)
  } catch OpenRunError.notARun(let run) {
    Out.error("ganc: error: \(OpenRunError.notARun(run))\n")
    throw ExitCode(2)
  } catch OpenRunError.invalidSpec(let result) {
    let renderer = DiagnosticRenderer(colour: colour.enabled(for: STDERR_FILENO))
    for d in result.diagnostics { Out.error(renderer.render(d, sources: sources)) }
    throw ExitCode(1)
  } catch {
    Out.error("ganc: error: \(error)\n")
    throw ExitCode(1)
  }
}

/// `ganc sample`: new samples from a trained run.
struct Sample: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write new samples from a run's latest (or a named) checkpoint, with EMA weights when the run kept them.")

  enum Format: String, ExpressibleByArgument, CaseIterable { case png, csv, npy }

  @Argument(help: "The run folder.")
  var runFolder: String

  @Option(name: .short, help: "How many samples.")
  var n = 64

  @Option(help: "png (an image grid or a scatter plot), csv (rows, in the data's original units) or npy (float32).")
  var format: Format = .png

  @Option(help: "Seed for the noise.")
  var seed: Int = 1

  @OptionGroup var which: CheckpointChoice

  @Option(help: ArgumentHelp("Noise to use instead of drawing it: a .npy of [n, latent] numbers (n sets -n).", valueName: "npy"))
  var noise: String?

  @Option(help: ArgumentHelp("Class ids for a conditional generator: a .npy of n integers (default: the classes in turn).", valueName: "npy"))
  var labels: String?

  @Option(help: ArgumentHelp("Also write the noise fed to the generator, [n, latent] float32 (to feed an exported model the same).", valueName: "npy"))
  var saveNoise: String?

  @Option(help: ArgumentHelp("Also write the class ids fed to a conditional generator, n int64.", valueName: "npy"))
  var saveLabels: String?

  @Option(help: "The output file (default: RUN/samples-N.FORMAT).")
  var out: String?

  @Option(help: "Worker threads.")
  var threads: Int?

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  func validate() throws {
    guard n >= 1, n <= 1_000_000 else { throw ValidationError("-n must be between 1 and 1000000") }
    guard seed >= 0, seed < Trainer.noiseSeeds - 2 else { throw ValidationError("--seed must be between 0 and \(Trainer.noiseSeeds - 3)") }
  }

  func run() throws {
    let run = runFolder
    let trainer = try openRun(run, checkpoint: which.checkpoint, step: which.step, colour: color, threads: threads, includes: includes)
    guard !trainer.isClassifier else {
      Out.error("ganc: error: \(run) is a classifier run (a <classifier> spec): it has no generator to sample from; `ganc eval \(run)` reports its accuracy\n")
      throw ExitCode(1)
    }
    let shape = trainer.checked.data.shape
    let given = try givenInputs(trainer)
    let n = given.count
    // (An image grid draws its own, one row per class when conditional.)
    if saveLabels != nil && !trainer.training.conditional {
      Out.error("ganc: error: --save-labels is for a conditional generator; \(trainer.checked.spec.name) is not conditional\n")
      throw ExitCode(2)
    }
    let saving = saveNoise != nil || saveLabels != nil
    let drawn: (samples: [Float], noise: [Float], labels: [Float]) =
      format == .png && shape.count == 3 && given.noise == nil && given.labels == nil && !saving
      ? ([], [], []) : try trainer.generateWithInputs(count: n, noiseSeed: seed + 1, noise: given.noise, labels: given.labels)
    let samples = drawn.samples
    let path = out ?? "\(run)/samples-\(n).\(format.rawValue)"
    do {
      switch format {
      case .png:
        if shape.count == 3 && samples.isEmpty {
          try trainer.sampleGrid(count: n, noiseSeed: seed + 1).write(to: path)
        } else if shape.count == 3 {
          try trainer.imageGrid(samples, count: n).write(to: path)
        } else if shape.reduce(1, *) >= 2 {
          let size = shape.reduce(1, *)
          let points = (0..<n).map { (Double(samples[$0 * size]), Double(samples[$0 * size + 1])) }
          try Plots.scatter(real: [], generated: points, centres: trainer.dataset.centres).write(to: path)
        } else {
          Out.error("ganc: error: samples of shape \(shape.shapeText) cannot be drawn; use --format csv or npy\n")
          throw ExitCode(2)
        }
      case .csv:
        let values = trainer.dataset.toOriginalUnits(samples)
        let size = shape.reduce(1, *)
        var text = (trainer.dataset.columnNames ?? (0..<size).map { "x\($0)" }).joined(separator: ",") + "\n"
        for i in 0..<n { text += (0..<size).map { String(values[i * size + $0]) }.joined(separator: ",") + "\n" }
        try text.write(toFile: path, atomically: true, encoding: .utf8)
      case .npy:
        try NPYWriter.write(trainer.dataset.toOriginalUnits(samples), shape: [n] + shape, to: path)
      }
      if let saveNoise {
        try writeAtomically(NPYWriter.encode(drawn.noise, shape: [n, trainer.checked.spec.latent.size]), to: saveNoise, what: "the noise")
      }
      if let saveLabels { try writeAtomically(NPYWriter.encode(drawn.labels.map { Int64($0) }, shape: [n]), to: saveLabels, what: "the labels") }
    } catch let e as ExitCode {
      throw e
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(2)
    }
    Out.print("wrote \(n) samples to \(path)\n")
  }
}

extension Sample {
  /// The noise and labels of --noise and --labels, checked against the generator.
  /// `count` is the number of samples: the noise's rows, else -n.
  func givenInputs(_ trainer: Trainer) throws -> (noise: [Float]?, labels: [Float]?, count: Int) {
    let latent = trainer.checked.spec.latent.size
    func read(_ path: String, _ size: Int) throws -> [Float] {
      let stored = try NPY.read(path, sampleSize: size)
      guard stored.header.descr != "|u1" else { throw DataError("\(path): bytes are read as pixels; save the array as float32 or int64") }
      var values = [Float](repeating: 0, count: stored.count)
      values.withUnsafeMutableBufferPointer { stored.copy(0, stored.count, into: $0.baseAddress!) }
      return values
    }
    do {
      let noise = try noise.map { try read($0, latent) }
      if let noise, noise.isEmpty || noise.count / latent > 1_000_000 {
        throw DataError("\(self.noise!): between 1 and 1000000 rows of \(latent) numbers are needed")
      }
      let count = noise.map { $0.count / latent } ?? n
      guard let labels else { return (noise, nil, count) }
      guard trainer.training.conditional, let classes = trainer.dataset.classes else {
        throw DataError("--labels is for a conditional generator; \(trainer.checked.spec.name) is not conditional")
      }
      let ids = try read(labels, 1)
      guard ids.count == count else { throw DataError("\(labels): \(ids.count) labels for \(count) samples") }
      if let bad = ids.firstIndex(where: { $0 != $0.rounded() || $0 < 0 || Int($0) >= classes }) {
        throw DataError("\(labels): label \(ids[bad]) at \(bad) is not a class id in 0..<\(classes)")
      }
      return (noise, ids, count)
    } catch let e as ExitCode {
      throw e
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(2)
    }
  }
}

/// `ganc eval`: quality metrics of a trained run.
struct Eval: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract:
      "Measure a run: PacGAN's mode metrics for ring/grid; for images FD, KID, precision/recall and density/coverage on a judge's features (--judge), else pixel statistics; column statistics for tables; a classifier's test accuracy."
  )

  @Argument(help: "The run folder.")
  var runFolder: String

  @Option(help: "Samples to generate (2,500 as in PacGAN).")
  var samples = 2500

  @Option(help: "A judge's run folder (a trained <classifier>, such as `ganc train specs/fashion-judge.xml`): FD, KID, precision/recall, density/coverage on its features.")
  var judge: String?

  @OptionGroup var which: CheckpointChoice

  @Option(help: "Worker threads.")
  var threads: Int?

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  func validate() throws {
    guard samples >= 10, samples <= 1_000_000 else { throw ValidationError("--samples must be between 10 and 1000000") }
  }

  /// The most samples the judge's metrics use (their distance matrices are N x N).
  static let judgeSampleLimit = 10_000

  func run() throws {
    let run = runFolder
    let trainer = try openRun(run, checkpoint: which.checkpoint, step: which.step, colour: color, threads: threads, includes: includes)
    if trainer.isClassifier {
      if judge != nil { Out.error("ganc: note: \(run) is a classifier; --judge measures generators and is ignored\n") }
      do {
        var report = try classificationReport(trainer) { Out.print($0 + "\n") }
        if trainer.checked.data.shape.count == 3 { report.merge(try referencePoints(judge: trainer)) { _, new in new } }
        try writeEvalReport(report, trainer: trainer)
      } catch {
        Out.error("ganc: error: \(error)\n")
        throw ExitCode(1)
      }
      return
    }
    let data = trainer.dataset
    let shape = trainer.checked.data.shape
    var report: [String: Any] = ["run": run, "step": trainer.step, "samples": samples]
    var text = "\(trainer.checked.spec.name) at step \(trainer.step), \(samples) samples\n"
    switch trainer.checked.spec.data.source {
    case .ring, .grid:
      let generated = try trainer.generate(count: samples, noiseSeed: Trainer.noiseSeeds - 1)
      let points = (0..<samples).map { (Double(generated[2 * $0]), Double(generated[2 * $0 + 1])) }
      let m = Evaluation.modes(points, centres: data.centres, std: data.modeStd)
      text += "  modes covered        \(m.covered) of \(m.modes)\n"
      text += String(format: "  high-quality share   %.1f%%  (within 3 std of a mode centre)\n", m.highQualityShare * 100)
      text += String(format: "  KL(modes || uniform) %.4f\n", m.kl)
      report["modes"] = m.modes
      report["modes_covered"] = m.covered
      report["high_quality_share"] = m.highQualityShare
      report["kl_to_uniform"] = m.kl.isFinite ? m.kl : -1
    case .idx where shape.count == 3, .npy where shape.count == 3:
      let n = min(samples, 1000, data.count)
      let generated = try trainer.generate(count: n, noiseSeed: Trainer.noiseSeeds - 1)
      var real = [Float](repeating: 0, count: n * data.sampleSize)
      real.withUnsafeMutableBufferPointer { data.fill($0, labels: nil, batch: n, position: 0) }
      let m = Evaluation.images(generated: generated, real: real, count: n, shape: shape)
      text += String(format: "  pixel mean distance  %.4f  (mean |mean_gen - mean_real| per pixel, data in [-1, 1])\n", m.meanDistance)
      text += String(format: "  pixel std distance   %.4f\n", m.stdDistance)
      text += String(format: "  pixel precision (k=%d) %.3f  (generated samples near the real data, 7x7 average pooling)\n", m.k, m.precision)
      text += String(format: "  pixel recall (k=%d)    %.3f  (real samples near the generated ones)\n", m.k, m.recall)
      text += "  on \(n) samples each\n"
      if judge == nil {
        text += "  only pixel statistics are available without a judge: train one with `ganc train specs/fashion-judge.xml`,\n"
        text += "  then `ganc eval \(run) --judge runs/fashion-judge` for FD, KID, precision/recall and density/coverage on its features\n"
      }
      report["pixel_mean_distance"] = m.meanDistance
      report["pixel_std_distance"] = m.stdDistance
      report["precision"] = m.precision
      report["recall"] = m.recall
    default:
      let n = min(samples, max(data.count, 1))
      let size = data.sampleSize
      let generated = data.toOriginalUnits(try trainer.generate(count: n, noiseSeed: Trainer.noiseSeeds - 1))
      var real = [Float](repeating: 0, count: n * size)
      real.withUnsafeMutableBufferPointer { data.fill($0, labels: nil, batch: n, position: 0) }
      real = data.toOriginalUnits(real)
      let names = data.columnNames ?? (0..<size).map { "x\($0)" }
      let (columnText, columns, correlation) = Self.columnReport(real: real, generated: generated, rows: n, names: names)
      text += columnText
      report["columns"] = columns
      if let correlation { report["correlation_difference"] = correlation }
    }
    if trainer.training.loss == .semiSupervised, let (accuracy, count) = try trainer.testAccuracy() {
      text += String(format: "  D's test accuracy    %.2f%% of %d held-out samples", accuracy * 100, count) + (trainer.labelled.map { " (\($0.count) labelled)" } ?? "") + "\n"
      report["test_accuracy"] = accuracy
      report["test_samples"] = count
    }
    if let judge {
      let judgeTrainer = try openRun(judge, checkpoint: nil, colour: color, threads: threads, includes: includes)
      do {
        let session = try JudgeSession(judge: judgeTrainer, judgeRun: judge, for: trainer, count: min(samples, Self.judgeSampleLimit))
        let e = try session.evaluate(trainer)
        text += Self.judgeText(e, session)
        report["judge"] = Self.judgeJSON(e, session)
      } catch {
        Out.error("ganc: error: \(error)\n")
        throw ExitCode(1)
      }
    }
    try? writeEvalReport(report, trainer: trainer)
    Out.print(text)
  }

  /// A judge's reference points: its own training images against the real
  /// set (the floor a perfect generator would reach) and uniform noise (far off).
  /// Prints them and returns their entries of eval.json.
  func referencePoints(judge trainer: Trainer) throws -> [String: Any] {
    let session = try JudgeSession(judge: trainer, judgeRun: runFolder, for: trainer, count: min(samples, Self.judgeSampleLimit))
    let n = session.count
    let data = trainer.dataset
    var images = [Float](repeating: 0, count: n * data.sampleSize)
    images.withUnsafeMutableBufferPointer { data.fill($0, labels: nil, batch: n, position: 0) }
    let seeded = SeededStream(seed: trainer.training.seed, RandomStream(.benchmark, 0))
    let noise = (0..<(n * data.sampleSize)).map { Float(seeded.uniform($0) * 2 - 1) }
    var text = "  reference points on \(n) samples each against \(session.realSource), \(session.checkpointSHA256.prefix(12)):\n"
    text += "                       FD        KID        precision recall  density coverage\n"
    var json: [String: Any] = [:]
    for (name, key, samples) in [("training images", "training_images", images), ("uniform noise", "uniform_noise", noise)] {
      let m = try session.compare(samples, count: n, seed: trainer.training.seed)
      let q = m.manifold
      text += "  " + name.padding(toLength: 19, withPad: " ", startingAt: 0)
      text += String(format: "%9.3f  %9.5f  %6.3f    %6.3f  %6.3f   %6.3f\n", m.fd, m.kidMean, q.precision, q.recall, q.density, q.coverage)
      json[key] = ["fd": m.fd, "kid_mean": m.kidMean, "kid_std": m.kidStd, "precision": q.precision, "recall": q.recall, "density": q.density, "coverage": q.coverage]
    }
    Out.print(text)
    return ["reference_points": json, "reference_samples": n, "checkpoint_sha256": session.checkpointSHA256]
  }

  static func judgeText(_ e: JudgeEvaluation, _ s: JudgeSession) -> String {
    let m = e.metrics
    var text = "  on the judge \(s.judgeRun) (step \(s.judge.step), sha256 \(s.checkpointSHA256.prefix(12))), \(m.dimension) features, \(m.count) samples each, real: \(s.realSource)\n"
    text += String(format: "  FD                   %.3f  (Frechet distance of the features' Gaussians)\n", m.fd)
    text += String(format: "  KID                  %.5f +- %.5f  (unbiased MMD^2, cubic kernel, 100 subsets)\n", m.kidMean, m.kidStd)
    text += String(format: "  precision / recall   %.3f / %.3f  (k = 3)\n", m.manifold.precision, m.manifold.recall)
    text += String(format: "  density / coverage   %.3f / %.3f  (k = 5)\n", m.manifold.density, m.manifold.coverage)
    if let a = e.classAccuracy { text += String(format: "  class accuracy       %.2f%%  (the judge puts G(z, y) in class y)\n", a * 100) }
    text += "  classes covered      \(e.classesCovered) of \(e.classes)\n"
    return text
  }

  static func judgeJSON(_ e: JudgeEvaluation, _ s: JudgeSession) -> [String: Any] {
    let m = e.metrics
    var object: [String: Any] = [
      "run": s.judgeRun, "checkpoint_sha256": s.checkpointSHA256, "step": s.judge.step, "features": m.dimension, "samples": m.count, "real": s.realSource,
      "fd": m.fd, "kid_mean": m.kidMean, "kid_std": m.kidStd, "precision": m.manifold.precision, "recall": m.manifold.recall,
      "density": m.manifold.density, "coverage": m.manifold.coverage, "classes_covered": e.classesCovered, "classes": e.classes,
    ]
    if let a = e.classAccuracy { object["class_accuracy"] = a }
    return object
  }

  /// Each column's mean and spread, the KS statistic of each column, and the
  /// largest difference between the columns' correlation matrices.
  static func columnReport(real: [Float], generated: [Float], rows n: Int, names: [String]) -> (String, [[String: Any]], [String: Any]?) {
    let size = names.count
    let g = Evaluation.columns(generated, columns: size), r = Evaluation.columns(real, columns: size)
    let ks = Evaluation.ksStatistics(real, generated, columns: size)
    let correlation = Evaluation.correlationDifference(real, generated, columns: size)
    var text = "  column                 real mean    real std  |   gen mean     gen std  |   KS\n"
    var columns: [[String: Any]] = []
    for c in 0..<size {
      let label = names[c].count >= 20 ? names[c] + " " : names[c] + String(repeating: " ", count: 20 - names[c].count)
      text += "  " + label + String(format: " %10.4g  %10.4g  | %10.4g  %10.4g  | %5.3f\n", r[c].mean, r[c].std, g[c].mean, g[c].std, ks[c])
      columns.append(["name": names[c], "real_mean": r[c].mean, "real_std": r[c].std, "generated_mean": g[c].mean, "generated_std": g[c].std, "ks": ks[c]])
    }
    guard size > 1 else { return (text, columns, nil) }
    text += String(format: "  correlation gen - real: largest |difference| %.3f, mean %.3f over %d pairs\n", correlation.largest, correlation.mean, size * (size - 1) / 2)
    if size <= 12 {
      for i in 0..<size {
        let label = String(names[i].prefix(12))
        text += "    " + label + String(repeating: " ", count: 13 - label.count)
        text += (0..<size).map { String(format: "%7.3f", correlation.matrix[i * size + $0]) }.joined() + "\n"
      }
    }
    let json: [String: Any] = [
      "largest": correlation.largest, "mean": correlation.mean,
      "matrix": (0..<size).map { i in (0..<size).map { correlation.matrix[i * size + $0] } },
    ]
    return (text, columns, json)
  }
}

/// Scores a classifier (or a semi-supervised D) on the spec's `<test>` data
/// and logs it; returns the report for eval.json.
func classificationReport(_ trainer: Trainer, log: (String) -> Void) throws -> [String: Any] {
  var report: [String: Any] = ["run": trainer.runFolder, "step": trainer.step, "kind": trainer.checked.spec.kind.rawValue]
  if let labelled = trainer.labelled { report["labelled_samples"] = labelled.count }
  let who = trainer.isClassifier ? "the classifier" : "D"
  if let (accuracy, count) = try trainer.testAccuracy() {
    report["test_accuracy"] = accuracy
    report["test_samples"] = count
    log(String(format: "%@'s test accuracy: %.2f%% of %d held-out samples", who, accuracy * 100, count) + (trainer.labelled.map { " (trained on \($0.count) labelled)" } ?? ""))
  } else {
    log("\(who) has no <test> data to be scored on; add <test source=\"idx\" images=\"...\" labels=\"...\"/> to the spec")
  }
  return report
}

/// Writes RUN/eval.json (atomically, keys sorted), the one writer of every
/// evaluation, then RUN/report.html again so the page shows it.
func writeEvalReport(_ report: [String: Any], trainer: Trainer) throws {
  let json = try JSONSerialization.data(withJSONObject: report, options: [.prettyPrinted, .sortedKeys])
  try json.write(to: URL(fileURLWithPath: trainer.runFolder + "/eval.json"), options: .atomic)
  try RunReport.write(trainer)
}
