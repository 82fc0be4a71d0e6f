import Foundation

import GANIR
import GANTestSupport
import Testing
@testable import GANCompiler
@testable import GANRuntime

/// Seeded test values in [-1.5, 1.5], or class ids when asked.
func values(_ n: Int, seed: UInt64, ids: Int? = nil) -> [Double] {
  (0..<n).map { i in
    let u = CounterRandom.uniform(seed: seed, stream: 9, index: i)
    if let ids { return Double(Int(u * Double(ids))) }
    return (u - 0.5) * 3
  }
}

/// Runs `g` on the executor and on the float64 reference with the same
/// feeds; returns (executor, reference) values of every output.
func runBoth(_ g: Graph, threads: Int = 2, seed: UInt64 = 1, ids: [String: Int] = [:]) throws -> [(exec: [Float], ref: [Double])] {
  var feeds: [String: [Double]] = [:]
  var persistent: [ParameterInfo] = []
  for (k, node) in g.nodes.enumerated() {
    switch node.op {
    case .input(let name), .parameter(let name):
      if feeds[name] == nil { feeds[name] = values(node.elementCount, seed: UInt64(k) &+ seed, ids: ids[name]) }
      if case .parameter = node.op, !persistent.contains(where: { $0.name == name }) {
        persistent.append(ParameterInfo(name: name, shape: node.shape, trainable: true, initialization: .constant(0), net: .generator))
      }
    default: break
    }
  }
  let reference = try ReferenceEvaluator(feeds: feeds, seed: 77).run(g)
  let program = Program(kind: .custom("p"), graph: g, inputs: [])
  let plan = MemoryPlanner.plan(persistent: persistent.map { ($0.name, $0.shape.reduce(1, *)) }, programs: [program])
  let runtime = try Runtime(programs: [program], persistent: persistent, plan: plan, threads: threads)
  for (name, v) in feeds {
    let buffer = runtime.input(name, of: .custom("p")) ?? runtime.persistent(name)!
    for i in 0..<v.count { buffer[i] = Float(v[i]) }
  }
  try runtime.run(.custom("p"), seed: 77)
  return g.outputs.map { o in (Array(runtime.output(g.outputNames[o]!, of: .custom("p"))!.map { $0 }), reference[o]) }
}

func expectClose(_ pairs: [(exec: [Float], ref: [Double])], tolerance: Double = 1e-4, _ what: String) {
  for (exec, ref) in pairs {
    #expect(exec.count == ref.count, "\(what): sizes differ")
    let worst = worstRelativeError(exec, ref)
    #expect(worst <= tolerance, "\(what): worst relative error \(worst)")
  }
}

/// A graph of one op over inputs of the given shapes.
func single(_ op: Op, _ shapes: [[Int]], declared: [Int]? = nil) throws -> Graph {
  var g = Graph()
  let ins = shapes.enumerated().map { g.input("in\($0)", $1) }
  let y = try g.add(op, ins, shape: declared)
  g.outputs = [y]
  g.outputNames = [y: "y"]
  return g
}

@Suite("Kernels against the float64 reference")
struct KernelTests {
  @Test(
    "matmul, every transpose, odd sizes (narrow ones on our own loops)",
    arguments: [(1, 1, 1), (7, 13, 5), (33, 17, 65), (64, 1, 300), (3, 200, 2), (33, 2, 37), (130, 2, 70), (5, 2, 5000)])
  func matmul(_ size: (Int, Int, Int)) throws {
    let (m, n, k) = size
    for ta in [false, true] {
      for tb in [false, true] {
        let g = try single(.matmul(transposeA: ta, transposeB: tb), [ta ? [k, m] : [m, k], tb ? [n, k] : [k, n]])
        expectClose(try runBoth(g), "matmul \(m)x\(n)x\(k) \(ta) \(tb)")
        // One or two columns go to our loops, except A^T B^T and a B too big to transpose on the fly.
        let narrow = Runtime.narrowMatmul(g.nodes.last!, in: g) != nil
        #expect(narrow == (n <= 2 && (ta ? !tb : (tb || n * k <= 8192))), "matmul \(m)x\(n)x\(k) \(ta) \(tb): narrow \(narrow)")
      }
    }
  }

  static let geometries: [(x: [Int], w: [Int], c: ConvAttributes)] = [
    ([1, 3, 7, 9], [5, 3, 3, 2], ConvAttributes(stride: (2, 1), padding: (1, 0, 2, 1), dilation: (1, 2))),
    ([2, 4, 14, 14], [6, 4, 4, 4], ConvAttributes(stride: (2, 2), padding: (1, 1, 1, 1), dilation: (1, 1))),
    ([3, 2, 5, 5], [4, 2, 1, 1], ConvAttributes(stride: (1, 1), padding: (0, 0, 0, 0), dilation: (1, 1))),
    ([1, 1, 6, 6], [2, 1, 3, 3], ConvAttributes(stride: (1, 1), padding: (1, 2, 1, 2), dilation: (1, 1))),
    // More than four input channels: the transposed convolution runs on oneDNN
    // itself rather than as a matmul plus col2im.
    ([2, 8, 9, 9], [4, 8, 3, 3], ConvAttributes(stride: (2, 2), padding: (1, 0, 0, 2), dilation: (1, 1))),
  ]

  @Test("convolution forward, backward data and backward weights at stride, padding and dilation corners", arguments: 0..<5)
  func conv(_ index: Int) throws {
    let (x, w, c) = Self.geometries[index]
    var probe = Graph()
    let y = try probe.add(.conv(c), [probe.input("x", x), probe.input("w", w)])
    let yShape = probe.shape(y)
    expectClose(try runBoth(try single(.conv(c), [x, w])), "conv \(index)")
    expectClose(try runBoth(try single(.convTranspose(c), [yShape, w], declared: x)), "conv transpose \(index)")
    expectClose(try runBoth(try single(.convWeight(c), [x, yShape], declared: w)), "conv weight \(index)")
  }

  @Test(
    "reductions over every kind of axis set",
    arguments: [
      ([5, 7], [0]), ([5, 7], [1]), ([5, 7], [0, 1]), ([3, 4, 5, 6], [0, 2, 3]), ([3, 4, 5, 6], [1, 2, 3]),
      ([3, 4, 5, 6], [1, 2]), ([3, 4, 5, 6], [0, 3]), ([1000, 3], [0]), ([2, 3001], [1]),
    ])
  func reductions(_ c: ([Int], [Int])) throws {
    expectClose(try runBoth(try single(.reduceSum(axes: c.1), [c.0])), "sum \(c)")
    expectClose(try runBoth(try single(.reduceMax(axes: c.1), [c.0])), "max \(c)")
  }

  @Test("every unary function on a size that is not a multiple of the tile")
  func unary() throws {
    for f in UnaryFunction.allCases {
      var g = Graph()
      var x = g.input("in0", [3, 701])
      if [.log, .sqrt, .rsqrt].contains(f) { x = g.unary(.abs, x) }
      let y = g.unary(f, x)
      g.outputs = [y]
      g.outputNames = [y: "y"]
      expectClose(try runBoth(g), tolerance: f == .recip ? 1e-3 : 1e-5, "\(f.rawValue)")
    }
  }

  @Test("exp, tanh and sigmoid (our vectorised versions) stay accurate over the whole float range, and pass NaN through")
  func transcendentalRange() throws {
    var x: [Float] = stride(from: -120.0, through: 120.0, by: 0.0137).map { Float($0) }
    x += [0, -0, 1e-8, -1e-8, 0.6249, 0.6251, -0.6251, 88.6, 88.8, -87.2, -87.4, .infinity, -.infinity, .nan]
    let points = x
    for f in [UnaryFunction.exp, .tanh, .sigmoid] {
      var out = [Float](repeating: 0, count: points.count)
      var scratch = [Float](repeating: 0, count: 2 * ElementwiseKernel.tile)
      try x.withUnsafeMutableBufferPointer { input in
        try out.withUnsafeMutableBufferPointer { output in
          let k = ElementwiseKernel(
            code: [.load(0), .unary(f, 0)], operands: [input.baseAddress!], operandShapes: [[points.count]], output: output.baseAddress!,
            shape: [points.count])
          scratch.withUnsafeMutableBufferPointer { k.run(0..<points.count, scratch: $0.baseAddress!) }
          for (i, v) in points.enumerated() {
            let exact: Double
            switch f {
            case .exp: exact = Foundation.exp(Double(v))
            case .tanh: exact = Foundation.tanh(Double(v))
            default: exact = 1 / (1 + Foundation.exp(-Double(v)))
            }
            let got = Double(output[i])
            if v.isNaN {
              #expect(got.isNaN, "\(f.rawValue)(nan) = \(got)")
            } else if exact > Double(Float.greatestFiniteMagnitude) {
              #expect(got == .infinity, "\(f.rawValue)(\(v)) = \(got)")
            } else if abs(exact) < 1e-37 {
              #expect(abs(got) < 1e-37 && (got >= 0 || f == .tanh), "\(f.rawValue)(\(v)) = \(got)")
            } else {
              // A few float ulps relative to the value (exp and a logistic tail), absolute near zero for tanh.
              let error = abs(got - exact) / (f == .tanh ? max(abs(exact), 1e-3) : abs(exact))
              try #require(error <= 2e-6, "\(f.rawValue)(\(v)) = \(got), exact \(exact)")
            }
          }
        }
      }
    }
  }

  @Test("values kept in nChw16c between convolutions: epilogues, per-channel broadcasts and reductions, conversions")
  func blockedLayouts() throws {
    var g = Graph()
    let c = ConvAttributes(stride: (1, 1), padding: (1, 1, 1, 1), dilation: (1, 1))
    let x = g.input("x", [3, 16, 5, 7]), w = g.input("w", [32, 16, 3, 3]), b = g.input("b", [1, 32, 1, 1])
    let y = try g.add(.conv(c), [x, w])
    let z = g.unary(.leakyRelu(slope: 0.2), g.addv(y, g.broadcast(b, [3, 32, 5, 7])))
    let sums = g.sum(z, axes: [0, 2, 3])
    let maxima = try g.add(.reduceMax(axes: [0, 2, 3]), [g.mul(z, z)])
    let back = try g.add(.convTranspose(c), [z, w], shape: [3, 16, 5, 7])
    let dw = try g.add(.convWeight(c), [x, z], shape: [32, 16, 3, 3])
    let flat = g.reshape(g.unary(.tanh, back), [3, 16 * 35])
    g.outputs = [sums, maxima, flat, dw]
    g.outputNames = [sums: "sums", maxima: "maxima", flat: "flat", dw: "dw"]
    let laid = LayoutAssignment.run(Fusion.run(g))
    try laid.verify()
    #expect(laid.nodes.contains { $0.layout == .nChw16c })
    #expect(laid.nodes.contains { $0.op == .convert })
    expectClose(try runBoth(laid), tolerance: 1e-4, "nChw16c")
  }

  @Test("elementwise programs summed as they run: per channel, per column, per row, everything; plain and nChw16c")
  func summingKernels() throws {
    var g = Graph()
    let x = g.input("x", [5, 16, 3, 7]), b = g.input("b", [1, 16, 1, 1]), m = g.input("m", [9, 301])
    let perChannel = g.sum(g.mul(g.addv(x, g.broadcast(b, [5, 16, 3, 7])), x), axes: [0, 2, 3])
    let perColumn = g.sum(g.unary(.square, m), axes: [0])
    let perRow = g.sum(g.unary(.neg, m), axes: [1])
    let all = g.sum(g.unary(.abs, m), axes: [0, 1])
    let c = ConvAttributes(stride: (1, 1), padding: (0, 0, 0, 0), dilation: (1, 1))
    let y = try g.add(.conv(c), [x, g.input("w", [16, 16, 1, 1])])
    // Read twice, the convolution's result is not its epilogue's alone: each sum reads it in nChw16c.
    let blocked = g.sum(g.unary(.square, g.unary(.tanh, y)), axes: [0, 2, 3])
    let blocked2 = g.sum(g.unary(.abs, y), axes: [0, 2, 3])
    g.outputs = [perChannel, perColumn, perRow, all, blocked, blocked2]
    g.outputNames = [perChannel: "channel", perColumn: "column", perRow: "row", all: "all", blocked: "blocked", blocked2: "blocked2"]
    let fused = LayoutAssignment.run(Fusion.run(g))
    try fused.verify()
    let sums = fused.nodes.filter {
      if case .fused(let k) = $0.op { return k.reduction != nil }; return false
    }
    #expect(sums.count == 6)
    #expect(fused.nodes.contains { $0.layout == .nChw16c })
    #expect(try Graph(parsing: fused.text).text == fused.text)
    for threads in [1, 2] { expectClose(try runBoth(fused, threads: threads), tolerance: 1e-5, "summing kernels, \(threads) threads") }
  }

  @Test("fused kernels with scalar, row, column and channel broadcasts")
  func fusedBroadcasts() throws {
    var g = Graph()
    let x = g.input("in0", [3, 4, 5, 7])
    let channel = g.input("in1", [1, 4, 1, 1]), row = g.input("in2", [1, 1, 1, 7]), scalar = g.input("in3", [])
    let code: [Instruction] = [.load(0), .load(1), .binary(.mul, 0, 1), .load(2), .binary(.add, 2, 3), .load(3), .binary(.sub, 4, 5), .unary(.tanh, 6), .constant(0.5), .binary(.max, 7, 8)]
    let y = try g.add(.fused(FusedKernel(head: nil, code: code)), [x, channel, row, scalar], shape: [3, 4, 5, 7])
    g.outputs = [y]
    g.outputNames = [y: "y"]
    expectClose(try runBoth(g), "fused broadcasts")
  }

  @Test("products with epilogues: bias and activations inside oneDNN (matmul, convolution), others after it")
  func epilogue() throws {
    let activations: [UnaryFunction?] = [nil, .leakyRelu(slope: 0), .leakyRelu(slope: 0.2), .tanh, .sigmoid, .elu, .exp]
    for activation in activations {
      for withBias in [true, false] where withBias || activation != nil {
        var code: [Instruction] = [.head]
        if withBias { code += [.load(2), .binary(.add, 0, 1)] }
        if let activation { code.append(.unary(activation, code.count - 1)) }
        let what = "\(activation?.rawValue ?? "none") bias \(withBias)"
        // A matmul [9 5] x [11 5]^T with a [1 11] bias.
        var g = Graph()
        let a = g.input("in0", [9, 5]), b = g.input("in1", [11, 5]), bias = g.input("in2", [1, 11])
        let y = try g.add(.fused(FusedKernel(head: .matmul(transposeA: false, transposeB: true), code: code)), withBias ? [a, b, bias] : [a, b])
        g.outputs = [y]
        g.outputNames = [y: "y"]
        // exp has no oneDNN post-op here: it runs as our epilogue.
        let kernel = FusedKernel(head: .matmul(transposeA: false, transposeB: true), code: code)
        #expect((Runtime.oneDNNEpilogue(kernel, g[y], in: g) != nil) == (activation != .exp), "\(what)")
        expectClose(try runBoth(g), "matmul epilogue \(what)")
        // A convolution with a per-channel [1 F 1 1] bias, in both layouts.
        var h = Graph()
        let c = ConvAttributes(stride: (2, 1), padding: (1, 0, 1, 1), dilation: (1, 1))
        let x = h.input("in0", [2, 3, 7, 6]), w = h.input("in1", [16, 3, 3, 3]), cb = h.input("in2", [1, 16, 1, 1])
        let z = try h.add(.fused(FusedKernel(head: .conv(c), code: code)), withBias ? [x, w, cb] : [x, w], shape: [2, 16, 3, 6])
        h.outputs = [z]
        h.outputNames = [z: "z"]
        expectClose(try runBoth(h), "conv epilogue \(what)")
        expectClose(try runBoth(LayoutAssignment.run(h)), "nChw16c conv epilogue \(what)")
      }
    }
  }

  @Test("data movement: broadcast, concat, slice, pad, gather, scatter")
  func movement() throws {
    expectClose(try runBoth(try single(.broadcast, [[1, 3, 1]], declared: [2, 3, 4])), "broadcast")
    expectClose(try runBoth(try single(.broadcast, [[]], declared: [2, 3])), "broadcast scalar")
    expectClose(try runBoth(try single(.concat(axis: 1), [[2, 3, 2], [2, 1, 2], [2, 4, 2]])), "concat")
    expectClose(try runBoth(try single(.slice(axis: 1, start: 2), [[3, 7, 2]], declared: [3, 4, 2])), "slice")
    expectClose(try runBoth(try single(.pad(axis: 0, before: 1), [[2, 3]], declared: [5, 3])), "pad")
    expectClose(try runBoth(try single(.gather, [[5, 3], [7, 1]]), ids: ["in1": 5]), "gather")
    expectClose(try runBoth(try single(.scatterAdd, [[7, 3], [7, 1]], declared: [5, 3]), ids: ["in1": 5]), "scatter_add")
  }

  @Test("random numbers match the reference's counter-based stream")
  func random() throws {
    var g = Graph()
    let r = try g.add(.random(stream: 3), [], shape: [5, 777])
    g.outputs = [r]
    g.outputNames = [r: "y"]
    let (exec, ref) = try runBoth(g)[0]
    #expect(exec == ref.map { Float($0) })
  }
}

@Test("closeness checks fail on NaN, infinity and length mismatches (a running max(worst, NaN) keeps worst)")
func closenessRejectsNonFinite() {
  #expect(worstRelativeError([Float(1), .nan, 3], [1.0, 2, 3]) == .infinity)
  #expect(worstRelativeError([Float(1), 2], [1.0, .nan]) == .infinity)
  #expect(worstRelativeError([Float.infinity], [1.0]) == .infinity)
  #expect(worstRelativeError([Float(1)], [1.0, 2]) == .infinity)
  #expect(worstRelativeError([Float(1), 2.5], [1.0, 2]) == 0.25)
  #expect(worstRelativeError([Float.infinity], [Double.infinity]) == 0)
}
