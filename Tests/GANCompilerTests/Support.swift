import Foundation
import GANTestSupport
import GANDiagnostics
import GANIR
import GANTrainer
import Testing
@testable import GANCompiler
@testable import GANSpec

/// Lints `text` (written to a fresh folder with `files`) and returns the checked spec.
func checked(_ text: String, files: [String: Data] = [:]) throws -> CheckedSpec {
  let folder = temporaryFolder()
  for (name, data) in files { try data.write(to: folder.appendingPathComponent(name)) }
  let path = folder.appendingPathComponent("spec.xml").path
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  let result = Linter.lint(path, sources: SourceStore())
  guard let c = result.checked else {
    throw IRError("spec does not lint: \(result.diagnostics.map { "\($0.id.rawValue) \($0.message)" })\n\(text)")
  }
  return c
}

/// A .npy file of float32 zeros with the given shape.
func npy(_ shape: [Int]) -> Data { NPYWriter.encode([Float](repeating: 0, count: shape.reduce(1, *)), shape: shape) }

/// Seeded values for every input and persistent tensor a graph reads.
func feeds(for g: Graph, seed: UInt64) -> [String: [Double]] {
  var out: [String: [Double]] = [:]
  var state = seed
  func next() -> Double {
    state &+= 1
    return Double(CounterRandom.mix(state) >> 11) * 0x1p-53
  }
  for node in g.nodes {
    switch node.op {
    case .input(let name), .parameter(let name):
      guard out[name] == nil else { continue }
      let n = node.elementCount
      if name == "label_targets" {
        // One-hot rows; the last row unlabelled (all zero), as in a semi-supervised batch.
        let (rows, width) = (node.shape[0], node.shape[1])
        out[name] = (0..<n).map { i in i / width < rows - 1 && i % width == (i / width) % width ? 1 : 0 }
      } else if name.hasSuffix("label") {
        out[name] = (0..<n).map { _ in Double(Int(next() * 3)) }
      } else if name.hasSuffix(".lr") {
        out[name] = [1]
      } else if name.hasSuffix("bias1") || name.hasSuffix("bias2") {
        out[name] = [1.5]
      } else if name.hasSuffix("running_var") || name.hasSuffix("exp_avg_sq") || name.hasSuffix("square_avg") {
        out[name] = (0..<n).map { _ in 0.5 + next() }
      } else {
        out[name] = (0..<n).map { _ in (next() - 0.5) * 1.2 }
      }
    default: break
    }
  }
  return out
}

/// Values assigned to persistent tensors, by name.
func assigned(_ g: Graph, _ values: [[Double]]) -> [String: [Double]] {
  var out: [String: [Double]] = [:]
  for (i, n) in g.nodes.enumerated() { if case .assign(let name) = n.op { out[name] = values[i] } }
  return out
}

/// A small spec with the given pieces.
func tinySpec(
  loss: String = "non-saturating", training extra: String = "", g: String? = nil, d: String? = nil,
  optimizer: String = "kind=\"sgd\" lr=\"1\"", data: String = "<data source=\"ring\"/>"
) -> String {
  """
  <gan name="tiny" version="1">
    \(data)
    <latent size="3"/>
    <generator>
      \(g ?? "<dense units=\"5\" activation=\"tanh\"/><dense units=\"2\"/>")
    </generator>
    <discriminator>
      \(d ?? "<dense units=\"4\" activation=\"leaky-relu\"/><dense units=\"1\"/>")
    </discriminator>
    <training steps="1" batch="3" loss="\(loss)" \(extra)>
      <optimizer net="generator" \(optimizer)/>
      <optimizer net="discriminator" \(optimizer)/>
    </training>
  </gan>
  """
}
