/// An SSA value: the index of the node that defines it.
public typealias ValueID = Int

/// How a value's elements lie in memory. Values mean the same in every
/// layout (shapes and the reference evaluator are logical, NCHW); the layout
/// pass picks the one that the kernels producing and reading a value share.
public enum Layout: String, Hashable, Sendable, CaseIterable {
  /// Row-major in the order of the shape's axes.
  case plain
  /// [N C H W] as [N, C/16, H, W, 16]: the channel-blocked layout oneDNN's
  /// convolutions run in, so no reorder sits between two of them.
  case nChw16c

  /// Whether a value of `shape` can have this layout.
  public func fits(_ shape: [Int]) -> Bool {
    switch self {
    case .plain: return true
    case .nChw16c: return shape.count == 4 && shape[1] % 16 == 0
    }
  }

  /// Whether an elementwise kernel running in this layout can read an
  /// operand of shape `operand` broadcast to `shape` (nChw16c: a scalar or
  /// a per-channel [1 C 1 1]).
  public func readsBroadcast(_ operand: [Int], into shape: [Int]) -> Bool {
    self == .plain || operand.reduce(1, *) == 1 || operand == [1, shape[1], 1, 1]
  }

  /// Whether a sum over `axes` can read values in this layout (nChw16c: per channel only).
  public func sums(over axes: [Int]) -> Bool { self == .plain || axes == [0, 2, 3] }
}

/// One node: an op, its operands, its static shape (the batch included) and its layout.
public struct Node: Hashable, Sendable {
  public init(op: Op, inputs: [ValueID], shape: [Int], layout: Layout = .plain) {
    self.op = op
    self.inputs = inputs
    self.shape = shape
    self.layout = layout
  }

  public var op: Op
  public var inputs: [ValueID]
  public var shape: [Int]
  public var layout: Layout

  public var elementCount: Int { shape.reduce(1, *) }
}

/// A problem found while building or verifying a graph.
public struct IRError: Error, CustomStringConvertible, Sendable {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A graph of SSA values in schedule order: each node reads only earlier ones.
///
/// Builder methods infer each result's shape and refuse ill-shaped operands,
/// so a graph built through them always verifies.
public struct Graph: Hashable, Sendable {
  public internal(set) var nodes: [Node] = []
  /// Values the step must produce (losses, metrics); assignments are always kept.
  public var outputs: [ValueID] = []
  /// Names for outputs, printed in the text form.
  public var outputNames: [ValueID: String] = [:]

  public init() {}

  public subscript(_ id: ValueID) -> Node { nodes[id] }
  public func shape(_ id: ValueID) -> [Int] { nodes[id].shape }

  /// Appends a node after checking its operands' shapes.
  @discardableResult
  public mutating func add(_ op: Op, _ inputs: [ValueID], shape: [Int]? = nil, layout: Layout = .plain) throws -> ValueID {
    for i in inputs where i < 0 || i >= nodes.count { throw IRError("operand %\(i) is not defined before use") }
    let s = try inferShape(op, inputs.map { nodes[$0].shape }, declared: shape)
    if let shape, shape != s { throw IRError("\(op.mnemonic) makes shape \(s), not the declared \(shape)") }
    try checkLayouts(op, inputs.map { nodes[$0] }, shape: s, layout: layout)
    nodes.append(Node(op: op, inputs: inputs, shape: s, layout: layout))
    return nodes.count - 1
  }

  /// Which layouts each op reads and writes: elementwise kernels share one
  /// layout among their full-size operands (broadcast operands are plain
  /// scalars or per-channel [1 C 1 1]); products read and write any layout;
  /// a reduction reads nChw16c only over the batch and spatial axes; `convert`
  /// changes layout; everything else is plain.
  func checkLayouts(_ op: Op, _ ins: [Node], shape: [Int], layout: Layout) throws {
    guard layout.fits(shape) else { throw IRError("a value of shape \(shape) cannot be \(layout.rawValue)") }
    func plainOnly(_ what: [Node]) throws {
      if what.contains(where: { $0.layout != .plain }) { throw IRError("\(op.mnemonic) reads only plain values") }
    }
    switch op {
    case .convert:
      break
    case .stopGradient:
      if layout != ins[0].layout { throw IRError("stop_gradient keeps its input's layout") }
    case .matmul, .conv, .convTranspose, .convWeight:
      if case .convWeight = op, layout != .plain { throw IRError("weights are plain") }
    case .fused(let k) where k.reduction != nil:
      let r = k.reduction!
      if layout != .plain { throw IRError("a kernel's sum is plain") }
      let domain = ins.first { $0.shape == r.domain }?.layout ?? .plain
      if !domain.sums(over: r.axes) { throw IRError("a kernel sums nChw16c only over axes 0,2,3") }
      try checkElementwise(ins, shape: r.domain, layout: domain)
    case .fused(let k):
      // The epilogue's operands follow the product's.
      try checkElementwise(Array(ins.dropFirst(k.headArity)), shape: shape, layout: layout)
      if layout != .plain && !k.stores.isEmpty { throw IRError("a kernel that stores is plain") }
    case .unary, .binary:
      try checkElementwise(ins, shape: shape, layout: layout)
    case .reduceSum(let axes), .reduceMax(let axes):
      if layout != .plain || !ins[0].layout.sums(over: axes) {
        throw IRError("a reduction reads nChw16c only over axes 0,2,3 and writes plain")
      }
    default:
      try plainOnly(ins)
      if layout != .plain { throw IRError("\(op.mnemonic) writes plain values") }
    }
  }

  private func checkElementwise(_ ins: [Node], shape: [Int], layout: Layout) throws {
    for n in ins {
      if n.shape == shape {
        if n.layout != layout { throw IRError("an elementwise operand is \(n.layout.rawValue), the result \(layout.rawValue)") }
      } else if n.layout != .plain {
        throw IRError("a broadcast operand is plain")
      } else if !layout.readsBroadcast(n.shape, into: shape) {
        throw IRError("an nChw16c kernel broadcasts only scalars and [1 C 1 1]")
      }
    }
  }

  /// Replaces the whole node list (passes use this); the result must verify.
  public mutating func replaceNodes(_ new: [Node], outputs: [ValueID], names: [ValueID: String]) {
    nodes = new
    self.outputs = outputs
    outputNames = names
  }

  // MARK: Convenience builders (they trap only on programmer error inside the compiler)

  public mutating func input(_ name: String, _ shape: [Int]) -> ValueID { try! add(.input(name), [], shape: shape) }
  public mutating func parameter(_ name: String, _ shape: [Int]) -> ValueID { try! add(.parameter(name), [], shape: shape) }
  public mutating func constant(_ v: Double, _ shape: [Int] = []) -> ValueID { try! add(.constant(v), [], shape: shape) }
  public mutating func unary(_ f: UnaryFunction, _ x: ValueID) -> ValueID { try! add(.unary(f), [x]) }
  public mutating func binary(_ f: BinaryFunction, _ a: ValueID, _ b: ValueID) -> ValueID { try! add(.binary(f), [a, b]) }
  public mutating func addv(_ a: ValueID, _ b: ValueID) -> ValueID { binary(.add, a, b) }
  public mutating func sub(_ a: ValueID, _ b: ValueID) -> ValueID { binary(.sub, a, b) }
  public mutating func mul(_ a: ValueID, _ b: ValueID) -> ValueID { binary(.mul, a, b) }
  public mutating func div(_ a: ValueID, _ b: ValueID) -> ValueID { binary(.div, a, b) }
  public mutating func scale(_ a: ValueID, _ c: Double) -> ValueID { mul(a, constant(c)) }
  public mutating func reshape(_ x: ValueID, _ shape: [Int]) -> ValueID { try! add(.reshape, [x], shape: shape) }
  public mutating func broadcast(_ x: ValueID, _ shape: [Int]) -> ValueID {
    nodes[x].shape == shape ? x : try! add(.broadcast, [x], shape: shape)
  }
  public mutating func sum(_ x: ValueID, axes: [Int]) -> ValueID {
    axes.isEmpty ? x : try! add(.reduceSum(axes: axes), [x])
  }
  /// The sum of every element, as a scalar.
  public mutating func sumAll(_ x: ValueID) -> ValueID {
    let s = sum(x, axes: Array(0..<nodes[x].shape.count))
    return nodes[s].shape.isEmpty ? s : reshape(s, [])
  }
  public mutating func meanAll(_ x: ValueID) -> ValueID { scale(sumAll(x), 1 / Double(nodes[x].elementCount)) }

  // MARK: Shapes

  private func inferShape(_ op: Op, _ s: [[Int]], declared: [Int]?) throws -> [Int] {
    func need(_ n: Int) throws {
      if s.count != n { throw IRError("\(op.mnemonic) takes \(n) operands, not \(s.count)") }
    }
    switch op {
    case .input, .parameter, .constant, .random:
      try need(0)
      guard let declared, declared.allSatisfy({ $0 > 0 }) else { throw IRError("\(op.mnemonic) needs a positive shape") }
      return declared
    case .unary:
      try need(1)
      return s[0]
    case .binary:
      try need(2)
      if s[0] == s[1] || s[1].isEmpty { return s[0] }
      if s[0].isEmpty { return s[1] }
      throw IRError("\(op.mnemonic) of shapes \(s[0]) and \(s[1])")
    case .matmul(let ta, let tb):
      try need(2)
      // 2-D, or batched: [B, M, K] x [B, K, N] (the transposes apply to the last two axes).
      let batched = s[0].count == 3 && s[1].count == 3 && s[0][0] == s[1][0]
      guard (s[0].count == 2 && s[1].count == 2) || batched else { throw IRError("matmul needs 2-D operands, or 3-D with one batch size") }
      let (a, b) = (Array(s[0].suffix(2)), Array(s[1].suffix(2)))
      let (m, k1) = ta ? (a[1], a[0]) : (a[0], a[1])
      let (k2, n) = tb ? (b[1], b[0]) : (b[0], b[1])
      guard k1 == k2 else { throw IRError("matmul inner sizes \(k1) and \(k2) differ") }
      return batched ? [s[0][0], m, n] : [m, n]
    case .conv(let a):
      try need(2)
      guard s[0].count == 4, s[1].count == 4, s[0][1] == s[1][1] else { throw IRError("conv of \(s[0]) with \(s[1])") }
      let oh = (s[0][2] + a.padding.top + a.padding.bottom - a.dilation.0 * (s[1][2] - 1) - 1) / a.stride.0 + 1
      let ow = (s[0][3] + a.padding.left + a.padding.right - a.dilation.1 * (s[1][3] - 1) - 1) / a.stride.1 + 1
      guard oh > 0, ow > 0 else { throw IRError("conv leaves no output") }
      return [s[0][0], s[1][0], oh, ow]
    case .convTranspose, .convWeight:
      try need(2)
      guard let declared, declared.count == 4 else { throw IRError("\(op.mnemonic) needs its declared shape") }
      return declared
    case .reduceSum(let axes), .reduceMax(let axes):
      try need(1)
      guard axes.allSatisfy({ $0 >= 0 && $0 < s[0].count }) else { throw IRError("reduce axes \(axes) outside \(s[0])") }
      var out = s[0]
      for a in axes { out[a] = 1 }
      return out
    case .broadcast:
      try need(1)
      guard let declared else { throw IRError("broadcast needs its declared shape") }
      let from = s[0]
      guard from.isEmpty || (from.count == declared.count && zip(from, declared).allSatisfy({ $0 == $1 || $0 == 1 })) else {
        throw IRError("cannot broadcast \(from) to \(declared)")
      }
      return declared
    case .reshape:
      try need(1)
      guard let declared, declared.reduce(1, *) == s[0].reduce(1, *) else { throw IRError("reshape changes the element count") }
      return declared
    case .concat(let axis):
      guard !s.isEmpty, s.allSatisfy({ $0.count == s[0].count }), axis >= 0, axis < s[0].count else { throw IRError("concat operands") }
      var out = s[0]
      out[axis] = s.reduce(0) { $0 + $1[axis] }
      for t in s { for d in 0..<t.count where d != axis && t[d] != out[d] { throw IRError("concat shapes \(s)") } }
      return out
    case .slice(let axis, let start):
      try need(1)
      guard let declared, declared.count == s[0].count, start >= 0, start + declared[axis] <= s[0][axis] else { throw IRError("slice bounds") }
      return declared
    case .pad(let axis, let before):
      try need(1)
      guard let declared, declared.count == s[0].count, before >= 0, before + s[0][axis] <= declared[axis] else { throw IRError("pad bounds") }
      return declared
    case .gather:
      try need(2)
      guard s[0].count == 2, s[1].count == 2, s[1][1] == 1 else { throw IRError("gather needs a [R D] table and [N 1] ids") }
      return [s[1][0], s[0][1]]
    case .scatterAdd:
      try need(2)
      guard let declared, declared.count == 2, s[0].count == 2, s[0][1] == declared[1] else { throw IRError("scatter_add shapes") }
      return declared
    case .assign, .convert, .stopGradient, .allReduce:
      try need(1)
      return s[0]
    case .fused(let k):
      var shape: [Int]
      if let head = k.head {
        guard s.count >= 2 else { throw IRError("a fused product needs its operands") }
        shape = try inferShape(head, Array(s[0..<2]), declared: declared)
      } else if let r = k.reduction {
        guard !r.domain.isEmpty, r.domain.allSatisfy({ $0 >= 1 }), r.axes.allSatisfy({ $0 >= 0 && $0 < r.domain.count }),
          KernelReduction.isSupported(axes: r.axes, rank: r.domain.count)
        else { throw IRError("a kernel's sum needs axes of its domain with the kept axes in one run") }
        shape = r.domain
      } else {
        guard let declared else { throw IRError("an elementwise kernel needs its declared shape") }
        shape = declared
      }
      for (i, t) in s.enumerated().dropFirst(k.headArity) {
        guard t.isEmpty || t == shape || (t.count == shape.count && zip(t, shape).allSatisfy { $0 == $1 || $0 == 1 }) else {
          throw IRError("fused operand \(i) of shape \(t) does not broadcast to \(shape)")
        }
      }
      for (r, instruction) in k.code.enumerated() {
        switch instruction {
        case .head: if k.head == nil { throw IRError("a kernel without a product reads its head") }
        case .load(let i): if i < k.headArity || i >= s.count { throw IRError("load of operand \(i)") }
        case .constant: break
        case .unary(_, let a): if a >= r { throw IRError("register \(a) read before it is set") }
        case .binary(_, let a, let b): if a >= r || b >= r { throw IRError("register read before it is set") }
        }
      }
      if k.code.isEmpty { throw IRError("an empty kernel") }
      for store in k.stores where store.register < 0 || store.register >= k.code.count {
        throw IRError("store of register \(store.register) into '\(store.name)'")
      }
      if let r = k.reduction {
        if k.head != nil || !k.stores.isEmpty { throw IRError("only a plain elementwise kernel ends in a sum") }
        return r.shape
      }
      return shape
    }
  }

  /// Checks SSA order and every node's shape; throws on the first problem.
  public func verify() throws {
    var check = Graph()
    for (i, node) in nodes.enumerated() {
      do {
        let id = try check.add(node.op, node.inputs, shape: node.shape, layout: node.layout)
        if check.nodes[id].shape != node.shape { throw IRError("shape \(node.shape) should be \(check.nodes[id].shape)") }
      } catch let e as IRError {
        throw IRError("%\(i) = \(node.op.mnemonic): \(e.message)")
      }
    }
    for o in outputs where o < 0 || o >= nodes.count { throw IRError("output %\(o) is not defined") }
    // Kernels run in order and an assignment writes when it runs: no node
    // may read a persistent tensor after the node that overwrites it.
    var written: [String: Int] = [:]
    for (i, n) in nodes.enumerated() {
      for j in n.inputs {
        if let name = parameterName(viewedBy: j), let w = written[name], w < i { throw IRError("%\(i) reads '\(name)' after %\(w) wrote it") }
      }
      if case .assign(let name) = n.op, written[name] == nil { written[name] = i }
      if case .fused(let k) = n.op { for s in k.stores where written[s.name] == nil { written[s.name] = i } }
    }
    for o in outputs where nodes[o].layout != .plain { throw IRError("output %\(o) is not plain") }
  }

  /// How many nodes read each value.
  public func useCounts() -> [Int] {
    var uses = [Int](repeating: 0, count: nodes.count)
    for n in nodes { for i in n.inputs { uses[i] += 1 } }
    for o in outputs { uses[o] += 1 }
    return uses
  }
}
