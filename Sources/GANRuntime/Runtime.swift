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

/// One kernel call with its pointers fixed at build time.
enum Step {
  /// A oneDNN product; its epilogue runs inside oneDNN (bias, post-op) or after it as our kernel.
  case product(
    op: OpaquePointer, a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?,
    out: UnsafeMutablePointer<Float>, epilogue: ElementwiseKernel?)
  case elementwise(ElementwiseKernel)
  /// A fused kernel recognised as a whole optimizer update (see OptimizerKernel).
  case optimizer(OptimizerKernel)
  case reduce(ReduceKernel)
  case broadcast(UnsafeMutablePointer<Float>, from: [Int], to: [Int], UnsafeMutablePointer<Float>)
  case fill(UnsafeMutablePointer<Float>, count: Int, value: Float)
  case random(UnsafeMutablePointer<Float>, count: Int, stream: Int)
  case block(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, small: [Int], large: [Int], axis: Int, offset: Int, intoLarge: Bool, zeroFirst: Int)
  case gather(table: UnsafeMutablePointer<Float>, ids: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, count: Int)
  case scatterAdd(UnsafeMutablePointer<Float>, ids: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, dim: Int, count: Int)
  case copy(UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>, count: Int)
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

/// Compiled programs bound to one arena and run on a thread pool: no
/// allocation, lookup or dispatch per element while training runs.
public final class Runtime: @unchecked Sendable {
  public let plan: MemoryPlan
  public let programList: [Program]
  public let persistentInfo: [ParameterInfo]
  public let pool: ThreadPool
  /// The planned arena plus the scratch region (oneDNN scratchpads and reorders, kernel registers).
  public let arenaBytes: Int
  public let scratchBytes: Int
  let base: UnsafeMutableRawPointer
  let scratch: UnsafeMutableRawPointer
  let registerBytesPerThread: Int
  var programs: [ProgramKind: BoundProgram] = [:]
  var ops: [OpaquePointer] = []
  /// oneDNN's choice per product, for reports.
  public private(set) var implementations: [String] = []

  /// Binds a compiled model's programs to a new arena.
  public convenience init(model: CompiledModel, threads: Int) throws {
    try self.init(programs: model.programs, persistent: model.persistent, plan: model.plan, threads: threads)
  }

  /// Binds `programs` (planned by `plan`) to a new arena.
  public init(programs: [Program], persistent: [ParameterInfo], plan: MemoryPlan, threads: Int) throws {
    self.plan = plan
    programList = programs
    persistentInfo = persistent
    pool = ThreadPool(threads: threads)
    ganc_dnnl_set_threads(Int32(threads))
    // Sizes first: oneDNN ops and kernel registers need scratch space.
    var products: [(ProgramKind, Int, OpaquePointer)] = []
    var maxScratch = 0, maxRegisters = 4  // a lone binary op: two loads, its result, a spare
    for p in programs {
      for (i, node) in p.graph.nodes.enumerated() {
        if let op = try Self.makeProduct(node, in: p.graph) {
          products.append((p.kind, i, op))
          maxScratch = max(maxScratch, ganc_op_scratch_size(op))
        }
        // A kernel's registers share at most one slot per instruction, plus a spare for a summed tile.
        if case .fused(let k) = node.op { maxRegisters = max(maxRegisters, k.code.count + 1) }
      }
    }
    registerBytesPerThread = maxRegisters * ElementwiseKernel.tile * 4
    let scratchStart = (plan.arenaBytes + 63) / 64 * 64
    scratchBytes = (maxScratch + 63) / 64 * 64 + registerBytesPerThread * pool.threads
    arenaBytes = scratchStart + scratchBytes
    guard let memory = aligned_alloc(64, (arenaBytes + 63) / 64 * 64) else {
      throw RuntimeError("cannot allocate the \(arenaBytes >> 20) MiB arena")
    }
    memset(memory, 0, arenaBytes)
    base = memory
    scratch = memory + scratchStart
    ops = products.map(\.2)
    var productOf: [ProgramKind: [Int: OpaquePointer]] = [:]
    for (program, i, op) in products {
      productOf[program, default: [:]][i] = op
      implementations.append(String(cString: ganc_op_implementation(op)))
    }
    for p in programs { self.programs[p.kind] = try bind(p, products: productOf[p.kind] ?? [:]) }
  }

  deinit {
    for op in ops { ganc_op_destroy(op) }
    free(base)
  }

  /// A pointer to value `v` of `program`.
  func pointer(_ v: ValueID, _ program: ProgramKind) -> UnsafeMutablePointer<Float> {
    (base + plan.offset(of: v, in: program)).assumingMemoryBound(to: Float.self)
  }

  /// The persistent tensor `name` (a parameter, optimizer state or statistic).
  public func persistent(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
    guard let offset = plan.persistentOffsets[name], let info = persistentInfo.first(where: { $0.name == name }) else { return nil }
    return UnsafeMutableBufferPointer(start: (base + offset).assumingMemoryBound(to: Float.self), count: info.shape.reduce(1, *))
  }

  /// The persistent region (parameters, optimizer state, statistics) as bytes,
  /// for snapshots that a divergence guard can roll back to.
  public var persistentRegion: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: base, count: plan.persistentBytes)
  }

  /// `kind` bound to this arena, if the model has it.
  public func program(_ kind: ProgramKind) -> BoundProgram? { programs[kind] }

  /// The buffer to fill for input `name` of `program`.
  public func input(_ name: String, of program: ProgramKind) -> UnsafeMutableBufferPointer<Float>? {
    programs[program]?.input(name)
  }

  /// The value of output `name` after `program` ran.
  public func output(_ name: String, of program: ProgramKind) -> UnsafeMutableBufferPointer<Float>? {
    programs[program]?.outputs[name]
  }

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
    guard case .matmul(let ta, let tb) = op, node.shape[1] <= narrowColumns else { return nil }
    let a = g.shape(node.inputs[0])
    let p = NarrowProduct(m: node.shape[0], n: node.shape[1], k: ta ? a[0] : a[1], transA: ta, transB: tb)
    // Rows of A against rows of B (B transposed, or small enough to transpose
    // on the fly), or A^T B summed in registers down A's rows.
    let supported = ta ? !tb : (tb || p.n * p.k <= 8192)
    return supported ? p : nil
  }

  /// The oneDNN primitive for a product node (or a fused kernel's head).
  static func makeProduct(_ node: Node, in g: Graph) throws -> OpaquePointer? {
    if narrowMatmul(node, in: g) != nil { return nil }
    var op = node.op
    var epilogue: ganc_epilogue? = nil
    if case .fused(let k) = node.op {
      guard let head = k.head else { return nil }
      op = head
      epilogue = oneDNNEpilogue(k, node, in: g)?.0
    }
    var error = [CChar](repeating: 0, count: 256)
    let made: OpaquePointer?
    switch op {
    case .matmul(let ta, let tb):
      let a = g.shape(node.inputs[0])
      let k = ta ? a[0] : a[1]
      made = withUnsafePointer(to: epilogue ?? ganc_epilogue()) { e in
        ganc_matmul_create(Int64(node.shape[0]), Int64(node.shape[1]), Int64(k), ta ? 1 : 0, tb ? 1 : 0, epilogue == nil ? nil : e, &error, 256)
      }
    case .conv(let c):
      var s = convShape(g.shape(node.inputs[0]), g.shape(node.inputs[1]), node.shape, c, xLayout: g[node.inputs[0]].layout, yLayout: node.layout)
      made = withUnsafePointer(to: epilogue ?? ganc_epilogue()) { e in
        ganc_conv_create(GANC_CONV_FORWARD, &s, epilogue == nil ? nil : e, &error, 256)
      }
    case .convTranspose(let c):
      var s = convShape(node.shape, g.shape(node.inputs[1]), g.shape(node.inputs[0]), c, xLayout: node.layout, yLayout: g[node.inputs[0]].layout)
      made = ganc_conv_create(GANC_CONV_BACKWARD_DATA, &s, nil, &error, 256)
    case .convWeight(let c):
      var s = convShape(
        g.shape(node.inputs[0]), node.shape, g.shape(node.inputs[1]), c, xLayout: g[node.inputs[0]].layout, yLayout: g[node.inputs[1]].layout)
      made = ganc_conv_create(GANC_CONV_BACKWARD_WEIGHTS, &s, nil, &error, 256)
    default:
      return nil
    }
    guard let made else { throw RuntimeError(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
    return made
  }

  private func bind(_ p: Program, products: [Int: OpaquePointer]) throws -> BoundProgram {
    let g = p.graph
    var steps: [Step] = []
    var inputs: [String: UnsafeMutableBufferPointer<Float>] = [:]
    var stepNodes: [Node?] = []
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
        } else if k.reduction == nil,
          let update = OptimizerKernel.recognise(k.code, operands: ins, operandShapes: shapes, stores: stores, output: out, shape: node.shape)
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

  /// Time spent per kernel kind and shape while `profiling` is on (kind -> seconds, calls).
  public var profile: [String: (seconds: Double, calls: Int)] = [:]
  public var profiling = false

  static func describe(_ step: Step, _ node: Node?) -> String {
    let shape = node.map { "[" + $0.shape.map(String.init).joined(separator: ",") + "]" } ?? ""
    switch step {
    case .product(_, _, _, _, _, let epilogue):
      return "product "
        + (node.map { n -> String in
          if case .fused(let k) = n.op { return (k.head?.mnemonic ?? "") + "+epilogue(\(k.code.count))" + (epilogue == nil ? " in oneDNN" : "") }
          return n.op.mnemonic
        } ?? "") + " " + shape
    case .elementwise(let k): return "elementwise(\(k.code.count)) " + shape
    case .optimizer(let k): return k.name + " update " + shape
    case .reduce(let r): return "reduce axes=\(r.axes) of [" + r.shape.map(String.init).joined(separator: ",") + "]"
    case .broadcast: return "broadcast " + shape
    case .fill: return "fill"
    case .random: return "random"
    case .block: return "copy block"
    case .gather: return "gather"
    case .scatterAdd: return "scatter_add"
    case .copy: return "copy " + shape
    case .narrowMatmul(_, _, _, _, let epilogue): return "narrow matmul" + (epilogue == nil ? " " : "+epilogue ") + shape
    case .convert(_, _, _, _, _, let toBlocked): return (toBlocked ? "convert to nChw16c " : "convert to NCHW ") + shape
    case .channelReduce: return "channel reduce of nChw16c " + (node.map { "[" + $0.shape.map(String.init).joined(separator: ",") + "]" } ?? "")
    }
  }

  /// Runs `program` once, its random ops (dropout, the gradient penalty's
  /// interpolation) reading `RunRandom(seed: seed)`, as a `ReferenceEvaluator`
  /// made with the same seed does.
  public func run(_ program: ProgramKind, seed: UInt64) throws {
    guard let p = programs[program] else { throw RuntimeError("no program '\(program.name)'") }
    try run(p, random: RunRandom(seed: seed))
  }

  /// Runs a bound program once; `random` says which random numbers its ops read.
  public func run(_ p: BoundProgram, random: RunRandom) throws {
    let program = p.kind.name
    if profiling {
      let clock = ContinuousClock()
      for (k, step) in p.steps.enumerated() {
        let t = try clock.measure { try execute(step, program: program, random: random) }
        let key = "\(program) " + Self.describe(step, p.nodes[k])
        let seconds = Double(t.components.attoseconds) * 1e-18 + Double(t.components.seconds)
        profile[key, default: (0, 0)].seconds += seconds
        profile[key, default: (0, 0)].calls += 1
      }
      return
    }
    for step in p.steps { try execute(step, program: program, random: random) }
  }

  @inline(__always)
  private func execute(_ step: Step, program: String, random: RunRandom) throws {
    let registers = (scratch + (scratchBytes - registerBytesPerThread * pool.threads)).assumingMemoryBound(to: Float.self)
    let perThread = registerBytesPerThread / 4
    let pool = self.pool
    func elementwise(_ k: ElementwiseKernel) {
      guard let kept = k.summing.map({ Int($0.kept) }) else {
        pool.parallelParts(count: k.count, granularity: ElementwiseKernel.tile) { part, range in
          k.run(range, scratch: registers + part * perThread)
        }
        return
      }
      // Each part sums into its own row; rows are added in part order, so the
      // result depends only on the thread count.
      let parts = pool.parts(count: k.count, minimumPerThread: 16384)
      withUnsafeTemporaryAllocation(of: Double.self, capacity: parts * kept) { partial in
        partial.initialize(repeating: 0)
        pool.parallelParts(count: k.count, minimumPerThread: 16384, granularity: ElementwiseKernel.tile) { part, range in
          k.run(range, scratch: registers + part * perThread, sums: partial.baseAddress! + part * kept)
        }
        for c in 0..<kept {
          var total = 0.0
          for p in 0..<parts { total += partial[p * kept + c] }
          k.output[c] = Float(total)
        }
      }
    }
    do {
      switch step {
      case .product(let op, let a, let b, let bias, let out, let epilogue):
        guard ganc_op_execute(op, a, b, bias, out, scratch) == 0 else { throw RuntimeError("oneDNN failed in \(program)") }
        if let epilogue { elementwise(epilogue) }
      case .elementwise(let k):
        elementwise(k)
      case .optimizer(let k):
        pool.parallel(count: k.count, granularity: 16) { range in k.run(range) }
      case .narrowMatmul(let a, let b, let out, let p, let epilogue):
        let (m, n, k) = (Int64(p.m), Int64(p.n), Int64(p.k))
        pool.parallel(count: p.m, minimumPerThread: max(1, 65536 / max(p.n * p.k, 1)), granularity: p.transA ? 16 : 1) { rows in
          if p.transA {
            ganc_narrow_matmul_ta_rows(Int64(rows.lowerBound), Int64(rows.upperBound), m, n, k, a, b, out)
          } else {
            ganc_narrow_matmul_rows(Int64(rows.lowerBound), Int64(rows.upperBound), n, k, p.transB ? 1 : 0, a, b, out)
          }
        }
        if let epilogue { elementwise(epilogue) }
      case .reduce(let r):
        r.run(pool)
      case .broadcast(let input, let from, let to, let out):
        CopyKernels.broadcast(input, from: from, to: to, out, pool: pool)
      case .fill(let out, let count, let value):
        out.update(repeating: value, count: count)
      case .random(let out, let count, let stream):
        let id = random.stream(stream), seed = random.seed
        pool.parallel(count: count) { range in
          for i in range { out[i] = Float(CounterRandom.uniform(seed: seed, stream: id, index: i)) }
        }
      case .block(let input, let out, let small, let large, let axis, let offset, let intoLarge, let zeroFirst):
        if zeroFirst > 0 { out.update(repeating: 0, count: zeroFirst) }
        CopyKernels.block(input, out, small: small, large: large, axis: axis, offset: offset, intoLarge: intoLarge)
      case .gather(let table, let ids, let out, let rows, let dim, let count):
        for n in 0..<count {
          let r = Int(ids[n])
          guard r >= 0 && r < rows else { throw RuntimeError("class id \(r) is outside 0..<\(rows)") }
          (out + n * dim).update(from: table + r * dim, count: dim)
        }
      case .scatterAdd(let g, let ids, let out, let rows, let dim, let count):
        out.update(repeating: 0, count: rows * dim)
        for n in 0..<count {
          let r = Int(ids[n])
          guard r >= 0 && r < rows else { throw RuntimeError("class id \(r) is outside 0..<\(rows)") }
          let dst = out + r * dim, src = g + n * dim
          for j in 0..<dim { dst[j] += src[j] }
        }
      case .copy(let input, let out, let count):
        out.update(from: input, count: count)
      case .convert(let input, let out, let n, let c, let hw, let toBlocked):
        pool.parallel(count: n * c / 16, minimumPerThread: max(1, 8192 / (16 * hw)), granularity: 1) { blocks in
          ganc_nchw_blocks(input, out, Int64(c), Int64(hw), Int64(blocks.lowerBound), Int64(blocks.count), toBlocked ? 1 : 0)
        }
      case .channelReduce(let input, let out, let n, let c, let hw, let isMax):
        pool.parallel(count: c / 16, minimumPerThread: 1, granularity: 1) { blocks in
          ganc_blocked_channel_reduce(input, out, Int64(n), Int64(c), Int64(hw), Int64(blocks.lowerBound), Int64(blocks.count), isMax ? 1 : 0)
        }
      }
    }
  }
}

extension Runtime {
  /// This machine's single-precision matrix product speed in GFLOP/s, measured
  /// with the same oneDNN primitive the runtime runs products on (a 1024^3
  /// product, best of eight), on the threads oneDNN was last given.
  public static func sgemmPeak() -> Double {
    var error = [CChar](repeating: 0, count: 256)
    let n: Int64 = 1024
    guard let op = ganc_matmul_create(n, n, n, 0, 0, nil, &error, 256) else { return .nan }
    defer { ganc_op_destroy(op) }
    let count = Int(n * n)
    let a = [Float](repeating: 0.5, count: count), b = [Float](repeating: 0.25, count: count)
    var c = [Float](repeating: 0, count: count)
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(ganc_op_scratch_size(op), 64), alignment: 64)
    defer { scratch.deallocate() }
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<8 {
      let t = clock.measure { _ = ganc_op_execute(op, a, b, nil, &c, scratch) }
      best = min(best, Double(t.components.seconds) + Double(t.components.attoseconds) * 1e-18)
    }
    return 2 * Double(count) * Double(n) / best / 1e9
  }
}
