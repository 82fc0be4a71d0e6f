import CKernels
import Foundation
import GANCompiler
import GANIR

/// Seeded random numbers for initialisation and data: counter-based, so
/// tensor `k`'s values do not depend on how many other tensors exist.
public struct SeededStream {
  public let seed: UInt64
  public let stream: Int
  public init(seed: UInt64, stream: Int) {
    self.seed = seed
    self.stream = stream
  }

  public init(seed: UInt64, _ stream: RandomStream) { self.init(seed: seed, stream: stream.id) }

  @inline(__always)
  public func uniform(_ index: Int) -> Double { CounterRandom.uniform(seed: seed, stream: stream, index: index) }

  /// A standard normal number: Box-Muller over uniforms 2i and 2i+1, in
  /// float (within 1e-6 of the same formula in double; see ganc_normal_fill).
  @inline(__always)
  public func normal(_ index: Int) -> Double {
    Double(ganc_normal_at(Int64(index), seed, Int64(stream)))
  }

  /// Numbers first..<first+count of `normal`, vectorised (about 1.4 ns
  /// each on one AVX-512 core; the double formula through libm took ~25).
  public func fillNormal(_ buffer: UnsafeMutableBufferPointer<Float>, first: Int = 0) {
    guard let base = buffer.baseAddress else { return }
    ganc_normal_fill(base, Int64(first), Int64(buffer.count), seed, Int64(stream))
  }
}

extension Runtime {
  /// Fills every persistent tensor as its `ParameterInfo` says (weights by
  /// PyTorch's schemes, optimizer state with zeros, running variance with ones).
  public func initializeParameters(seed: UInt64) {
    for (k, info) in persistentInfo.enumerated() {
      guard let buffer = persistent(info.name) else { continue }
      let random = SeededStream(seed: seed, .init(.initialization, k))
      switch info.initialization {
      case .constant(let c):
        buffer.update(repeating: Float(c))
      case .uniform(let bound):
        for i in 0..<buffer.count { buffer[i] = Float((random.uniform(i) * 2 - 1) * bound) }
      case .normal(let std):
        for i in 0..<buffer.count { buffer[i] = Float(random.normal(i) * std) }
      case .unitNormal:
        let values = (0..<buffer.count).map { random.normal($0) }
        let norm = max(values.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        for i in 0..<buffer.count { buffer[i] = Float(values[i] / norm) }
      }
    }
    // EMA weights start equal to the generator's.
    for info in persistentInfo {
      if case .average(let of) = info.role, let target = persistent(info.name), let source = persistent(of) {
        _ = target.update(fromContentsOf: source)
      }
    }
  }
}
