import Foundation
import GANCompiler
import GANIR
import GANRuntime

/// `ganc train --trace DIR`: everything a run draws, written so that an
/// independent implementation (the PyTorch parity harness in
/// `Benchmarks/parity/`) can replay the run exactly.
///
/// The folder holds, as safetensors files:
/// - `checkpoint-000000.safetensors`: the state before the first update (as
///   `checkpoint.safetensors`, with optimizer moments and running statistics);
/// - `step-NNNNNN-d-K.safetensors` and `step-NNNNNN-g.safetensors`: for the
///   K-th D-step and the G-step of step N (from 1), every value fed to the
///   program (`z`, `x`, `label`, `generated_label`, learning rates, Adam's bias
///   corrections), the uniform numbers of each random stream it draws
///   (`random.S`: dropout masks keep a unit where `u - rate > 0`; stream 1000 is
///   the gradient penalty's interpolation weights) and the losses it reported;
/// - `checkpoint-NNNNNN.safetensors` after steps 1, 10, 100, 1000, ... and the last.
struct Tracer {
  let folder: String

  init(folder: String) throws {
    self.folder = folder
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw DataError("cannot create the trace folder \(folder): \(error.localizedDescription)")
    }
  }

  /// Whether the state after `step` is kept: 1, 10, 100, ... and the last step.
  static func keepsCheckpoint(after step: Int, of steps: Int) -> Bool {
    if step == steps { return true }
    var p = 1
    while p < step { p *= 10 }
    return p == step
  }

  func checkpointPath(_ step: Int) -> String { folder + String(format: "/checkpoint-%06d.safetensors", step) }

  /// The fed inputs of `program` as they are now (read before the run: the
  /// planner may reuse an input's memory once the program no longer needs it).
  func capture(_ program: BoundProgram) -> [(name: String, shape: [Int], values: [Float])] {
    program.inputs.map { ($0.input.name, $0.input.shape, Array($0.buffer)) }
  }

  /// The uniform numbers each random op of `program` draws in the run `random`.
  func randomStreams(_ program: Program, random: RunRandom) -> [(name: String, shape: [Int], values: [Float])] {
    program.graph.nodes.compactMap { node in
      guard case .random(let stream) = node.op else { return nil }
      let values = (0..<node.elementCount).map { Float(random.uniform(stream, $0)) }
      return ("random.\(stream)", node.shape, values)
    }
  }

  func write(step: Int, label: String, tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String]) throws {
    let path = folder + String(format: "/step-%06d-%@.safetensors", step, label)
    try Checkpoint(tensors: tensors, metadata: metadata).write(to: path)
  }
}
