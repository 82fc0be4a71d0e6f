import Foundation
import GANTestSupport
import GANCompiler
import GANDiagnostics
import GANIR
import Testing
@testable import GANRuntime
@testable import GANSpec

func checkedSpec(_ text: String) throws -> CheckedSpec {
  let folder = FileManager.default.temporaryDirectory.appendingPathComponent("ganc-rt-\(UUID().uuidString)")
  try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
  let path = folder.appendingPathComponent("spec.xml").path
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  let result = Linter.lint(path, sources: SourceStore())
  guard let c = result.checked else { throw RuntimeError("\(result.diagnostics.map(\.message))") }
  return c
}

/// A shipped spec with a smaller batch, so float64 reference runs stay quick.
func shipped(_ name: String, batch: Int) throws -> CheckedSpec {
  var text = try String(contentsOfFile: packageRoot.appendingPathComponent("specs/\(name).xml").path, encoding: .utf8)
  text = text.replacingOccurrences(of: #"batch="\d+""#, with: "batch=\"\(batch)\"", options: .regularExpression)
  // The copy lives elsewhere: a data path relative to specs/ is made absolute.
  text = text.replacingOccurrences(of: #"path="../"#, with: "path=\"\(packageRoot.path)/")
  return try checkedSpec(text)
}

/// Writes seeded values into a program's inputs (they live in the transient
/// region that programs share, so the trainer writes them before every run).
func feedInputs(_ runtime: Runtime, _ program: Program, seed: UInt64) {
  for input in program.inputs {
    var v = values(input.shape.reduce(1, *), seed: seed, ids: input.kind == .labels || input.kind == .generatedLabels ? 3 : nil)
    if case .learningRate = input.kind { v = [1.25] }
    if case .adamBiasCorrection = input.kind { v = [1.25] }
    let buffer = runtime.input(input.name, of: program.kind)!
    for i in 0..<v.count { buffer[i] = Float(v[i]) }
  }
}

/// Fills every input and persistent tensor of the model with seeded values,
/// on the runtime and in a float64 feed dictionary.
func feedAll(_ runtime: Runtime, _ program: Program, seed: UInt64) -> [String: [Double]] {
  var feeds: [String: [Double]] = [:]
  for (k, node) in program.graph.nodes.enumerated() {
    switch node.op {
    case .input(let name), .parameter(let name):
      guard feeds[name] == nil else { continue }
      var v = values(node.elementCount, seed: seed &+ UInt64(k), ids: name.hasSuffix("label") ? 3 : nil)
      if name.hasSuffix("bias1") || name.hasSuffix("bias2") { v = [1.25] }
      if name.hasSuffix("_sq") || name.hasSuffix("running_var") || name.hasSuffix("square_avg") { v = v.map { abs($0) + 0.1 } }
      if name.hasPrefix("generator.") || name.hasPrefix("discriminator.") { v = v.map { $0 * 0.3 } }
      feeds[name] = v
      let buffer = runtime.input(name, of: program.kind) ?? runtime.persistent(name)!
      for i in 0..<v.count { buffer[i] = Float(v[i]) }
    default: break
    }
  }
  return feeds
}

@Suite("Whole training steps on the executor")
struct StepTests {
  /// Every shipped spec, at small batch sizes that are not multiples of 16
  /// as well as even ones, so that every kernel path the executor picks by
  /// shape (oneDNN products and convolutions, the narrow products of 2-D data
  /// and of logits, col2im for a deconvolution to one channel, products over
  /// one term, blocked layouts) runs at the layer shapes users train. (The
  /// batch only changes the products' row count; the float64 reference in a
  /// debug build keeps it small.)
  static let specs: [(String, Int)] = [
    ("ring", 16), ("ring", 17), ("grid", 8), ("grid", 13), ("tabular", 19), ("pacgan-ring", 11),
    ("pacgan-ring-pack2", 7), ("pacgan-grid", 9), ("pacgan-grid-pack2", 5),
    ("fashion-mlp", 4), ("fashion-mlp", 7), ("fashion-dcgan", 2), ("fashion-dcgan", 3), ("cgan-fashion", 3), ("sngan-fashion", 2),
  ]

  @Test("D-step and G-step outputs and updates match the float64 reference", arguments: StepTests.specs.indices)
  func matchesReference(_ index: Int) throws {
    let (name, batch) = Self.specs[index]
    let model = try Compiler.compile(try shipped(name, batch: batch))
    let runtime = try Runtime(model: model, threads: 2)
    for program in model.programs {
      let feeds = feedAll(runtime, program, seed: 100)
      let evaluation = try ReferenceEvaluator(feeds: feeds, seed: 5).evaluate(program.graph)
      let reference = evaluation.values
      try runtime.run(program.kind, seed: 5)
      let g = program.graph
      for o in g.outputs {
        let got = runtime.output(g.outputNames[o]!, of: program.kind)!
        let error = worstRelativeError(got, reference[o])
        #expect(error <= 2e-3, "\(name) \(program.name) \(g.outputNames[o]!): \(Array(got.prefix(4))) vs \(reference[o].prefix(4))")
      }
      var worst = 0.0
      // Every tensor the step writes, by an assignment or a fused kernel's store.
      #expect(!evaluation.updates.isEmpty || program.name == "sample")
      for (target, values) in evaluation.updates {
        let got = runtime.persistent(target)!
        worst = max(worst, worstRelativeError(got, values))
      }
      #expect(worst <= 2e-3, "\(name) \(program.name): updates differ by \(worst)")
    }
  }

  @Test("self-attention (batched oneDNN products) and spectral norm match the float64 reference")
  func attention() throws {
    var text = try String(contentsOfFile: packageRoot.appendingPathComponent("specs/ring.xml").path, encoding: .utf8)
    text = text.replacingOccurrences(of: #"batch="\d+""#, with: #"batch="6""#, options: .regularExpression)
    let g = #"<dense units="256" activation="relu"/>\#n    <dense units="256" activation="relu"/>"#
    let d = #"<dense units="256" activation="leaky-relu" slope="0.2"/>\#n    <dense units="256" activation="leaky-relu" slope="0.2"/>"#
    #expect(text.contains(g) && text.contains(d))
    text = text.replacingOccurrences(of: g, with: #"<dense units="48" activation="tanh"/><reshape shape="3 4 4"/><attention reduction="2"/><flatten/>"#)
    text = text.replacingOccurrences(of: d, with: #"<dense units="32" spectral-norm="true"/><reshape shape="2 4 4"/><attention spectral-norm="true"/><flatten/>"#)
    let model = try Compiler.compile(try checkedSpec(text))
    let runtime = try Runtime(model: model, threads: 2)
    for program in model.programs {
      // Random gamma, so that the attention is on the path.
      let evaluation = try ReferenceEvaluator(feeds: feedAll(runtime, program, seed: 101), seed: 5).evaluate(program.graph)
      try runtime.run(program.kind, seed: 5)
      for o in program.graph.outputs {
        let got = runtime.output(program.graph.outputNames[o]!, of: program.kind)!
        #expect(worstRelativeError(got, evaluation.values[o]) <= 2e-3, "\(program.name) \(program.graph.outputNames[o]!)")
      }
      for (target, values) in evaluation.updates {
        #expect(worstRelativeError(runtime.persistent(target)!, values) <= 2e-3, "\(program.name) \(target)")
      }
    }
  }

  /// The ring spec with other optimizers and training options (the update
  /// kernels they fuse into differ from Adam's and run interpreted, or as
  /// Adam with its gradient formed first).
  static let variants: [(String, [(String, String)])] = [
    (
      "rmsprop, momentum, wasserstein clip",
      [
        (#"loss="non-saturating""#, #"loss="wasserstein" clip="0.05""#),
        (#"kind="adam" lr="1e-3" beta1="0.5" beta2="0.999"/>"#, #"kind="rmsprop" lr="1e-3" beta2="0.9" momentum="0.5"/>"#),
      ]
    ),
    (
      "sgd with momentum and weight decay, hinge",
      [
        (#"loss="non-saturating""#, #"loss="hinge""#),
        (#"kind="adam" lr="1e-3" beta1="0.5" beta2="0.999"/>"#, #"kind="sgd" lr="1e-2" momentum="0.9" weight-decay="1e-3"/>"#),
      ]
    ),
    (
      "adam with weight decay, generator EMA, least squares",
      [
        (#"loss="non-saturating""#, #"loss="least-squares" ema="0.99""#),
        (#"beta2="0.999"/>"#, #"beta2="0.999" weight-decay="0.01"/>"#),
      ]
    ),
  ]

  /// Variant `index` of the ring spec, batch 16.
  static func variant(_ index: Int) throws -> CheckedSpec {
    let (what, edits) = variants[index]
    var text = try String(contentsOfFile: packageRoot.appendingPathComponent("specs/ring.xml").path, encoding: .utf8)
    text = text.replacingOccurrences(of: #"batch="\d+""#, with: #"batch="16""#, options: .regularExpression)
    for (from, to) in edits {
      guard text.contains(from) else { throw RuntimeError("\(what): the edit \(from) does not apply") }
      text = text.replacingOccurrences(of: from, with: to)
    }
    return try checkedSpec(text)
  }

  @Test("optimizer and loss variants: the updates match the float64 reference", arguments: 0..<3)
  func variantsMatchReference(_ index: Int) throws {
    let (what, _) = Self.variants[index]
    let model = try Compiler.compile(try Self.variant(index))
    let runtime = try Runtime(model: model, threads: 2)
    for program in model.programs where ["d-step", "g-step"].contains(program.name) {
      let feeds = feedAll(runtime, program, seed: 100)
      let evaluation = try ReferenceEvaluator(feeds: feeds, seed: 5).evaluate(program.graph)
      try runtime.run(program.kind, seed: 5)
      #expect(!evaluation.updates.isEmpty)
      var worst = 0.0
      for (target, values) in evaluation.updates {
        let got = runtime.persistent(target)!
        worst = max(worst, worstRelativeError(got, values))
      }
      #expect(worst <= 2e-3, "\(what) \(program.name): updates differ by \(worst)")
    }
  }

  @Test("the same seed and thread count give the same bits; the thread pool does not change results run to run")
  func deterministic() throws {
    let model = try Compiler.compile(try shipped("fashion-dcgan", batch: 4))
    /// Every output and persistent tensor after two rounds of steps, by name.
    func run(threads: Int) throws -> [(String, [Float])] {
      let runtime = try Runtime(model: model, threads: threads)
      for program in model.programs { _ = feedAll(runtime, program, seed: 3) }
      var out: [(String, [Float])] = []
      for round in 0..<2 {
        for program in model.programs where program.name != "sample" {
          feedInputs(runtime, program, seed: UInt64(round))
          try runtime.run(program.kind, seed: 9)
          for o in program.graph.outputs {
            let name = program.graph.outputNames[o]!
            out.append(("\(round) \(program.name) \(name)", Array(runtime.output(name, of: program.kind)!)))
          }
        }
      }
      for p in model.persistent { out.append((p.name, Array(runtime.persistent(p.name)!))) }
      return out
    }
    let a = try run(threads: 2), b = try run(threads: 2), single = try run(threads: 1)
    // Compare tensor by tensor, so a failure names the tensor (not a huge diff).
    for ((name, x), (_, y)) in zip(a, b) {
      let mismatches = zip(x, y).filter { $0.bitPattern != $1.bitPattern }.count
      let first = zip(x, y).enumerated().first { $0.element.0.bitPattern != $0.element.1.bitPattern }
      #expect(mismatches == 0, "\(name): \(mismatches) of \(x.count) values differ between two identical runs, first at \(first.map { "\($0.offset): \($0.element)" } ?? "")")
    }
    for ((name, x), (_, y)) in zip(a, single) {
      let worst = worstRelativeError(x, y)
      #expect(worst <= 1e-3, "\(name) differs between 2 threads and 1 by \(worst)")
    }
  }
}
