import Foundation
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

struct LossCase: CustomTestStringConvertible, Sendable {
  let name: String
  let spec: String
  var testDescription: String { name }
}

let lossCases: [LossCase] = [
  LossCase(name: "non-saturating", spec: tinySpec()),
  LossCase(name: "non-saturating with label smoothing", spec: tinySpec(training: "label-smoothing=\"0.9\"")),
  LossCase(name: "minimax", spec: tinySpec(loss: "minimax")),
  LossCase(name: "least-squares", spec: tinySpec(loss: "least-squares")),
  LossCase(name: "hinge", spec: tinySpec(loss: "hinge")),
  LossCase(name: "wasserstein (clip out of reach)", spec: tinySpec(loss: "wasserstein", training: "clip=\"100\"")),
  LossCase(
    name: "wasserstein-gp (double backward)",
    spec: tinySpec(
      loss: "wasserstein-gp", training: "gp-weight=\"3\"",
      d: "<dense units=\"4\" activation=\"tanh\"/><layernorm/><dense units=\"4\" activation=\"softplus\"/><dense units=\"1\"/>")),
  LossCase(
    name: "batchnorm, maxout, elu, gelu, silu",
    spec: tinySpec(
      g: "<dense units=\"6\" bias=\"false\"/><batchnorm/><activation kind=\"elu\"/><dense units=\"4\" activation=\"gelu\"/><dense units=\"2\"/>",
      d: "<maxout units=\"3\" pieces=\"2\"/><dense units=\"3\" activation=\"silu\"/><dense units=\"1\"/>")),
  LossCase(
    name: "skip connections: concat and add",
    spec: tinySpec(
      g: "<dense units=\"4\" activation=\"relu\" id=\"a\"/><dense units=\"4\" activation=\"sigmoid\" id=\"b\"/><add inputs=\"a b\" id=\"c\"/><concat inputs=\"c a\"/><dense units=\"2\"/>")),
  LossCase(
    name: "convolutions",
    spec: tinySpec(
      g:
        "<dense units=\"8\"/><reshape shape=\"2 2 2\"/><deconv2d filters=\"2\" kernel=\"3\" stride=\"2\" padding=\"1\" output-padding=\"1\" activation=\"relu\"/><upsample/><conv2d filters=\"1\" kernel=\"3\" stride=\"2\" padding=\"same\"/>",
      d: "<conv2d filters=\"2\" kernel=\"3\" stride=\"2\" padding=\"1\" dilation=\"1\" activation=\"leaky-relu\"/><batchnorm/><flatten/><dense units=\"1\"/>",
      data: "<data source=\"npy\" path=\"img.npy\"/>")),
  LossCase(name: "pack 2", spec: tinySpec(training: "pack=\"2\"")),
  LossCase(
    name: "R1 and R2 (double backward)",
    spec: tinySpec(training: "r1=\"3\" r2=\"2\"", d: "<dense units=\"4\" activation=\"tanh\"/><dense units=\"4\" activation=\"softplus\"/><dense units=\"1\"/>")),
  LossCase(
    name: "R1, lazily every 4 D updates (the regularized program)",
    spec: tinySpec(training: "r1=\"3\" regularize-every=\"4\"", d: "<dense units=\"4\" activation=\"tanh\"/><dense units=\"1\"/>")),
  LossCase(
    name: "average pooling, windowed and global",
    spec: tinySpec(
      g: "<dense units=\"16\" activation=\"tanh\"/><reshape shape=\"1 4 4\"/>",
      d: "<conv2d filters=\"2\" kernel=\"3\" padding=\"1\" activation=\"leaky-relu\"/><avgpool/><conv2d filters=\"3\" kernel=\"1\"/><avgpool global=\"true\"/><dense units=\"1\"/>",
      data: "<data source=\"npy\" path=\"img.npy\"/>")),
  // Gradients flow through sigma only (u and v are constants, as in
  // PyTorch); finite differences also see u and v move with W, which is
  // second order once the power iteration has converged: 40 iterations.
  LossCase(
    name: "spectral norm on dense and maxout (converged power iteration)",
    spec: tinySpec(
      g: "<dense units=\"4\" activation=\"tanh\" spectral-norm=\"true\" power-iterations=\"40\"/><dense units=\"2\" spectral-norm=\"true\" power-iterations=\"40\"/>",
      d: "<maxout units=\"3\" pieces=\"2\" spectral-norm=\"true\" power-iterations=\"40\"/><dense units=\"1\" spectral-norm=\"true\" power-iterations=\"40\"/>")),
  LossCase(
    name: "spectral norm on convolutions (converged power iteration)",
    spec: tinySpec(
      g:
        "<dense units=\"8\"/><reshape shape=\"2 2 2\"/><deconv2d filters=\"2\" kernel=\"3\" stride=\"2\" padding=\"1\" output-padding=\"1\" activation=\"relu\" spectral-norm=\"true\" power-iterations=\"40\"/><conv2d filters=\"1\" kernel=\"1\"/>",
      d: "<conv2d filters=\"2\" kernel=\"3\" stride=\"2\" padding=\"1\" activation=\"leaky-relu\" spectral-norm=\"true\" power-iterations=\"40\"/><flatten/><dense units=\"1\"/>",
      data: "<data source=\"npy\" path=\"img.npy\"/>")),
  LossCase(
    name: "DiffAugment: color, translation, cutout on both batches, with R1",
    spec: tinySpec(
      training: "diff-augment=\"color translation cutout\" r1=\"2\"",
      g: "<dense units=\"16\" activation=\"tanh\"/><reshape shape=\"1 4 4\"/>",
      d: "<conv2d filters=\"2\" kernel=\"3\" padding=\"1\" activation=\"tanh\"/><flatten/><dense units=\"1\"/>",
      data: "<data source=\"npy\" path=\"img.npy\"/>")),
  // (The gradient check feeds every parameter random values: gamma is not 0.)
  LossCase(
    name: "self-attention (batched products, softmax), with spectral norm",
    spec: tinySpec(
      g: "<dense units=\"32\" activation=\"tanh\"/><reshape shape=\"2 4 4\"/><attention reduction=\"2\"/><conv2d filters=\"1\" kernel=\"1\"/>",
      d:
        "<conv2d filters=\"4\" kernel=\"3\" padding=\"1\" activation=\"tanh\"/><attention spectral-norm=\"true\" power-iterations=\"40\" reduction=\"2\"/><flatten/><dense units=\"1\"/>",
      data: "<data source=\"npy\" path=\"img.npy\"/>")),
]

/// With SGD at lr 1, each parameter's update is its gradient: p' = p - dL/dp.
/// That gradient must match central differences of the step's loss output.
func checkStepGradients(_ program: Program, lossName: String, prefix: String, seed: UInt64) throws {
  let g = program.graph
  let base = feeds(for: g, seed: seed)
  let values = try ReferenceEvaluator(feeds: base, seed: 5).run(g)
  let updates = assigned(g, values)
  let loss = g.outputs.first { g.outputNames[$0] == lossName }!
  var checkedCount = 0
  for (name, value) in base.sorted(by: { $0.key < $1.key }) where name.hasPrefix(prefix) && updates[name] != nil && program.updates[name] != nil {
    let analytic = zip(value, updates[name]!).map { $0 - $1 }
    for i in stride(from: 0, to: value.count, by: max(1, value.count / 6)) {
      var plus = base, minus = base
      plus[name]![i] += 1e-6
      minus[name]![i] -= 1e-6
      let fp = try ReferenceEvaluator(feeds: plus, seed: 5).run(g)[loss][0]
      let fm = try ReferenceEvaluator(feeds: minus, seed: 5).run(g)[loss][0]
      let numeric = (fp - fm) / 2e-6
      #expect(abs(numeric - analytic[i]) <= 1e-5 * max(1, abs(numeric)), "\(program.name) \(name)[\(i)]: analytic \(analytic[i]), numeric \(numeric)")
      checkedCount += 1
    }
  }
  #expect(checkedCount > 0, "no parameters were checked in \(program.name)")
}

@Suite("Training graphs: every loss's gradients against finite differences")
struct LossGradientTests {
  @Test("the D-step's and G-step's gradients", arguments: lossCases)
  func gradients(_ c: LossCase) throws {
    let spec = try checked(c.spec, files: ["img.npy": npy([4, 1, 4, 4])])
    var builder = TrainingGraphBuilder(spec: spec)
    try checkStepGradients(try builder.discriminatorStep(), lossName: "d_loss", prefix: "discriminator.", seed: 11)
    try checkStepGradients(try builder.generatorStep(), lossName: "g_loss", prefix: "generator.", seed: 12)
  }

  @Test("the losses are the published formulas at a hand-computed point")
  func lossValues() throws {
    // D with one dense unit and no hidden layers: D(x) = w . x + b.
    for (loss, expectD, expectG) in [
      ("non-saturating", { (r: Double, f: Double) in log1p(exp(-r)) + log1p(exp(f)) }, { (f: Double) in log1p(exp(-f)) }),
      ("minimax", { (r: Double, f: Double) in log1p(exp(-r)) + log1p(exp(f)) }, { (f: Double) in -log1p(exp(f)) }),
      ("least-squares", { (r: Double, f: Double) in 0.5 * ((r - 1) * (r - 1) + f * f) }, { (f: Double) in 0.5 * (f - 1) * (f - 1) }),
      ("hinge", { (r: Double, f: Double) in max(0, 1 - r) + max(0, 1 + f) }, { (f: Double) in -f }),
      ("wasserstein", { (r: Double, f: Double) in f - r }, { (f: Double) in -f }),
    ] {
      let text = tinySpec(loss: loss, training: loss == "wasserstein" ? "clip=\"100\" batch=\"1\"" : "batch=\"1\"", g: "<dense units=\"2\"/>", d: "<dense units=\"1\"/>")
        .replacingOccurrences(of: "batch=\"3\" ", with: "")
      let spec = try checked(text)
      var builder = TrainingGraphBuilder(spec: spec)
      let dStep = try builder.discriminatorStep()
      let feedsD: [String: [Double]] = [
        "z": [0.1, 0.2, 0.3], "x": [0.5, -0.4],
        "generator.0.weight": [1, 0, 0, 0, 1, 0], "generator.0.bias": [0, 0],
        "discriminator.0.weight": [0.7, -0.3], "discriminator.0.bias": [0.1],
        "discriminator.lr": [1], "generator.lr": [1],
      ]
      let v = try ReferenceEvaluator(feeds: feedsD).run(dStep.graph)
      let r = 0.7 * 0.5 + 0.3 * 0.4 + 0.1, f = 0.7 * 0.1 - 0.3 * 0.2 + 0.1
      let dLoss = v[dStep.graph.outputs[0]][0]
      #expect(abs(dLoss - expectD(r, f)) < 1e-12, "\(loss): D loss \(dLoss), expected \(expectD(r, f))")
      let gStep = try builder.generatorStep()
      let gv = try ReferenceEvaluator(feeds: feedsD).run(gStep.graph)
      #expect(abs(gv[gStep.graph.outputs[0]][0] - expectG(f)) < 1e-12, "\(loss): G loss")
    }
  }

  @Test("R1 of a linear D is gamma/2 |w|^2; lazily, the regularized program adds k times it and the plain one none")
  func r1Value() throws {
    for (extra, k) in [("r1=\"3\"", 1.0), ("r1=\"3\" regularize-every=\"4\"", 4.0)] {
      let spec = try checked(tinySpec(training: extra, d: "<dense units=\"1\"/>"))
      var builder = TrainingGraphBuilder(spec: spec)
      let programs = try Compiler.compile(spec).programs
      let regularized = try #require(programs.first { $0.kind == (k > 1 ? .regularizedDiscriminatorStep : .discriminatorStep) })
      var plainBuilder = TrainingGraphBuilder(spec: try checked(tinySpec(d: "<dense units=\"1\"/>")))
      let plain = try plainBuilder.discriminatorStep()
      _ = try builder.generatorStep()
      let feeds = ganFeeds(plain.graph)
      let with = try ReferenceEvaluator(feeds: feeds).run(regularized.graph)[regularized.graph.outputs[0]][0]
      let without = try ReferenceEvaluator(feeds: feeds).run(plain.graph)[plain.graph.outputs[0]][0]
      let w = feeds["discriminator.0.weight"]!
      let expected = 3 * k / 2 * w.reduce(0) { $0 + $1 * $1 }
      #expect(abs((with - without) - expected) < 1e-12, "penalty \(with - without), expected \(expected)")
      if k > 1 {
        let lazyPlain = try #require(programs.first { $0.kind == .discriminatorStep })
        let v = try ReferenceEvaluator(feeds: feeds).run(lazyPlain.graph)[lazyPlain.graph.outputs[0]][0]
        #expect(abs(v - without) < 1e-12, "the plain D-step of a lazy run has no penalty")
      }
    }
  }

  /// Seeded feeds with the learning rates at 1.
  func ganFeeds(_ g: Graph) -> [String: [Double]] { feeds(for: g, seed: 9) }

  @Test("Adam's update matches PyTorch's formula")
  func adam() throws {
    let spec = try checked(tinySpec(optimizer: "kind=\"adam\" lr=\"0.01\" beta1=\"0.8\" beta2=\"0.9\" epsilon=\"1e-3\" weight-decay=\"0.1\""))
    var builder = TrainingGraphBuilder(spec: spec)
    let d = try builder.discriminatorStep()
    var base = feeds(for: d.graph, seed: 3)
    base["discriminator.lr"] = [0.01]
    let values = try ReferenceEvaluator(feeds: base).run(d.graph)
    let updates = assigned(d.graph, values)
    // The gradient, from an SGD twin of the same spec.
    let sgd = try checked(tinySpec())
    var twin = TrainingGraphBuilder(spec: sgd)
    let s = try twin.discriminatorStep()
    var sgdFeeds = base
    sgdFeeds["discriminator.lr"] = [1]
    let sgdUpdates = assigned(s.graph, try ReferenceEvaluator(feeds: sgdFeeds).run(s.graph))
    let name = "discriminator.1.weight"
    for i in 0..<base[name]!.count {
      let p = base[name]![i]
      let grad = (p - sgdUpdates[name]![i]) + 0.1 * p
      let m = 0.8 * base[name + ".exp_avg"]![i] + 0.2 * grad
      let v = 0.9 * base[name + ".exp_avg_sq"]![i] + 0.1 * grad * grad
      let expected = p - 0.01 * (m * 1.5) / ((v * 1.5).squareRoot() + 1e-3)
      #expect(abs(updates[name]![i] - expected) < 1e-12)
      #expect(abs(updates[name + ".exp_avg"]![i] - m) < 1e-12)
    }
  }
}

/// An IDX image file (N x 4 x 4) and its labels.
func idx(count: Int, classes: Int) -> (Data, Data) {
  var images = Data([0, 0, 8, 3, 0, 0, 0, UInt8(count), 0, 0, 0, 4, 0, 0, 0, 4])
  images += Data((0..<(count * 16)).map { UInt8(truncatingIfNeeded: $0 * 37) })
  var labels = Data([0, 0, 8, 1, 0, 0, 0, UInt8(count)])
  labels += Data((0..<count).map { UInt8($0 % classes) })
  return (images, labels)
}

@Suite("Conditional GANs")
struct ConditionalTests {
  static let spec = """
    <gan name="cond" version="1">
      <data source="idx" images="img.idx" labels="lab.idx"/>
      <latent size="3"/>
      <generator>
        <embedding classes="3" dim="2" id="e"/>
        <concat inputs="z e"/>
        <dense units="16" activation="tanh"/>
        <reshape shape="1 4 4"/>
      </generator>
      <discriminator>
        <flatten id="f"/>
        <embedding classes="3" dim="2" id="e"/>
        <concat inputs="f e"/>
        <dense units="4" activation="leaky-relu"/>
        <dense units="1"/>
      </discriminator>
      <training steps="1" batch="3" conditional="true">
        <optimizer net="generator" kind="sgd" lr="1"/>
        <optimizer net="discriminator" kind="sgd" lr="1"/>
      </training>
    </gan>
    """

  @Test("conditional batch norm: a scale and shift per class, gradients against finite differences")
  func conditionalBatchNorm() throws {
    let (images, labels) = idx(count: 6, classes: 3)
    let text = Self.spec.replacingOccurrences(
      of: "<embedding classes=\"3\" dim=\"2\" id=\"e\"/>\n    <concat inputs=\"z e\"/>\n    <dense units=\"16\" activation=\"tanh\"/>",
      with: "<dense units=\"16\" bias=\"false\"/><batchnorm classes=\"3\"/><activation kind=\"tanh\"/>")
    #expect(text != Self.spec)
    var builder = TrainingGraphBuilder(spec: try checked(text, files: ["img.idx": images, "lab.idx": labels]))
    let g = try builder.generatorStep()
    try checkStepGradients(g, lossName: "g_loss", prefix: "generator.", seed: 8)
    try checkStepGradients(try builder.discriminatorStep(), lossName: "d_loss", prefix: "discriminator.", seed: 9)
    // The tables are classes x channels and learn; the running statistics are written back.
    let values = try ReferenceEvaluator(feeds: feeds(for: g.graph, seed: 8)).run(g.graph)
    let updated = assigned(g.graph, values)
    #expect(updated["generator.1.weight"]?.count == 3 * 16)
    #expect(updated["generator.1.running_mean"]?.count == 16)
  }

  @Test("R1 on a discriminator that reads only the label is a located error; a projection D without labels too")
  func penaltyNeedsInput() throws {
    let (images, labels) = idx(count: 6, classes: 3)
    let labelOnly = Self.spec.replacingOccurrences(of: "<training steps=\"1\"", with: "<training r1=\"10\" steps=\"1\"")
      .replacingOccurrences(of: "<flatten id=\"f\"/>\n    <embedding classes=\"3\" dim=\"2\" id=\"e\"/>\n    <concat inputs=\"f e\"/>", with: "<embedding classes=\"3\" dim=\"2\"/>")
    #expect(labelOnly.contains("r1=") && !labelOnly.contains("concat inputs=\"f e\""))
    #expect(throws: (any Error).self) { try checked(labelOnly, files: ["img.idx": images, "lab.idx": labels]) }
    do { _ = try checked(labelOnly, files: ["img.idx": images, "lab.idx": labels]) } catch { #expect("\(error)".contains("GAN0502")) }
    // A projection discriminator on data without labels: its embedding has no label to read.
    let unlabelled = Self.spec.replacingOccurrences(of: " labels=\"lab.idx\"", with: "").replacingOccurrences(of: " conditional=\"true\"", with: "")
      .replacingOccurrences(of: "<embedding classes=\"3\" dim=\"2\" id=\"e\"/>\n    <concat inputs=\"z e\"/>", with: "")
    #expect(throws: (any Error).self) { try checked(unlabelled, files: ["img.idx": images]) }
    do { _ = try checked(unlabelled, files: ["img.idx": images]) } catch { #expect("\(error)".contains("GAN0208")) }
  }

  @Test("labels flow through embeddings, and the gradients are right")
  func conditional() throws {
    let (images, labels) = idx(count: 6, classes: 3)
    let spec = try checked(Self.spec, files: ["img.idx": images, "lab.idx": labels])
    var builder = TrainingGraphBuilder(spec: spec)
    let d = try builder.discriminatorStep()
    #expect(d.inputs.map(\.name).contains("label"))
    #expect(d.inputs.map(\.name).contains("generated_label"))
    try checkStepGradients(d, lossName: "d_loss", prefix: "discriminator.", seed: 4)
    try checkStepGradients(try builder.generatorStep(), lossName: "g_loss", prefix: "generator.", seed: 5)
    // A projection discriminator (Miyato and Koyama 2018): psi(phi(x)) + <embed(y), phi(x)>.
    var projection = Self.spec
    let body = try #require(projection.range(of: "<discriminator>")?.upperBound), end = try #require(projection.range(of: "</discriminator>")?.lowerBound)
    projection.replaceSubrange(
      body..<end,
      with:
        "<flatten/><dense units=\"4\" activation=\"leaky-relu\" id=\"phi\"/><dense units=\"1\" id=\"psi\"/><embedding classes=\"3\" dim=\"4\" id=\"e\"/><dot inputs=\"e phi\" id=\"p\"/><add inputs=\"psi p\"/>"
    )
    #expect(projection != Self.spec)
    var projected = TrainingGraphBuilder(spec: try checked(projection, files: ["img.idx": images, "lab.idx": labels]))
    try checkStepGradients(try projected.discriminatorStep(), lossName: "d_loss", prefix: "discriminator.", seed: 6)
    try checkStepGradients(try projected.generatorStep(), lossName: "g_loss", prefix: "generator.", seed: 7)
    // The embedding tables get gradients too.
    let values = try ReferenceEvaluator(feeds: feeds(for: d.graph, seed: 4)).run(d.graph)
    #expect(assigned(d.graph, values)["discriminator.1.weight"] != nil)
  }
}
