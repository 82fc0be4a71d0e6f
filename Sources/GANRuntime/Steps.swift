import CDNNL
import CKernels
import GANCompiler
import GANIR

/// One kernel call with its pointers fixed at build time.
enum Step {
  /// A oneDNN product; its epilogue runs inside oneDNN (bias, post-op) or after it as our kernel.
  case product(
    op: DNNLPrimitive, a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
    out: UnsafeMutablePointer<Float>, epilogue: ElementwiseKernel?)
  case elementwise(ElementwiseKernel)
  /// A fused kernel that holds a parameter's whole optimizer update (see OptimizerKernel).
  case optimizer(OptimizerKernel)
  case reduce(ReduceKernel)
  case broadcast(UnsafeMutablePointer<Float>, from: [Int], to: [Int], UnsafeMutablePointer<Float>)
  case fill(UnsafeMutablePointer<Float>, count: Int, value: Float)
  case random(UnsafeMutablePointer<Float>, count: Int, stream: Int)
  case block(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, small: [Int], large: [Int], axis: Int, offset: Int, intoLarge: Bool, zeroFirst: Int)
  case gather(table: UnsafeMutablePointer<Float>, ids: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, count: Int)
  case scatterAdd(UnsafeMutablePointer<Float>, ids: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, count: Int)
  case copy(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, count: Int)
  /// The input copied, then summed over the ranks in place (`Runtime.allReduce`).
  case allReduce(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, count: Int)
  /// A matmul with at most `Runtime.narrowColumns` output columns, on our own loops.
  case narrowMatmul(
    a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
    NarrowProduct, epilogue: ElementwiseKernel?)
  /// An [N C H W] tensor between NCHW and nChw16c.
  case convert(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, n: Int, c: Int, hw: Int, toBlocked: Bool)
  /// Per-channel sums or maxima of an nChw16c tensor.
  case channelReduce(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, n: Int, c: Int, hw: Int, isMax: Bool)
}

/// C[M,N] = op(A) op(B) with N <= `Runtime.narrowColumns`, for our own loops.
struct NarrowProduct {
  var m, n, k: Int
  var transA, transB: Bool
}

/// A program bound to the arena: a flat list of kernel calls, and its
/// inputs and outputs resolved once to buffers (no lookup per step).
public final class BoundProgram: @unchecked Sendable {
  public let kind: ProgramKind
  let steps: [Step]
  /// The node each step came from (for profiles).
  let nodes: [Node?]
  /// What the program reads, each with the buffer to fill before a run; an
  /// input the passes removed as unread is not listed.
  public let inputs: [(input: ProgramInput, buffer: UnsafeMutableBufferPointer<Float>)]
  /// What it reports, by output name.
  public let outputs: [String: UnsafeMutableBufferPointer<Float>]

  /// Every input node's buffer by name, declared or not (hand-built programs).
  let inputsByName: [String: UnsafeMutableBufferPointer<Float>]

  init(
    kind: ProgramKind, steps: [Step], nodes: [Node?], inputs: [(input: ProgramInput, buffer: UnsafeMutableBufferPointer<Float>)],
    inputsByName: [String: UnsafeMutableBufferPointer<Float>], outputs: [String: UnsafeMutableBufferPointer<Float>]
  ) {
    self.kind = kind
    self.steps = steps
    self.nodes = nodes
    self.inputs = inputs
    self.inputsByName = inputsByName
    self.outputs = outputs
  }

  /// The buffer of the input named `name` (as in the IR), if the program reads it.
  public func input(_ name: String) -> UnsafeMutableBufferPointer<Float>? { inputsByName[name] }
}
