import CKernels
import Foundation
import GANIR

/// Row-major strides of a shape.
func strides(_ shape: [Int]) -> [Int] {
  var s = [Int](repeating: 1, count: shape.count)
  if shape.count > 1 { for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] } }
  return s
}

/// A reduction (sum or max) over some axes, keeping them as size 1.
///
/// The shape is viewed as [outer, reduced, inner] when the reduced axes are
/// contiguous (the common cases: a bias gradient sums the batch axis, a
/// normalisation sums the last axes); other axis sets use the general path.
/// Each output element is summed by one thread in a fixed order, so the
/// result does not depend on the thread count.
struct ReduceKernel {
  var input: UnsafeMutablePointer<Float>
  var output: UnsafeMutablePointer<Float>
  var shape: [Int]
  var axes: [Int]
  var isMax: Bool

  /// (outer, reduced, inner) when the reduced axes are one contiguous run.
  var contiguousView: (Int, Int, Int)? {
    let sorted = axes.sorted()
    guard let first = sorted.first, sorted.last! - first + 1 == sorted.count else { return nil }
    let outer = shape[..<first].reduce(1, *), reduced = shape[first...sorted.last!].reduce(1, *)
    let inner = shape[(sorted.last! + 1)...].reduce(1, *)
    return (outer, reduced, inner)
  }

  /// (before, kept, after) when the kept axes are one contiguous run with
  /// reduced axes on both sides, such as a batch norm's [N, C, H, W] -> C.
  var keptRunView: (Int, Int, Int)? {
    let kept = (0..<shape.count).filter { !axes.contains($0) }
    guard let first = kept.first, kept.last! - first + 1 == kept.count, first > 0, kept.last! < shape.count - 1 else { return nil }
    return (shape[..<first].reduce(1, *), shape[first...kept.last!].reduce(1, *), shape[(kept.last! + 1)...].reduce(1, *))
  }

  func run(_ pool: ThreadPool) {
    if let (before, kept, after) = keptRunView {
      pool.parallel(count: kept, minimumPerThread: max(1, 16384 / max(before * after, 1))) { ks in
        for k in ks {
          var total: Double = 0
          var m = -Float.infinity
          for a in 0..<before {
            let p = input + (a * kept + k) * after
            if isMax {
              for b in 0..<after { m = Swift.max(m, p[b]) }
            } else {
              total += Double(Self.sum(p, after))
            }
          }
          output[k] = isMax ? m : Float(total)
        }
      }
      return
    }
    if let (outer, reduced, inner) = contiguousView {
      if inner == 1 {
        // Row reductions: each output is a contiguous run.
        pool.parallel(count: outer, minimumPerThread: max(1, 32768 / max(reduced, 1))) { rows in
          for o in rows {
            let p = input + o * reduced
            if isMax {
              var m = -Float.infinity
              for k in 0..<reduced { m = Swift.max(m, p[k]) }
              output[o] = m
            } else if reduced <= 16 {
              // Short rows (a maxout's pieces): one plain loop, no blocking.
              var total = 0.0
              for k in 0..<reduced { total += Double(p[k]) }
              output[o] = Float(total)
            } else {
              output[o] = Self.sum(p, reduced)
            }
          }
        }
      } else {
        // Column reductions: accumulate whole rows, split over the columns.
        pool.parallel(count: outer * inner, minimumPerThread: max(64, 65536 / max(reduced, 1)), granularity: 16) { cols in
          // Process the range as (outer, inner-chunk) blocks.
          var c = cols.lowerBound
          while c < cols.upperBound {
            let (o, i) = c.quotientAndRemainder(dividingBy: inner)
            let n = Swift.min(inner - i, cols.upperBound - c)
            let block = input + o * reduced * inner
            ganc_column_reduce(block, output + o * inner, Int64(Swift.max(reduced, 1)), Int64(inner), Int64(i), Int64(i + n), isMax ? 1 : 0)
            c += n
          }
        }
      }
      return
    }
    // General: per output element, walk the reduced sub-space.
    let inStrides = strides(shape)
    let kept = (0..<shape.count).filter { !axes.contains($0) }
    let keptShape = kept.map { shape[$0] }
    let reducedAxes = axes.sorted()
    let outCount = keptShape.reduce(1, *)
    let subCount = reducedAxes.map { shape[$0] }.reduce(1, *)
    pool.parallel(count: outCount, minimumPerThread: max(1, 32768 / max(subCount, 1))) { outs in
      for o in outs {
        var base = 0, rest = o
        for (k, d) in kept.enumerated().reversed() {
          base += (rest % keptShape[k]) * inStrides[d]
          rest /= keptShape[k]
        }
        var acc: Double = 0
        var m = -Float.infinity
        for s in 0..<subCount {
          var offset = base, r = s
          for d in reducedAxes.reversed() {
            offset += (r % shape[d]) * inStrides[d]
            r /= shape[d]
          }
          if isMax { m = Swift.max(m, input[offset]) } else { acc += Double(input[offset]) }
        }
        output[o] = isMax ? m : Float(acc)
      }
    }
  }

  /// A sum in blocks of Float accumulators combined in Double: fast and accurate.
  @inline(__always)
  static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
    var total: Double = 0
    var i = 0
    while i < n {
      let m = Swift.min(1024, n - i)
      // Double lanes: a sum whose halves cancel (a logit bias's gradient,
      // real against generated) keeps its last bits, as PyTorch's does.
      var a0: Double = 0, a1: Double = 0, a2: Double = 0, a3: Double = 0
      var k = 0
      while k + 4 <= m {
        a0 += Double(p[i + k]); a1 += Double(p[i + k + 1]); a2 += Double(p[i + k + 2]); a3 += Double(p[i + k + 3])
        k += 4
      }
      while k < m { a0 += Double(p[i + k]); k += 1 }
      total += (a0 + a1) + (a2 + a3)
      i += m
    }
    return Float(total)
  }
}

/// Copies with index maps: broadcast, concat, slice, pad.
enum CopyKernels {
  /// out[i] = in[map(i)] for a broadcast from `from` to `to`.
  static func broadcast(_ input: UnsafeMutablePointer<Float>, from: [Int], to: [Int], _ output: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    // A single load writes straight into the output, so no scratch registers are read.
    let kernel = ElementwiseKernel(code: [.load(0)], operands: [input], operandShapes: [from.isEmpty ? [1] : from], output: output, shape: to)
    pool.parallel(count: kernel.count, granularity: ElementwiseKernel.tile) { range in
      var scratch = [Float](repeating: 0, count: ElementwiseKernel.tile)
      scratch.withUnsafeMutableBufferPointer { s in kernel.run(range, scratch: s.baseAddress!) }
    }
  }

  /// Copies `input` (shape `inner`) into `output` (shape `outer`) at `offset` along `axis`, or the reverse.
  static func block(_ input: UnsafeMutablePointer<Float>, _ output: UnsafeMutablePointer<Float>, small: [Int], large: [Int], axis: Int, offset: Int, intoLarge: Bool) {
    let outer = small[..<axis].reduce(1, *)
    let smallRun = small[axis...].reduce(1, *)
    let largeRun = large[axis...].reduce(1, *)
    let shift = offset * large[(axis + 1)...].reduce(1, *)
    for o in 0..<outer {
      let s = input + (intoLarge ? o * smallRun : o * largeRun + shift)
      let d = output + (intoLarge ? o * largeRun + shift : o * smallRun)
      d.update(from: s, count: smallRun)
    }
  }
}
