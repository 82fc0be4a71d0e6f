import Foundation
import GANIR

/// How one operand of an elementwise kernel is read.
enum LoadPattern {
  /// The same shape as the output: read in place.
  case contiguous
  /// One value for every element.
  case scalar
  /// Repeated along size-1 axes: element i reads offset sum(index_d * stride_d).
  case broadcast(strides: [Int])
}

/// An elementwise program (a fused kernel's epilogue, or a whole kernel)
/// run over tiles of the output, one instruction at a time across the tile,
/// so each instruction is a simple loop the compiler vectorises.
struct ElementwiseKernel {
  static let tile = 512

  var code: [Instruction]
  var operands: [UnsafeMutablePointer<Float>]
  var patterns: [LoadPattern]
  var output: UnsafeMutablePointer<Float>
  var shape: [Int]
  var count: Int

  init(code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]], output: UnsafeMutablePointer<Float>, shape: [Int]) {
    self.code = code
    self.operands = operands
    self.output = output
    self.shape = shape
    count = shape.reduce(1, *)
    patterns = operandShapes.map { s in
      if s == shape { return .contiguous }
      if s.reduce(1, *) == 1 { return .scalar }
      var strides = [Int](repeating: 0, count: shape.count)
      var step = 1
      for d in (0..<s.count).reversed() {
        strides[d] = s[d] == 1 ? 0 : step
        step *= s[d]
      }
      return .broadcast(strides: strides)
    }
  }

  /// Registers a thread needs (tile floats each).
  var registerCount: Int { code.count }

  /// Runs elements `range` using `scratch` (registerCount * tile floats).
  func run(_ range: Range<Int>, scratch: UnsafeMutablePointer<Float>) {
    let tile = Self.tile
    var regs = [UnsafePointer<Float>](repeating: UnsafePointer(scratch), count: code.count)
    var constants = [Float?](repeating: nil, count: code.count)
    var start = range.lowerBound
    while start < range.upperBound {
      let n = min(tile, range.upperBound - start)
      for (r, instruction) in code.enumerated() {
        let last = r == code.count - 1
        let dst = last ? output + start : scratch + r * tile
        switch instruction {
        case .head:
          regs[r] = UnsafePointer(output + start)
          if last { continue }
        case .constant(let c):
          constants[r] = Float(c)
          dst.update(repeating: Float(c), count: n)
          regs[r] = UnsafePointer(dst)
        case .load(let j):
          switch patterns[j] {
          case .contiguous:
            if last { dst.update(from: operands[j] + start, count: n) }
            regs[r] = UnsafePointer(operands[j] + start)
          case .scalar:
            constants[r] = operands[j][0]
            dst.update(repeating: operands[j][0], count: n)
            regs[r] = UnsafePointer(dst)
          case .broadcast(let strides):
            gather(j, strides: strides, start: start, n: n, into: dst)
            regs[r] = UnsafePointer(dst)
          }
        case .unary(let f, let a):
          Self.unary(f, regs[a], dst, n)
          regs[r] = UnsafePointer(dst)
        case .binary(let f, let a, let b):
          if let c = constants[b] {
            Self.binaryScalar(f, regs[a], c, dst, n)
          } else if let c = constants[a] {
            Self.scalarBinary(f, c, regs[b], dst, n)
          } else {
            Self.binary(f, regs[a], regs[b], dst, n)
          }
          regs[r] = UnsafePointer(dst)
        }
      }
      start += n
    }
  }

  /// Reads a broadcast operand for output elements start..<start+n.
  private func gather(_ j: Int, strides: [Int], start: Int, n: Int, into dst: UnsafeMutablePointer<Float>) {
    let rank = shape.count
    var index = [Int](repeating: 0, count: rank)
    var rest = start
    for d in stride(from: rank - 1, through: 0, by: -1) {
      index[d] = rest % shape[d]
      rest /= shape[d]
    }
    var offset = 0
    for d in 0..<rank { offset += index[d] * strides[d] }
    let src = operands[j]
    let innerStride = strides[rank - 1], innerSize = shape[rank - 1]
    var k = 0
    while k < n {
      // Run along the innermost axis, then carry.
      let run = min(innerSize - index[rank - 1], n - k)
      if innerStride == 0 {
        dst.advanced(by: k).update(repeating: src[offset], count: run)
      } else {
        for t in 0..<run { dst[k + t] = src[offset + t * innerStride] }
      }
      k += run
      offset += run * innerStride
      index[rank - 1] += run
      var d = rank - 1
      while d > 0 && index[d] == shape[d] {
        offset -= index[d] * strides[d]
        index[d] = 0
        d -= 1
        index[d] += 1
        offset += strides[d]
      }
    }
  }

  @inline(__always)
  static func unary(_ f: UnaryFunction, _ a: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .neg: for i in 0..<n { d[i] = -a[i] }
    case .exp: for i in 0..<n { d[i] = Foundation.exp(a[i]) }
    case .log: for i in 0..<n { d[i] = Foundation.log(a[i]) }
    case .sqrt: for i in 0..<n { d[i] = a[i].squareRoot() }
    case .rsqrt: for i in 0..<n { d[i] = 1 / a[i].squareRoot() }
    case .tanh: for i in 0..<n { d[i] = Foundation.tanh(a[i]) }
    case .sigmoid:
      for i in 0..<n {
        let x = a[i]
        d[i] = x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
      }
    case .softplus: for i in 0..<n { let x = a[i]; d[i] = max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x))) }
    case .erf: for i in 0..<n { d[i] = Foundation.erf(a[i]) }
    case .abs: for i in 0..<n { d[i] = Swift.abs(a[i]) }
    case .square: for i in 0..<n { d[i] = a[i] * a[i] }
    case .recip: for i in 0..<n { d[i] = 1 / a[i] }
    case .step: for i in 0..<n { d[i] = a[i] > 0 ? 1 : 0 }
    case .leakyRelu(let slope):
      let s = Float(slope)
      if s == 0 {
        for i in 0..<n { d[i] = max(a[i], 0) }
      } else {
        for i in 0..<n { let x = a[i]; d[i] = x > 0 ? x : s * x }
      }
    case .elu: for i in 0..<n { let x = a[i]; d[i] = x > 0 ? x : Foundation.expm1(x) }
    }
  }

  @inline(__always)
  static func binary(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .add: for i in 0..<n { d[i] = a[i] + b[i] }
    case .sub: for i in 0..<n { d[i] = a[i] - b[i] }
    case .mul: for i in 0..<n { d[i] = a[i] * b[i] }
    case .div: for i in 0..<n { d[i] = a[i] / b[i] }
    case .max: for i in 0..<n { d[i] = Swift.max(a[i], b[i]) }
    case .min: for i in 0..<n { d[i] = Swift.min(a[i], b[i]) }
    case .equal: for i in 0..<n { d[i] = a[i] == b[i] ? 1 : 0 }
    }
  }

  @inline(__always)
  static func binaryScalar(_ f: BinaryFunction, _ a: UnsafePointer<Float>, _ c: Float, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .add: for i in 0..<n { d[i] = a[i] + c }
    case .sub: for i in 0..<n { d[i] = a[i] - c }
    case .mul: for i in 0..<n { d[i] = a[i] * c }
    case .div: for i in 0..<n { d[i] = a[i] / c }
    case .max: for i in 0..<n { d[i] = Swift.max(a[i], c) }
    case .min: for i in 0..<n { d[i] = Swift.min(a[i], c) }
    case .equal: for i in 0..<n { d[i] = a[i] == c ? 1 : 0 }
    }
  }

  @inline(__always)
  static func scalarBinary(_ f: BinaryFunction, _ c: Float, _ b: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>, _ n: Int) {
    switch f {
    case .add: for i in 0..<n { d[i] = c + b[i] }
    case .sub: for i in 0..<n { d[i] = c - b[i] }
    case .mul: for i in 0..<n { d[i] = c * b[i] }
    case .div: for i in 0..<n { d[i] = c / b[i] }
    case .max: for i in 0..<n { d[i] = Swift.max(c, b[i]) }
    case .min: for i in 0..<n { d[i] = Swift.min(c, b[i]) }
    case .equal: for i in 0..<n { d[i] = c == b[i] ? 1 : 0 }
    }
  }
}
