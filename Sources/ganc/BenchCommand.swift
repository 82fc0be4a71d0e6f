import ArgumentParser
import Foundation
import GANCompiler
import GANIR
import GANRuntime
import GANSpec
import GANTrainer

/// `ganc bench`: times D-steps and G-steps on synthetic data.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Time training iterations (k D-steps + 1 G-step) on synthetic data of the spec's shapes.",
    discussion: "Reports ms per iteration, samples per second, GFLOP/s beside this machine's measured sgemm peak, the arena and peak RSS.")

  @Argument(help: "The spec to benchmark.", completion: .file(extensions: ["xml"]))
  var spec: String

  @Option(help: "Timed iterations.")
  var iterations = 50

  @Option(help: "Untimed warm-up iterations.")
  var warmup = 5

  @Option(help: "Worker threads (default: the spec's, else all cores).")
  var threads: Int?

  @OptionGroup var passes: PassSwitches

  @Flag(help: "Time every kernel and print where the time goes.")
  var profile = false

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  func validate() throws {
    guard iterations >= 1, iterations <= 1_000_000 else { throw ValidationError("--iterations must be between 1 and 1000000") }
    guard warmup >= 0, warmup <= 10_000 else { throw ValidationError("--warmup must be between 0 and 10000") }
    if let threads, threads < 1 || threads > 1024 { throw ValidationError("--threads must be between 1 and 1024") }
  }

  func run() throws {
    let checked = try checkedSpec(spec, colour: color, options: LintOptions(allowedFolders: includes.allowInclude))
    let options = passes.options
    let model = try Compiler.compile(checked, options: options)
    let threadCount = threads ?? checked.spec.training.threads ?? ProcessInfo.processInfo.activeProcessorCount
    let runtime = try Runtime(model: model, threads: threadCount)
    runtime.initializeParameters(seed: 1)
    let training = checked.spec.training
    // The trainer's feeder and data: a benchmark times exactly what a training step runs.
    let dataset: Dataset
    do {
      dataset = try Dataset(checked.spec.data, shape: checked.data.shape, seed: training.seed)
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(1)
    }
    let feeder: ProgramFeeder
    do {
      feeder = try ProgramFeeder(checked, dataset: dataset)
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(1)
    }
    let steps = try ProgramFeeder.steps(of: checked).map { kind in
      guard let program = runtime.program(kind) else { throw RuntimeError("the compiled model lacks its \(kind.name) program") }
      return program
    }
    // Lazy regularisation: every k-th D update runs the penalised D-step, as in training.
    let regularized = runtime.program(.regularizedDiscriminatorStep)
    var done = ProgramFeeder.Updates(discriminator: 0, generator: 0)
    var dSeconds = 0.0, gSeconds = 0.0
    let clock = ContinuousClock()
    /// Feeds and runs one step; a failed step ends the benchmark with its error.
    func step(_ program: BoundProgram) throws -> Double {
      feeder.feed(program, done: done)
      let random = feeder.random(program, done: done)
      var failure: Error? = nil
      let t = clock.measure {
        do { try runtime.run(program, random: random) } catch { failure = error }
      }
      if let failure {
        Out.error("ganc: error: \(program.kind.name) failed: \(failure)\n")
        throw ExitCode(1)
      }
      return t.seconds
    }
    for iteration in 0..<(warmup + iterations) {
      let timed = iteration >= warmup
      runtime.profiling = profile && timed
      for scheduled in steps {
        let lazy = scheduled.kind == .discriminatorStep && feeder.penalizes(update: done.discriminator)
        let program = lazy ? regularized ?? scheduled : scheduled
        let t = try step(program)
        if program.kind == .generatorStep {
          done.generator += 1
          if timed { gSeconds += t }
        } else {
          done.discriminator += 1
          if timed { dSeconds += t }
        }
      }
    }
    let perIteration = (dSeconds + gSeconds) / Double(iterations)
    let flops = Double(CompileReport.iterationFlops(model))
    let peak = Runtime.sgemmPeak()
    let gflops = flops / perIteration / 1e9
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let mode = [passes.noFuse ? "unfused" : "fused", passes.noPlan ? "unplanned" : "planned", passes.noLayout ? "plain layouts" : "blocked layouts"].joined(separator: ", ")
    var out = "\(checked.spec.name): batch \(training.batch), \(threadCount) thread\(threadCount == 1 ? "" : "s"), \(mode), \(iterations) iterations\n"
    if regularized != nil {
      out += "  (R1/R2 run on one D update in \(training.regularizeEvery), as in training: time a multiple of that many D updates)\n"
    }
    if checked.spec.kind == .classifier {
      out += String(format: "  ms per iteration    %.3f  (one classifier step)\n", perIteration * 1000)
    } else {
      out += String(
        format: "  ms per iteration    %.3f  (%d D-step%@ %.3f ms + G-step %.3f ms)\n", perIteration * 1000, training.dSteps,
        training.dSteps == 1 ? "" : "s", dSeconds / Double(iterations) * 1000, gSeconds / Double(iterations) * 1000)
    }
    out += String(format: "  samples per second  %.0f\n", Double(training.batch) / perIteration)
    out += String(
      format: "  GFLOP/s             %.1f  (%.0f%% of this machine's measured sgemm peak, %.1f GFLOP/s on %d threads)\n",
      gflops, gflops / peak * 100, peak, threadCount)
    out += String(format: "  FLOPs/iteration     %.3f GFLOP\n", flops / 1e9)
    out += "  arena               \(CompileReport.bytes(model.plan.arenaBytes)) planned + \(CompileReport.bytes(runtime.scratchBytes)) scratch\n"
    out += "  peak RSS            \(CompileReport.bytes(Int(usage.ru_maxrss) * 1024))\n"
    if profile {
      var counts: [String: Int] = [:]
      for name in runtime.implementations { counts[name, default: 0] += 1 }
      out += "\n  oneDNN implementations: " + counts.sorted { $0.key < $1.key }.map { "\($0.key) x\($0.value)" }.joined(separator: ", ") + "\n"
      out += "\n  where the time goes (ms per iteration, all calls of a kind and shape):\n"
      let total = runtime.profile.values.reduce(0) { $0 + $1.seconds }
      for (key, value) in runtime.profile.sorted(by: { $0.value.seconds > $1.value.seconds }).prefix(30) {
        out += String(format: "  %8.3f  %5.1f%%  %@\n", value.seconds / Double(iterations) * 1000, value.seconds / total * 100, key)
      }
    }
    Out.print(out)
  }
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}
