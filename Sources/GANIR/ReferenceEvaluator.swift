import Foundation

/// A plain float64 interpreter of the IR: no fusion, no planning, naive loops.
/// Tests use it as the ground truth for gradients and for the executor.
public struct ReferenceEvaluator {
  /// Values of `input` and `parameter` nodes, by name, flattened row-major.
  public var feeds: [String: [Double]]
  /// The random numbers of `random` ops.
  public var random: RunRandom

  public init(feeds: [String: [Double]], random: RunRandom) {
    self.feeds = feeds
    self.random = random
  }

  /// Random ops read run 0 of `otherProgram` under `seed` (as `Runtime.run(_:seed:)`).
  public init(feeds: [String: [Double]], seed: UInt64 = 0) {
    self.init(feeds: feeds, random: RunRandom(seed: seed))
  }

  static func strides(_ shape: [Int]) -> [Int] {
    var s = [Int](repeating: 1, count: shape.count)
    if shape.count > 1 { for i in stride(from: shape.count - 2, through: 0, by: -1) { s[i] = s[i + 1] * shape[i + 1] } }
    return s
  }

  /// Evaluates every node; returns all values (index = value id).
  public func run(_ g: Graph) throws -> [[Double]] {
    try evaluate(g).values
  }

  /// What one run of a step computes: every value, and the new contents of
  /// each persistent tensor it writes (through `assign` or a kernel's store).
  public struct Evaluation {
    public var values: [[Double]]
    public var updates: [String: [Double]]
  }

  /// Evaluates every node and collects the persistent tensors written.
  public func evaluate(_ g: Graph) throws -> Evaluation {
    var v: [[Double]] = []
    var updates: [String: [Double]] = [:]
    v.reserveCapacity(g.nodes.count)
    for node in g.nodes {
      var stored: [[Double]] = []
      v.append(try compute(node.op, node.inputs.map { v[$0] }, node.inputs.map { g.shape($0) }, node.shape, stored: &stored))
      switch node.op {
      case .assign(let name): updates[name] = v.last!
      case .fused(let k): for (store, values) in zip(k.stores, stored) { updates[store.name] = values }
      default: break
      }
    }
    return Evaluation(values: v, updates: updates)
  }

  /// One op on float64 values.
  func compute(_ op: Op, _ ins: [[Double]], _ inShapes: [[Int]], _ shape: [Int]) throws -> [Double] {
    var stored: [[Double]] = []
    return try compute(op, ins, inShapes, shape, stored: &stored)
  }

  /// One op; a fused kernel's stores come back in `stored`, in order.
  func compute(_ op: Op, _ ins: [[Double]], _ inShapes: [[Int]], _ shape: [Int], stored: inout [[Double]]) throws -> [Double] {
    let node = Node(op: op, inputs: [], shape: shape)
    let n = node.elementCount
    var out = [Double](repeating: 0, count: n)
    switch node.op {
    case .input(let name), .parameter(let name):
      guard let value = feeds[name], value.count == n || (value.count == 1 && n == 1) else {
        throw IRError("no value of \(n) elements for '\(name)'")
      }
      out = value
    case .constant(let c):
      out = [Double](repeating: c, count: n)
    case .random(let stream):
      for i in 0..<n { out[i] = random.uniform(stream, i) }
    case .unary(let f):
      out = ins[0].map { Self.apply(f, $0) }
    case .binary(let f):
      let a = ins[0], b = ins[1]
      for i in 0..<n { out[i] = Self.apply(f, a.count == 1 ? a[0] : a[i], b.count == 1 ? b[0] : b[i]) }
    case .matmul(let ta, let tb):
      // (Batched: the same product for each leading index.)
      let (sa, sb) = (Array(inShapes[0].suffix(2)), Array(inShapes[1].suffix(2)))
      let shape = Array(node.shape.suffix(2)), batches = node.shape.count == 3 ? node.shape[0] : 1
      let m = shape[0], cols = shape[1], k = ta ? sa[0] : sa[1]
      for b in 0..<batches {
        let (ao, bo, oo) = (b * sa[0] * sa[1], b * sb[0] * sb[1], b * m * cols)
        for i in 0..<m {
          for j in 0..<cols {
            var s = 0.0
            for p in 0..<k {
              let x = ta ? ins[0][ao + p * sa[1] + i] : ins[0][ao + i * sa[1] + p]
              let y = tb ? ins[1][bo + j * sb[1] + p] : ins[1][bo + p * sb[1] + j]
              s += x * y
            }
            out[oo + i * cols + j] = s
          }
        }
      }
    case .conv(let c):
      Self.convLoops(c, x: inShapes[0], w: inShapes[1], o: node.shape) { xi, wi, oi in out[oi] += ins[0][xi] * ins[1][wi] }
    case .convTranspose(let c):
      Self.convLoops(c, x: node.shape, w: inShapes[1], o: inShapes[0]) { xi, wi, oi in out[xi] += ins[0][oi] * ins[1][wi] }
    case .convWeight(let c):
      Self.convLoops(c, x: inShapes[0], w: node.shape, o: inShapes[1]) { xi, wi, oi in out[wi] += ins[0][xi] * ins[1][oi] }
    case .reduceSum, .reduceMax:
      let isMax: Bool
      if case .reduceMax = node.op { isMax = true } else { isMax = false }
      if isMax { out = [Double](repeating: -.infinity, count: n) }
      let si = Self.strides(inShapes[0]), so = Self.strides(node.shape)
      for i in 0..<ins[0].count {
        var o = 0, r = i
        for d in 0..<si.count {
          let idx = r / si[d]
          r %= si[d]
          if node.shape[d] != 1 { o += idx * so[d] }
        }
        out[o] = isMax ? Swift.max(out[o], ins[0][i]) : out[o] + ins[0][i]
      }
    case .broadcast:
      let from = inShapes[0]
      if from.isEmpty {
        out = [Double](repeating: ins[0][0], count: n)
      } else {
        let sf = Self.strides(from), so = Self.strides(node.shape)
        for i in 0..<n {
          var f = 0, r = i
          for d in 0..<so.count {
            let idx = r / so[d]
            r %= so[d]
            if from[d] != 1 { f += idx * sf[d] }
          }
          out[i] = ins[0][f]
        }
      }
    case .reshape, .assign, .convert, .stopGradient, .allReduce:
      out = ins[0]
    case .concat(let axis):
      var offset = 0
      let so = Self.strides(node.shape)
      for (k, s) in inShapes.enumerated() {
        let si = Self.strides(s)
        for i in 0..<ins[k].count { out[Self.shifted(i, from: si, to: so, axis: axis, by: offset)] = ins[k][i] }
        offset += s[axis]
      }
    case .slice(let axis, let start):
      let si = Self.strides(inShapes[0]), so = Self.strides(node.shape)
      for i in 0..<n { out[i] = ins[0][Self.shifted(i, from: so, to: si, axis: axis, by: start)] }
    case .pad(let axis, let before):
      let si = Self.strides(inShapes[0]), so = Self.strides(node.shape)
      for i in 0..<ins[0].count { out[Self.shifted(i, from: si, to: so, axis: axis, by: before)] = ins[0][i] }
    case .gather:
      let rows = inShapes[0][0], dim = inShapes[0][1]
      for (i, id) in ins[1].enumerated() {
        let r = Int(id)
        guard r >= 0 && r < rows else { throw IRError("id \(r) outside a table of \(rows) rows") }
        for j in 0..<dim { out[i * dim + j] = ins[0][r * dim + j] }
      }
    case .scatterAdd:
      let rows = node.shape[0], dim = node.shape[1]
      for (i, id) in ins[1].enumerated() {
        let r = Int(id)
        guard r >= 0 && r < rows else { throw IRError("id \(r) outside a table of \(rows) rows") }
        for j in 0..<dim { out[r * dim + j] += ins[0][i * dim + j] }
      }
    case .fused(let k):
      let head = try k.head.map { try compute($0, Array(ins[0..<2]), Array(inShapes[0..<2]), shape) }
      // A reducing kernel runs over its domain, then sums.
      let domain = k.reduction?.domain ?? shape
      let n = domain.reduce(1, *)
      let so = Self.strides(domain)
      // Each operand's index for an output index, broadcasting size-1 axes.
      let maps: [[Int]?] = inShapes.map { s in
        if s == domain || s.isEmpty { return nil }
        let st = Self.strides(s)
        return (0..<n).map { i in
          var f = 0, r = i
          for d in 0..<so.count {
            let idx = r / so[d]
            r %= so[d]
            if s[d] != 1 { f += idx * st[d] }
          }
          return f
        }
      }
      var regs = [Double](repeating: 0, count: k.code.count)
      stored = k.stores.map { _ in [Double](repeating: 0, count: n) }
      var result = [Double](repeating: 0, count: n)
      for i in 0..<n {
        for (r, instruction) in k.code.enumerated() {
          switch instruction {
          case .head: regs[r] = head![i]
          case .load(let j): regs[r] = inShapes[j].isEmpty ? ins[j][0] : ins[j][maps[j]?[i] ?? i]
          case .constant(let c): regs[r] = c
          case .unary(let f, let a): regs[r] = Self.apply(f, regs[a])
          case .binary(let f, let a, let b): regs[r] = Self.apply(f, regs[a], regs[b])
          }
        }
        result[i] = regs[k.code.count - 1]
        for (s, store) in k.stores.enumerated() { stored[s][i] = regs[store.register] }
      }
      if let r = k.reduction {
        out = try compute(.reduceSum(axes: r.axes), [result], [domain], r.shape)
      } else {
        out = result
      }
    }
    return out
  }

  /// The flat index, in a tensor with strides `to`, of element `i` of a tensor
  /// with strides `from`, moved by `shift` along `axis` (concat, slice, pad).
  static func shifted(_ i: Int, from: [Int], to: [Int], axis: Int, by shift: Int) -> Int {
    var o = 0, r = i
    for d in 0..<from.count {
      let index = r / from[d]
      r %= from[d]
      o += (d == axis ? index + shift : index) * to[d]
    }
    return o
  }

  /// Calls `body(xIndex, wIndex, outIndex)` for every multiply of a convolution.
  static func convLoops(_ c: ConvAttributes, x: [Int], w: [Int], o: [Int], _ body: (Int, Int, Int) -> Void) {
    let (batch, channels, h, wd) = (x[0], x[1], x[2], x[3])
    let (filters, kh, kw) = (w[0], w[2], w[3])
    let (oh, ow) = (o[2], o[3])
    for n in 0..<batch {
      for f in 0..<filters {
        for i in 0..<oh {
          for j in 0..<ow {
            let oi = ((n * filters + f) * oh + i) * ow + j
            for ch in 0..<channels {
              for p in 0..<kh {
                let y = i * c.stride.0 - c.padding.top + p * c.dilation.0
                guard y >= 0 && y < h else { continue }
                for q in 0..<kw {
                  let xx = j * c.stride.1 - c.padding.left + q * c.dilation.1
                  guard xx >= 0 && xx < wd else { continue }
                  body(((n * channels + ch) * h + y) * wd + xx, ((f * channels + ch) * kh + p) * kw + q, oi)
                }
              }
            }
          }
        }
      }
    }
  }

  public static func apply(_ f: UnaryFunction, _ x: Double) -> Double {
    switch f {
    case .neg: return -x
    case .exp: return Foundation.exp(x)
    case .log: return Foundation.log(x)
    case .sqrt: return x.squareRoot()
    case .rsqrt: return 1 / x.squareRoot()
    case .tanh: return Foundation.tanh(x)
    case .sigmoid: return x >= 0 ? 1 / (1 + Foundation.exp(-x)) : Foundation.exp(x) / (1 + Foundation.exp(x))
    case .softplus: return Swift.max(x, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(x)))
    case .erf: return Foundation.erf(x)
    case .abs: return Swift.abs(x)
    case .square: return x * x
    case .recip: return 1 / x
    case .step: return x > 0 ? 1 : 0
    case .leakyRelu(let s): return x > 0 ? x : s * x
    case .elu: return x > 0 ? x : Foundation.expm1(x)
    }
  }

  public static func apply(_ f: BinaryFunction, _ a: Double, _ b: Double) -> Double {
    switch f {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .max: return Swift.max(a, b)
    case .min: return Swift.min(a, b)
    case .equal: return a == b ? 1 : 0
    }
  }
}
