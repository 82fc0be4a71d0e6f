import Foundation
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

/// A classifier spec over the 4x4 IDX images of `idx(count:classes:)`.
func classifierSpec(network: String = "<flatten/><dense units=\"4\" activation=\"tanh\"/><dense units=\"3\"/>", training: String = "", data: String = "") -> String {
  """
  <classifier name="judge" version="1">
    <data source="idx" images="img.idx" labels="lab.idx" \(data)/>
    <network>\(network)</network>
    <training steps="1" batch="3" \(training)>
      <optimizer net="classifier" kind="sgd" lr="1"/>
    </training>
  </classifier>
  """
}

/// A semi-supervised GAN over the same images: D has 3 class logits and "generated".
func semiSupervisedSpec(d: String = "<flatten/><dense units=\"5\" activation=\"tanh\" id=\"features\"/><dense units=\"4\"/>", training: String = "") -> String {
  """
  <gan name="ss" version="1">
    <data source="idx" images="img.idx" labels="lab.idx" labels-per-class="1"/>
    <latent size="3"/>
    <generator><dense units="16" activation="tanh"/><reshape shape="1 4 4"/></generator>
    <discriminator>\(d)</discriminator>
    <training steps="1" batch="3" loss="semi-supervised" \(training)>
      <optimizer net="generator" kind="sgd" lr="1"/>
      <optimizer net="discriminator" kind="sgd" lr="1"/>
    </training>
  </gan>
  """
}

@Suite("Classifiers and semi-supervised GANs: losses and gradients")
struct ClassifierGraphTests {
  var files: [String: Data] {
    let (images, labels) = idx(count: 6, classes: 3)
    return ["img.idx": images, "lab.idx": labels]
  }

  @Test("the classifier step's gradients against finite differences")
  func classifierGradients() throws {
    var builder = TrainingGraphBuilder(spec: try checked(classifierSpec(), files: files))
    try checkStepGradients(try builder.classifierStep(), lossName: "loss", prefix: "classifier.", seed: 21)
  }

  @Test("the semi-supervised D-step and the feature-matching G-step against finite differences")
  func semiSupervisedGradients() throws {
    for training in ["", "feature-matching=\"features\""] {
      var builder = TrainingGraphBuilder(spec: try checked(semiSupervisedSpec(training: training), files: files))
      try checkStepGradients(try builder.discriminatorStep(), lossName: "d_loss", prefix: "discriminator.", seed: 22)
      try checkStepGradients(try builder.generatorStep(), lossName: "g_loss", prefix: "generator.", seed: 23)
    }
  }

  /// log(sum(exp(v))), computed directly.
  func lse(_ v: [Double]) -> Double { log(v.map(exp).reduce(0, +)) }

  @Test("cross-entropy is -log softmax of the labelled class, averaged over labelled rows")
  func crossEntropyValue() throws {
    let spec = try checked(classifierSpec(network: "<flatten/><dense units=\"3\"/>", training: "batch=\"2\"").replacingOccurrences(of: "batch=\"3\" ", with: ""), files: files)
    var builder = TrainingGraphBuilder(spec: spec)
    let step = try builder.classifierStep()
    let w = (0..<48).map { Double($0 % 7) * 0.05 - 0.15 }, b = [0.1, -0.2, 0.3]
    let x = (0..<32).map { Double($0 % 5) * 0.2 - 0.4 }
    let targets: [Double] = [0, 1, 0, 1, 0, 0]
    let v = try ReferenceEvaluator(feeds: ["x": x, "label_targets": targets, "classifier.1.weight": w, "classifier.1.bias": b, "classifier.lr": [1]]).run(step.graph)
    var expected = 0.0
    for (row, label) in [(0, 1), (1, 0)] {
      var logits = b
      for k in 0..<3 { for j in 0..<16 { logits[k] += w[k * 16 + j] * x[row * 16 + j] } }
      expected += lse(logits) - logits[label]
    }
    expected /= 2
    let loss = v[step.graph.outputs[0]][0]
    #expect(abs(loss - expected) < 1e-12, "loss \(loss), expected \(expected)")
  }

  @Test("the semi-supervised D loss: softplus(-s) on unlabelled real, softplus(s) on generated, plus cross-entropy; s = lse(classes) - generated")
  func semiSupervisedValue() throws {
    let spec = try checked(
      semiSupervisedSpec(d: "<flatten/><dense units=\"4\"/>", training: "batch=\"1\"").replacingOccurrences(of: "batch=\"3\" ", with: ""), files: files)
    var builder = TrainingGraphBuilder(spec: spec)
    let d = try builder.discriminatorStep()
    let w = (0..<64).map { Double($0 % 9) * 0.03 - 0.1 }, b = [0.1, -0.2, 0.3, 0.05]
    let z = [0.2, -0.1, 0.4]
    let gw = (0..<48).map { Double($0 % 4) * 0.1 - 0.15 }, gb = [Double](repeating: 0.01, count: 16)
    let x = (0..<16).map { Double($0 % 3) * 0.3 - 0.3 }, xl = (0..<16).map { Double($0 % 5) * 0.1 }
    var feeds: [String: [Double]] = ["z": z, "x": x, "x_labelled": xl, "label_targets": [0, 0, 1, 0]]
    feeds["generator.0.weight"] = gw
    feeds["generator.0.bias"] = gb
    feeds["discriminator.1.weight"] = w
    feeds["discriminator.1.bias"] = b
    feeds["discriminator.lr"] = [1]
    feeds["generator.lr"] = [1]
    let v = try ReferenceEvaluator(feeds: feeds).run(d.graph)
    func logits(_ input: [Double]) -> [Double] {
      var out = b
      for k in 0..<4 { for j in 0..<16 { out[k] += w[k * 16 + j] * input[j] } }
      return out
    }
    var fake = gb
    for j in 0..<16 {
      for i in 0..<3 { fake[j] += gw[j * 3 + i] * z[i] }
      fake[j] = tanh(fake[j])
    }
    func s(_ l: [Double]) -> Double { lse(Array(l.prefix(3))) - l[3] }
    func softplus(_ t: Double) -> Double { log1p(exp(t)) }
    let lab = logits(xl)
    let expected = softplus(-s(logits(x))) + softplus(s(logits(fake))) + (lse(lab) - lab[2])
    let loss = v[d.graph.outputs[0]][0]
    #expect(abs(loss - expected) < 1e-12, "D loss \(loss), expected \(expected)")
  }
}
