import CDNNL
import CKernels
import Foundation
import GANCompiler
import GANIR

/// A failure to set up or run a compiled program.
public struct RuntimeError: Error, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

extension Runtime {
  /// This machine's single-precision matrix product speed in GFLOP/s, measured
  /// with the same oneDNN primitive the runtime runs products on (a 1024^3
  /// product, best of eight), on the threads oneDNN was last given.
  public static func sgemmPeak() -> Double {
    let n = 1024
    guard let op = try? DNNLPrimitive(matmul: n, n, n, transposeA: false, transposeB: false, epilogue: nil) else { return .nan }
    let count = n * n
    let a = UnsafeMutablePointer<Float>.allocate(capacity: 3 * count)
    defer { a.deallocate() }
    a.initialize(repeating: 0.5, count: 3 * count)
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(op.scratchBytes, 64), alignment: 64)
    defer { scratch.deallocate() }
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<8 {
      let t = clock.measure { try? op.execute(a, a + count, bias: nil, out: a + 2 * count, scratch: scratch, program: "sgemm peak") }
      best = min(best, Double(t.components.seconds) + Double(t.components.attoseconds) * 1e-18)
    }
    return 2 * Double(count) * Double(n) / best / 1e9
  }
}

/// One oneDNN primitive (a matmul or one direction of a convolution, with its
/// fused epilogue), owned here and destroyed when the last step using it goes.
/// Every C call of CDNNL that can fail goes through this class, and its
/// failures become `RuntimeError`s in one place (`made` and `execute`).
final class DNNLPrimitive: @unchecked Sendable {
  let handle: OpaquePointer
  /// oneDNN's implementation name (for reports).
  let implementation: String
  /// Scratchpad bytes each call needs.
  let scratchBytes: Int

  /// Wraps what a `ganc_*_create` call returned, or throws the message it wrote.
  private init(made: OpaquePointer?, error: [CChar]) throws {
    guard let made else {
      throw RuntimeError("oneDNN: " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    handle = made
    implementation = String(cString: ganc_op_implementation(made))
    scratchBytes = ganc_op_scratch_size(made)
  }

  /// C[M,N] = op(A) op(B), with an optional bias-and-activation epilogue;
  /// `batch` such products at once (no epilogue) when batch > 0.
  convenience init(matmul m: Int, _ n: Int, _ k: Int, batch: Int = 0, transposeA: Bool, transposeB: Bool, epilogue: ganc_epilogue?) throws {
    var error = [CChar](repeating: 0, count: 256)
    let made = withUnsafePointer(to: epilogue ?? ganc_epilogue()) { e in
      ganc_matmul_create(Int64(batch), Int64(m), Int64(n), Int64(k), transposeA ? 1 : 0, transposeB ? 1 : 0, epilogue == nil ? nil : e, &error, 256)
    }
    try self.init(made: made, error: error)
  }

  /// One direction of a convolution of `shape`.
  convenience init(conv kind: ganc_conv_kind, shape: ganc_conv_shape, epilogue: ganc_epilogue?) throws {
    var error = [CChar](repeating: 0, count: 256)
    var s = shape
    let made = withUnsafePointer(to: epilogue ?? ganc_epilogue()) { e in
      ganc_conv_create(kind, &s, epilogue == nil ? nil : e, &error, 256)
    }
    try self.init(made: made, error: error)
  }

  deinit { ganc_op_destroy(handle) }

  /// Runs the primitive; `scratch` holds at least `scratchBytes`.
  @inline(__always)
  func execute(
    _ a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?, out: UnsafeMutablePointer<Float>,
    scratch: UnsafeMutableRawPointer, program: String
  ) throws {
    guard ganc_op_execute(handle, a, b, bias, out, scratch) == 0 else { throw RuntimeError("oneDNN failed in \(program)") }
  }
}

extension Runtime {
  /// C[m, n] = A[m, k] B[n, k]^T through oneDNN (the Gram matrices of the
  /// evaluation metrics), on the threads oneDNN was last given.
  public static func productTransposed(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) throws -> [Float] {
    precondition(a.count == m * k && b.count == n * k, "product: operands of the wrong size")
    let op = try DNNLPrimitive(matmul: m, n, k, transposeA: false, transposeB: true, epilogue: nil)
    var out = [Float](repeating: 0, count: m * n)
    var left = a, right = b
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(op.scratchBytes, 64), alignment: 64)
    defer { scratch.deallocate() }
    try left.withUnsafeMutableBufferPointer { pa in
      try right.withUnsafeMutableBufferPointer { pb in
        try out.withUnsafeMutableBufferPointer { po in
          try op.execute(pa.baseAddress!, pb.baseAddress!, bias: nil, out: po.baseAddress!, scratch: scratch, program: "metrics")
        }
      }
    }
    return out
  }
}
