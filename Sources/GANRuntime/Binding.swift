import CDNNL
import CKernels
import Foundation
import GANCompiler
import GANIR

/// Turning compiled programs into flat step lists: oneDNN primitives for
/// products, our loops for the rest, every pointer fixed once.
extension Runtime {
  static func convShape(_ x: [Int], _ w: [Int], _ y: [Int], _ c: ConvAttributes, xLayout: Layout, yLayout: Layout) -> ganc_conv_shape {
    var s = ganc_conv_shape()
    s.x_blocked = xLayout == .nChw16c ? 1 : 0
    s.y_blocked = yLayout == .nChw16c ? 1 : 0
    s.columns_max_c = Int32(ConvAttributes.transposedByColumnsMaxChannels)
    s.n = Int64(x[0]); s.c = Int64(x[1]); s.h = Int64(x[2]); s.w = Int64(x[3])
    s.f = Int64(w[0]); s.kh = Int64(w[2]); s.kw = Int64(w[3])
    s.oh = Int64(y[2]); s.ow = Int64(y[3])
    s.stride = (Int64(c.stride.0), Int64(c.stride.1))
    s.dilation = (Int64(c.dilation.0), Int64(c.dilation.1))
    s.pad_l = (Int64(c.padding.top), Int64(c.padding.left))
    s.pad_r = (Int64(c.padding.bottom), Int64(c.padding.right))
    return s
  }

  /// A fused kernel's epilogue as oneDNN runs it inside the product: a bias
  /// (operand `bias`) and an activation, or nil when oneDNN cannot.
  static func oneDNNEpilogue(_ k: FusedKernel, _ node: Node, in g: Graph) -> (ganc_epilogue, bias: Int?)? {
    var e = ganc_epilogue()
    var bias: Int? = nil
    var code = k.code.dropFirst()
    guard k.stores.isEmpty, k.code.first == .head else { return nil }
    switch k.head {
    case .matmul, .conv: break
    default: return nil
    }
    if case .load(let j) = code.first, code.count >= 2, code[code.startIndex + 1] == .binary(.add, 0, 1) || code[code.startIndex + 1] == .binary(.add, 1, 0) {
      let s = g.shape(node.inputs[j])
      let wanted = node.shape.count == 2 ? [1, node.shape[1]] : [1, node.shape[1], 1, 1]
      guard s == wanted else { return nil }
      bias = j
      e.bias = 1
      code = code.dropFirst(2)
    }
    if let last = code.first {
      guard code.count == 1, case .unary(let f, let a) = last, a == k.code.count - 2 else { return nil }
      switch f {
      case .leakyRelu(let slope):
        e.activation = GANC_ACT_RELU
        e.alpha = Float(slope)
      case .tanh: e.activation = GANC_ACT_TANH
      case .sigmoid: e.activation = GANC_ACT_SIGMOID
      case .elu: e.activation = GANC_ACT_ELU
      default: return nil
      }
    }
    return (e, bias)
  }

  /// Matmuls with at most this many output columns (a discriminator's
  /// logit, a 2-D generator's output, the input gradient and weight
  /// gradient of a layer reading 2-D points) run on our own loops: oneDNN
  /// spent 0.02-0.06 ms a call on them, the loops 0.01-0.015.
  static let narrowColumns = 2

  /// The product of a matmul node for the narrow loops, if it is one.
  static func narrowMatmul(_ node: Node, in g: Graph) -> NarrowProduct? {
    var op = node.op
    if case .fused(let k) = node.op, let head = k.head { op = head }
    guard case .matmul(let ta, let tb) = op, node.shape.count == 2, node.shape[1] <= narrowColumns else { return nil }
    let a = g.shape(node.inputs[0])
    let p = NarrowProduct(m: node.shape[0], n: node.shape[1], k: ta ? a[0] : a[1], transA: ta, transB: tb)
    // Rows of A against rows of B (B transposed, or small enough to transpose
    // on the fly), or A^T B summed in registers down A's rows.
    let supported = ta ? !tb : (tb || p.n * p.k <= 8192)
    return supported ? p : nil
  }

  /// The oneDNN primitive for a product node (or a fused kernel's head).
  static func makeProduct(_ node: Node, in g: Graph) throws -> DNNLPrimitive? {
    if narrowMatmul(node, in: g) != nil { return nil }
    var op = node.op
    var epilogue: ganc_epilogue? = nil
    if case .fused(let k) = node.op {
      guard let head = k.head else { return nil }
      op = head
      epilogue = oneDNNEpilogue(k, node, in: g)?.0
    }
    switch op {
    case .matmul(let ta, let tb) where node.shape.count == 3:
      let a = g.shape(node.inputs[0])
      return try DNNLPrimitive(matmul: node.shape[1], node.shape[2], ta ? a[1] : a[2], batch: node.shape[0], transposeA: ta, transposeB: tb, epilogue: nil)
    case .matmul(let ta, let tb):
      let a = g.shape(node.inputs[0])
      return try DNNLPrimitive(matmul: node.shape[0], node.shape[1], ta ? a[0] : a[1], transposeA: ta, transposeB: tb, epilogue: epilogue)
    case .conv(let c):
      let s = convShape(g.shape(node.inputs[0]), g.shape(node.inputs[1]), node.shape, c, xLayout: g[node.inputs[0]].layout, yLayout: node.layout)
      return try DNNLPrimitive(conv: GANC_CONV_FORWARD, shape: s, epilogue: epilogue)
    case .convTranspose(let c):
      let s = convShape(node.shape, g.shape(node.inputs[1]), g.shape(node.inputs[0]), c, xLayout: node.layout, yLayout: g[node.inputs[0]].layout)
      return try DNNLPrimitive(conv: GANC_CONV_BACKWARD_DATA, shape: s, epilogue: nil)
    case .convWeight(let c):
      let s = convShape(
        g.shape(node.inputs[0]), node.shape, g.shape(node.inputs[1]), c, xLayout: g[node.inputs[0]].layout, yLayout: g[node.inputs[1]].layout)
      return try DNNLPrimitive(conv: GANC_CONV_BACKWARD_WEIGHTS, shape: s, epilogue: nil)
    default:
      return nil
    }
  }

  func bind(_ p: Program, products: [Int: DNNLPrimitive]) throws -> BoundProgram {
    let g = p.graph
    var steps: [Step] = []
    var inputs: [String: UnsafeMutableBufferPointer<Float>] = [:]
    var stepNodes: [Node?] = []
    // The persistent tensor each value is assigned to: a parameter's update is the kernel assigned to it.
    var assignedTo: [ValueID: String] = [:]
    for node in g.nodes { if case .assign(let name) = node.op { assignedTo[node.inputs[0]] = name } }
    for (i, node) in g.nodes.enumerated() {
      defer { while stepNodes.count < steps.count { stepNodes.append(node) } }
      let out = pointer(i, p.kind)
      let ins = node.inputs.map { pointer($0, p.kind) }
      let shapes = node.inputs.map { g.shape($0) }
      switch node.op {
      case .input(let name):
        inputs[name] = UnsafeMutableBufferPointer(start: out, count: node.elementCount)
      case .parameter, .reshape, .stopGradient:
        break
      case .constant(let c):
        steps.append(.fill(out, count: node.elementCount, value: Float(c)))
      case .random(let stream):
        steps.append(.random(out, count: node.elementCount, stream: stream))
      case .unary(let f):
        steps.append(
          .elementwise(
            ElementwiseKernel(code: [.load(0), .unary(f, 0)], operands: ins, operandShapes: shapes, output: out, shape: node.shape, layout: node.layout)))
      case .binary(let f):
        steps.append(
          .elementwise(
            ElementwiseKernel(
              code: [.load(0), .load(1), .binary(f, 0, 1)], operands: ins, operandShapes: shapes, output: out, shape: node.shape, layout: node.layout)))
      case .allReduce:
        steps.append(.allReduce(ins[0], out, count: node.elementCount))
      case .convert:
        let s = node.shape
        steps.append(.convert(ins[0], out, n: s[0], c: s[1], hw: s[2] * s[3], toBlocked: node.layout == .nChw16c))
      case .matmul, .conv, .convTranspose, .convWeight:
        if let product = Self.narrowMatmul(node, in: g) {
          steps.append(.narrowMatmul(a: ins[0], b: ins[1], out: out, product, epilogue: nil))
        } else {
          steps.append(.product(op: products[i]!, a: ins[0], b: ins[1], bias: nil, out: out, epilogue: nil))
        }
      case .fused(let k):
        let stores = try k.stores.map { store in
          guard let offset = plan.persistentOffsets[store.name] else { throw RuntimeError("a kernel stores into unknown tensor '\(store.name)'") }
          return (register: store.register, into: (base + offset).assumingMemoryBound(to: Float.self))
        }
        // A summing kernel runs over its domain, in its full-size operands' layout.
        let domain = k.reduction?.domain ?? node.shape
        let layout = k.reduction == nil ? node.layout : (node.inputs.first { g.shape($0) == domain }.map { g[$0].layout } ?? .plain)
        // The program on our interpreter, built only where nothing else runs it.
        func interpreted() -> ElementwiseKernel {
          ElementwiseKernel(
            code: k.code, operands: ins, operandShapes: shapes, output: out, shape: domain, stores: stores, layout: layout, sum: k.reduction)
        }
        if let product = Self.narrowMatmul(node, in: g) {
          steps.append(.narrowMatmul(a: ins[0], b: ins[1], out: out, product, epilogue: interpreted()))
        } else if k.head != nil, let (_, bias) = Self.oneDNNEpilogue(k, node, in: g) {
          steps.append(.product(op: products[i]!, a: ins[0], b: ins[1], bias: bias.map { ins[$0] }, out: out, epilogue: nil))
        } else if k.head != nil {
          steps.append(.product(op: products[i]!, a: ins[0], b: ins[1], bias: nil, out: out, epilogue: interpreted()))
        } else if k.reduction == nil, let target = assignedTo[i], let rule = p.updates[target],
          let update = OptimizerKernel.checked(
            rule, target: target, reads: node.inputs.map { g[$0].op }, code: k.code, operands: ins, operandShapes: shapes,
            stores: zip(k.stores, stores).map { (name: $0.name, register: $1.register, into: $1.into) }, output: out, shape: node.shape)
        {
          steps.append(.optimizer(update))
        } else {
          steps.append(.elementwise(interpreted()))
        }
      case .reduceSum(let axes), .reduceMax(let axes):
        var isMax = false
        if case .reduceMax = node.op { isMax = true }
        if g[node.inputs[0]].layout == .nChw16c {
          let s = shapes[0]
          steps.append(.channelReduce(ins[0], out, n: s[0], c: s[1], hw: s[2] * s[3], isMax: isMax))
        } else {
          steps.append(.reduce(ReduceKernel(input: ins[0], output: out, shape: shapes[0], axes: axes, isMax: isMax)))
        }
      case .broadcast:
        steps.append(.broadcast(ins[0], from: shapes[0], to: node.shape, out))
      case .concat(let axis):
        var offset = 0
        for (k, s) in shapes.enumerated() {
          steps.append(.block(ins[k], out, small: s, large: node.shape, axis: axis, offset: offset, intoLarge: true, zeroFirst: 0))
          offset += s[axis]
        }
      case .slice(let axis, let start):
        steps.append(.block(ins[0], out, small: node.shape, large: shapes[0], axis: axis, offset: start, intoLarge: false, zeroFirst: 0))
      case .pad(let axis, let before):
        steps.append(.block(ins[0], out, small: shapes[0], large: node.shape, axis: axis, offset: before, intoLarge: true, zeroFirst: node.elementCount))
      case .gather:
        steps.append(.gather(table: ins[0], ids: ins[1], out: out, rows: shapes[0][0], dim: shapes[0][1], count: shapes[1][0]))
      case .scatterAdd:
        steps.append(.scatterAdd(ins[0], ids: ins[1], out: out, rows: node.shape[0], dim: node.shape[1], count: shapes[0][0]))
      case .assign:
        if ins[0] != out { steps.append(.copy(ins[0], out, count: node.elementCount)) }
      }
    }
    var outputs: [String: UnsafeMutableBufferPointer<Float>] = [:]
    for o in g.outputs {
      outputs[g.outputNames[o] ?? "\(o)"] = UnsafeMutableBufferPointer(start: pointer(o, p.kind), count: g[o].elementCount)
    }
    // Inputs the graph still reads, resolved once; declared ones the passes removed are left out.
    let bound = p.inputs.compactMap { input in inputs[input.name].map { (input: input, buffer: $0) } }
    return BoundProgram(kind: p.kind, steps: steps, nodes: stepNodes, inputs: bound, inputsByName: inputs, outputs: outputs)
  }

}
