import ArgumentParser
import CDNNL
import Foundation
import GANCompiler
import GANIR
import GANRuntime
import GANSpec

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
    let dStep = model.program("d-step")!, gStep = model.program("g-step")!
    let classes = checked.data.classes ?? 1
    func feed(_ p: Program, step: Int) {
      for input in p.inputs {
        guard let buffer = runtime.input(input.name, of: p.name) else { continue }
        let random = SeededStream(seed: UInt64(step), stream: input.name.hashValue & 0xFFFF)
        switch input.kind {
        case .latent: random.fillNormal(buffer)
        case .data: for i in 0..<buffer.count { buffer[i] = Float(random.uniform(i) * 2 - 1) }
        case .labels, .generatedLabels: for i in 0..<buffer.count { buffer[i] = Float(Int(random.uniform(i) * Double(classes))) }
        case .scalar: break
        }
      }
      runtime.feedScalars(p, training: training, updates: [.generator: step, .discriminator: step])
    }
    var dSeconds = 0.0, gSeconds = 0.0
    let clock = ContinuousClock()
    for iteration in 0..<(warmup + iterations) {
      let timed = iteration >= warmup
      runtime.profiling = profile && timed
      for k in 0..<training.dSteps {
        feed(dStep, step: iteration + 1)
        let t = clock.measure { try? runtime.run("d-step", seed: UInt64(iteration * 31 + k)) }
        if timed { dSeconds += t.seconds }
      }
      feed(gStep, step: iteration + 1)
      let t = clock.measure { try? runtime.run("g-step", seed: UInt64(iteration * 31 + 17)) }
      if timed { gSeconds += t.seconds }
    }
    let perIteration = (dSeconds + gSeconds) / Double(iterations)
    let flops = Double(CompileReport.iterationFlops(model))
    let peak = SgemmPeak.measure()
    let gflops = flops / perIteration / 1e9
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    let mode = [passes.noFuse ? "unfused" : "fused", passes.noPlan ? "unplanned" : "planned", passes.noLayout ? "plain layouts" : "blocked layouts"].joined(separator: ", ")
    var out = "\(checked.spec.name): batch \(training.batch), \(threadCount) thread\(threadCount == 1 ? "" : "s"), \(mode), \(iterations) iterations\n"
    out += String(format: "  ms per iteration    %.3f  (%d D-step%@ %.3f ms + G-step %.3f ms)\n", perIteration * 1000, training.dSteps,
      training.dSteps == 1 ? "" : "s", dSeconds / Double(iterations) * 1000, gSeconds / Double(iterations) * 1000)
    out += String(format: "  samples per second  %.0f\n", Double(training.batch) / perIteration)
    out += String(format: "  GFLOP/s             %.1f  (%.0f%% of this machine's measured sgemm peak, %.1f GFLOP/s on %d threads)\n",
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

/// This machine's single-precision matrix product speed, measured with
/// oneDNN on a 1024^3 product (best of several runs).
enum SgemmPeak {
  static func measure() -> Double {
    var error = [CChar](repeating: 0, count: 256)
    let n: Int64 = 1024
    guard let op = ganc_matmul_create(n, n, n, 0, 0, nil, &error, 256) else { return .nan }
    defer { ganc_op_destroy(op) }
    let count = Int(n * n)
    let a = [Float](repeating: 0.5, count: count), b = [Float](repeating: 0.25, count: count)
    var c = [Float](repeating: 0, count: count)
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(ganc_op_scratch_size(op), 64), alignment: 64)
    defer { scratch.deallocate() }
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<8 {
      let t = clock.measure { _ = ganc_op_execute(op, a, b, nil, &c, scratch) }
      best = min(best, t.seconds)
    }
    return 2 * Double(count) * Double(n) / best / 1e9
  }
}
