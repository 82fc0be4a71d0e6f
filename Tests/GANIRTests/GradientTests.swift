import Foundation
import Testing
@testable import GANIR

/// A seeded generator for test data (SplitMix64).
struct Seeded: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 { state &+= 1; return CounterRandom.mix(state) }
}

/// What an input of a test function may hold, to stay away from kinks and poles.
enum Domain: Sendable { case any, positive, ids(Int) }

/// A function of named inputs, built into a graph.
struct GradientCase: CustomTestStringConvertible, Sendable {
  let name: String
  let inputs: [(String, [Int], Domain)]
  let build: @Sendable (inout Graph, [ValueID]) throws -> ValueID
  var testDescription: String { name }
}

/// Values for `shape` in `domain`, at least 0.1 from zero so that steps,
/// maxima and absolute values are not probed at their kinks.
func sample(_ shape: [Int], _ domain: Domain, _ rng: inout Seeded) -> [Double] {
  (0..<shape.reduce(1, *)).map { _ in
    switch domain {
    case .ids(let n): return Double(Int.random(in: 0..<n, using: &rng))
    case .positive: return Double.random(in: 0.5...2, using: &rng)
    case .any:
      let v = Double.random(in: 0.1...1.5, using: &rng)
      return Bool.random(using: &rng) ? v : -v
    }
  }
}

/// Builds loss = sum(f(inputs) * R), differentiates it, and compares every
/// gradient entry with a central difference in float64.
func checkGradients(_ c: GradientCase, seed: UInt64 = 1, tolerance: Double = 1e-6) throws {
  var rng = Seeded(state: seed)
  var g = Graph()
  let ids = c.inputs.map { g.input($0.0, $0.1) }
  let y = try c.build(&g, ids)
  let weights = g.input("R", g.shape(y))
  let loss = g.sumAll(g.mul(y, weights))
  let differentiable = c.inputs.indices.filter { if case .ids = c.inputs[$0].2 { return false } else { return true } }
  let grads = try Autodiff.gradients(of: loss, wrt: differentiable.map { ids[$0] }, in: &g)
  try g.verify()
  var feeds: [String: [Double]] = ["R": sample(g.shape(y), .any, &rng)]
  for (name, shape, domain) in c.inputs { feeds[name] = sample(shape, domain, &rng) }
  let values = try ReferenceEvaluator(feeds: feeds).run(g)
  let h = 1e-6
  for (k, index) in differentiable.enumerated() {
    let name = c.inputs[index].0
    let analytic = values[grads[k]]
    let base = feeds[name]!
    #expect(analytic.count == base.count, "\(c.name): gradient of \(name) has the wrong size")
    for i in 0..<base.count {
      var plus = feeds, minus = feeds
      plus[name]![i] = base[i] + h
      minus[name]![i] = base[i] - h
      let fp = try ReferenceEvaluator(feeds: plus).run(g)[loss][0]
      let fm = try ReferenceEvaluator(feeds: minus).run(g)[loss][0]
      let numeric = (fp - fm) / (2 * h)
      let error = abs(numeric - analytic[i]) / max(1, abs(numeric))
      #expect(error < tolerance, "\(c.name): d/d\(name)[\(i)] analytic \(analytic[i]) numeric \(numeric)")
      if error >= tolerance { return }
    }
  }
}

let conv = ConvAttributes(stride: (2, 1), padding: (1, 0, 2, 1), dilation: (1, 2))

let gradientCases: [GradientCase] =
  UnaryFunction.allCases.filter { $0 != .step }.map { f in
    let positive: Set<UnaryFunction> = [.log, .sqrt, .rsqrt, .recip]
    return GradientCase(name: f.rawValue, inputs: [("a", [3, 5], positive.contains(f) ? .positive : .any)]) { g, x in g.unary(f, x[0]) }
  }
  + BinaryFunction.allCases.filter { $0 != .equal }.map { f in
    GradientCase(name: f.rawValue, inputs: [("a", [2, 7], .any), ("b", [2, 7], f == .div ? .positive : .any)]) { g, x in
      // Keep max/min away from ties: b is shifted by a constant.
      g.binary(f, x[0], f == .max || f == .min ? g.addv(x[1], g.constant(0.05)) : x[1])
    }
  }
  + [
    GradientCase(name: "scalar operand", inputs: [("a", [4, 3], .any), ("s", [], .any)]) { g, x in g.mul(x[0], x[1]) },
    GradientCase(name: "matmul", inputs: [("a", [3, 4], .any), ("b", [4, 5], .any)]) { g, x in try g.add(.matmul(transposeA: false, transposeB: false), x) },
    GradientCase(name: "matmul A^T", inputs: [("a", [4, 3], .any), ("b", [4, 5], .any)]) { g, x in try g.add(.matmul(transposeA: true, transposeB: false), x) },
    GradientCase(name: "matmul B^T", inputs: [("a", [3, 4], .any), ("b", [5, 4], .any)]) { g, x in try g.add(.matmul(transposeA: false, transposeB: true), x) },
    GradientCase(name: "matmul A^T B^T", inputs: [("a", [4, 3], .any), ("b", [5, 4], .any)]) { g, x in try g.add(.matmul(transposeA: true, transposeB: true), x) },
    GradientCase(name: "conv (stride, asymmetric padding, dilation)", inputs: [("x", [2, 3, 5, 6], .any), ("w", [4, 3, 3, 2], .any)]) { g, x in try g.add(.conv(conv), x) },
    GradientCase(name: "conv transpose", inputs: [("a", [2, 4, 2, 7], .any), ("w", [4, 3, 3, 2], .any)]) { g, x in try g.add(.convTranspose(conv), x, shape: [2, 3, 5, 6]) },
    GradientCase(name: "conv weight", inputs: [("x", [2, 3, 5, 6], .any), ("e", [2, 4, 2, 7], .any)]) { g, x in try g.add(.convWeight(conv), x, shape: [4, 3, 3, 2]) },
    GradientCase(name: "reduce_sum", inputs: [("a", [2, 3, 4], .any)]) { g, x in g.sum(x[0], axes: [0, 2]) },
    GradientCase(name: "reduce_max", inputs: [("a", [3, 8], .any)]) { g, x in try g.add(.reduceMax(axes: [1]), x) },
    GradientCase(name: "broadcast", inputs: [("a", [1, 3, 1], .any)]) { g, x in g.broadcast(x[0], [2, 3, 4]) },
    GradientCase(name: "broadcast scalar", inputs: [("a", [], .any)]) { g, x in g.broadcast(x[0], [2, 3]) },
    GradientCase(name: "reshape", inputs: [("a", [2, 6], .any)]) { g, x in g.reshape(x[0], [3, 2, 2]) },
    GradientCase(name: "concat", inputs: [("a", [2, 3, 2], .any), ("b", [2, 1, 2], .any)]) { g, x in try g.add(.concat(axis: 1), x) },
    GradientCase(name: "slice", inputs: [("a", [2, 5], .any)]) { g, x in try g.add(.slice(axis: 1, start: 1), x, shape: [2, 3]) },
    GradientCase(name: "pad", inputs: [("a", [2, 3], .any)]) { g, x in try g.add(.pad(axis: 0, before: 1), x, shape: [4, 3]) },
    GradientCase(name: "gather", inputs: [("t", [5, 3], .any), ("ids", [4, 1], .ids(5))]) { g, x in try g.add(.gather, x) },
    GradientCase(name: "scatter_add", inputs: [("a", [4, 3], .any), ("ids", [4, 1], .ids(5))]) { g, x in try g.add(.scatterAdd, x, shape: [5, 3]) },
    GradientCase(name: "a chain: layernorm-like", inputs: [("a", [3, 6], .any)]) { g, x in
      let mean = g.scale(g.sum(x[0], axes: [1]), 1.0 / 6)
      let centred = g.sub(x[0], g.broadcast(mean, [3, 6]))
      let variance = g.scale(g.sum(g.unary(.square, centred), axes: [1]), 1.0 / 6)
      return g.mul(centred, g.broadcast(g.unary(.rsqrt, g.addv(variance, g.constant(1e-5))), [3, 6]))
    },
  ]

@Suite("Gradients against central finite differences")
struct GradientTests {
  @Test("each op's gradient", arguments: gradientCases)
  func op(_ c: GradientCase) throws { try checkGradients(c) }

  @Test("every differentiable op has a case")
  func coverage() {
    let covered = Set(gradientCases.map(\.name))
    for f in UnaryFunction.allCases where f != .step { #expect(covered.contains(f.rawValue)) }
    for f in BinaryFunction.allCases where f != .equal { #expect(covered.contains(f.rawValue)) }
  }

  /// The gradient penalty's double backward: differentiate a function of an
  /// input gradient, and compare with finite differences of that gradient.
  @Test("second order: the gradient of a function of a gradient")
  func doubleBackward() throws {
    let penalty = GradientCase(name: "gradient penalty", inputs: [("x", [3, 4], .any), ("w1", [4, 5], .any), ("w2", [5, 1], .any)]) { g, v in
      let h = g.unary(.tanh, try g.add(.matmul(transposeA: false, transposeB: false), [v[0], v[1]]))
      let leaky = g.mul(h, g.addv(g.constant(0.2), g.scale(g.unary(.step, h), 0.8)))
      let score = g.sumAll(g.unary(.softplus, try g.add(.matmul(transposeA: false, transposeB: false), [leaky, v[2]])))
      let dx = try Autodiff.gradients(of: score, wrt: [v[0]], in: &g)[0]
      // (||dx|| - 1)^2 per sample, as WGAN-GP.
      let norm = g.unary(.sqrt, g.sum(g.unary(.square, dx), axes: [1]))
      return g.unary(.square, g.sub(norm, g.constant(1)))
    }
    try checkGradients(penalty, tolerance: 1e-5)
  }

  @Test("second order through a convolution")
  func doubleBackwardConv() throws {
    let c = GradientCase(name: "conv penalty", inputs: [("x", [1, 2, 4, 4], .any), ("w", [2, 2, 3, 3], .any)]) { g, v in
      let y = g.unary(.softplus, try g.add(.conv(ConvAttributes(stride: (1, 1), padding: (1, 1, 1, 1), dilation: (1, 1))), v))
      let dx = try Autodiff.gradients(of: g.sumAll(y), wrt: [v[0]], in: &g)[0]
      return g.sumAll(g.unary(.square, dx))
    }
    try checkGradients(c, tolerance: 1e-5)
  }

  @Test("tied maxima share reduce_max's gradient evenly, so it still sums to the incoming gradient")
  func maxTies() throws {
    var g = Graph()
    let x = g.input("x", [2, 3])
    let loss = g.sumAll(try g.add(.reduceMax(axes: [1]), [x]))
    let dx = try Autodiff.gradients(of: loss, wrt: [x], in: &g)[0]
    let values = try ReferenceEvaluator(feeds: ["x": [1, 3, 3, 2, 2, 2]]).run(g)
    // Two tied maxima in the first row, three in the second (a weight-clipped maxout critic has such rows).
    let third: Double = 1.0 / 3
    let expected: [Double] = [0, 0.5, 0.5, third, third, third]
    #expect(values[dx] == expected)
  }

  @Test("a loss that does not depend on an input gets a zero gradient")
  func unrelated() throws {
    var g = Graph()
    let a = g.input("a", [2]), b = g.input("b", [2])
    let loss = g.sumAll(g.unary(.square, a))
    let grads = try Autodiff.gradients(of: loss, wrt: [a, b], in: &g)
    let v = try ReferenceEvaluator(feeds: ["a": [1, 2], "b": [3, 4]]).run(g)
    #expect(v[grads[0]] == [2, 4])
    #expect(v[grads[1]] == [0, 0])
  }
}

@Suite("Graph verification")
struct VerifierTests {
  @Test("ill-shaped operands are refused")
  func refuses() {
    var g = Graph()
    let a = g.input("a", [2, 3]), b = g.input("b", [4, 5])
    #expect(throws: IRError.self) { try g.add(.matmul(transposeA: false, transposeB: false), [a, b]) }
    #expect(throws: IRError.self) { try g.add(.binary(.add), [a, b]) }
    #expect(throws: IRError.self) { try g.add(.reshape, [a], shape: [7]) }
    #expect(throws: IRError.self) { try g.add(.unary(.exp), [9]) }
  }

  @Test("a persistent tensor read after the node that overwrites it is refused, through views too")
  func readAfterWrite() throws {
    for view in [false, true] {
      var g = Graph()
      let p = g.parameter("w", [4])
      let q = view ? g.reshape(p, [2, 2]) : p
      try g.add(.assign("w"), [g.unary(.neg, p)])
      g.outputs = [g.unary(.exp, q)]
      #expect(throws: IRError.self) { try g.verify() }
    }
    // Reading before the write, or in the storing kernel itself, is fine.
    var g = Graph()
    let p = g.parameter("m", [4])
    let k = FusedKernel(head: nil, code: [.load(0), .unary(.neg, 0), .unary(.exp, 1)], stores: [KernelStore(name: "m", register: 1)])
    g.outputs = [try g.add(.fused(k), [p], shape: [4])]
    try g.verify()
    #expect(try Graph(parsing: g.text).text == g.text)
  }

  @Test("layouts: nChw16c only where it fits, plain outputs, elementwise operands agree")
  func layouts() throws {
    var g = Graph()
    let x = g.input("x", [2, 16, 3, 3])
    let eight = g.input("y", [2, 8, 3, 3])
    #expect(throws: IRError.self) { try g.add(.convert, [eight], layout: .nChw16c) }
    let b = try g.add(.convert, [x], layout: .nChw16c)
    #expect(throws: IRError.self) { try g.add(.binary(.add), [b, x], layout: .nChw16c) }
    #expect(throws: IRError.self) { try g.add(.reshape, [b], shape: [2, 144]) }
    let y = try g.add(.unary(.exp), [b], layout: .nChw16c)
    g.outputs = [y]
    #expect(throws: IRError.self) { try g.verify() }
  }

  @Test("counter-based random numbers are pure and uniform")
  func random() {
    let a = (0..<10000).map { CounterRandom.uniform(seed: 3, stream: 1, index: $0) }
    let b = (0..<10000).map { CounterRandom.uniform(seed: 3, stream: 1, index: $0) }
    #expect(a == b)
    #expect(a.allSatisfy { $0 >= 0 && $0 < 1 })
    let mean = a.reduce(0, +) / Double(a.count)
    #expect(abs(mean - 0.5) < 0.02)
    #expect(a != (0..<10000).map { CounterRandom.uniform(seed: 3, stream: 2, index: $0) })
  }
}
