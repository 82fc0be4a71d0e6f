import GANIR

/// Fuses kernels:
/// - chains of elementwise ops (with scalar constants and broadcast operands)
///   into one loop;
/// - a product (matmul, convolution, transposed convolution) with the
///   elementwise ops that consume it: bias, activation, and in backward passes
///   the activation's derivative applied to the product that computes the
///   incoming gradient;
/// - normalisation's final scale, shift and activation into one loop;
/// - an elementwise program into the sum that alone reads it (batch norm's
///   variance and its gradient's sums), so the summed tensor is never stored;
/// - an optimizer's moment updates into the parameter update that reads
///   them: the `assign` of each moment becomes a store of the kernel, so one
///   pass over memory reads gradient, moments and parameter and writes all
///   three back (instead of three kernels and ten passes).
///
/// A value joins its consumer's kernel only when that consumer is its one
/// reader and it is not a step output, so nothing is lost; the one thing
/// computed twice is a cheap value that several kernels recompute (see
/// `recomputable`), which costs no extra memory traffic.
public enum Fusion {
  public static let name = "fuse"

  /// A kernel being built.
  struct Group {
    var head: Op?
    var operands: [ValueID]
    var code: [Instruction]
    /// Register of each value available inside: members, loads, constants.
    var registers: [ValueID: Int]
    /// Nodes computed inside the kernel (replaced by it).
    var members: Set<ValueID>
    var root: ValueID
    var alive = true
    /// Values also written into persistent tensors (replacing their `assign`).
    var stores: [(value: ValueID, name: String)] = []
    /// The sum that closes the kernel (nothing joins it after).
    var reduction: KernelReduction? = nil
  }

  /// A product an epilogue can join: a matmul (not a batched one, which
  /// takes no epilogue), a convolution or a transposed convolution.
  static func isHead(_ node: Node) -> Bool {
    switch node.op {
    case .matmul: return node.shape.count == 2
    case .conv, .convTranspose: return true
    default: return false
    }
  }

  static func isElementwise(_ op: Op) -> Bool {
    switch op {
    case .unary, .binary: return true
    default: return false
    }
  }

  /// What a kernel loads for value `v`: a broadcast's source when the kernel
  /// can read it through strides (same rank, or a scalar), else `v` itself.
  static func kernelSource(_ v: ValueID, in g: Graph) -> ValueID {
    let node = g.nodes[v]
    guard case .broadcast = node.op else { return v }
    let from = g.shape(node.inputs[0])
    return from.isEmpty || from.count == node.shape.count ? node.inputs[0] : v
  }

  /// How many nodes write each persistent tensor (assignments and stores).
  static func writeCounts(_ g: Graph) -> [String: Int] {
    var writers: [String: Int] = [:]
    for n in g.nodes {
      if case .assign(let name) = n.op { writers[name, default: 0] += 1 }
      if case .fused(let k) = n.op { for s in k.stores { writers[s.name, default: 0] += 1 } }
    }
    return writers
  }

  /// Assignments that may become a store of the kernel reading the value:
  /// value -> (assign node, persistent name). The value is elementwise, read
  /// by the assignment and exactly one other node, and nothing else writes
  /// that tensor.
  static func storableAssignments(_ g: Graph, uses: [Int]) -> [ValueID: (node: Int, name: String)] {
    let writers = writeCounts(g)
    let outputs = Set(g.outputs)
    var out: [ValueID: (node: Int, name: String)] = [:]
    for (i, n) in g.nodes.enumerated() {
      guard case .assign(let name) = n.op, writers[name] == 1 else { continue }
      let v = n.inputs[0]
      guard isElementwise(g.nodes[v].op), uses[v] == 2, !outputs.contains(v) else { continue }
      out[v] = (i, name)
    }
    return out
  }

  /// Values every reader recomputes instead of loading: an elementwise op
  /// over one full-size tensor and broadcast or scalar values (batch norm's
  /// x - mean), read several times, only by elementwise ops. A reader then
  /// loads x instead of x - mean, the same bytes, and the op's own pass
  /// (read x, write x - mean) is gone.
  static func recomputable(_ g: Graph, uses: [Int]) -> Set<ValueID> {
    var readers = [[Int]](repeating: [], count: g.nodes.count)
    for (i, n) in g.nodes.enumerated() { for j in n.inputs { readers[j].append(i) } }
    // A value read from a tensor the program overwrites stays computed where
    // it is: a later reader recomputing it would see the new contents.
    let written = writeCounts(g)
    let outputs = Set(g.outputs)
    var out = Set<ValueID>()
    /// Whether a kernel reads `j` without a full-size load (a constant, a
    /// smaller operand, a broadcast it reads through strides).
    func isCheap(_ j: ValueID, for n: Node) -> Bool {
      if case .constant = g.nodes[j].op { return true }
      return g.nodes[kernelSource(j, in: g)].elementCount < n.elementCount
    }
    for (v, n) in g.nodes.enumerated() where isElementwise(n.op) && uses[v] >= 2 && !outputs.contains(v) {
      let full = n.inputs.filter { !isCheap($0, for: n) }
      guard full.count <= 1, readers[v].allSatisfy({ isElementwise(g.nodes[$0].op) }),
        !n.inputs.contains(where: { g.parameterName(viewedBy: kernelSource($0, in: g)).map { written[$0] != nil } ?? false })
      else { continue }
      out.insert(v)
    }
    return out
  }

  public static func run(_ g: Graph) -> Graph {
    let uses = g.useCounts()
    let outputs = Set(g.outputs)
    var groupOf = [Int?](repeating: nil, count: g.nodes.count)
    var groups: [Group] = []
    let storable = storableAssignments(g, uses: uses)
    let recomputed = recomputable(g, uses: uses)
    var parameterReaders: [String: [Int]] = [:]
    for (i, node) in g.nodes.enumerated() {
      for j in node.inputs { if let name = g.parameterName(viewedBy: j) { parameterReaders[name, default: []].append(i) } }
    }
    var keep = [Bool](repeating: true, count: g.nodes.count)
    /// Whether node `i` may take value `v` (root of kernel `k`) by turning v's
    /// assignment into a store. The store runs with the kernel, so every read
    /// of the tensor's old value must be inside that kernel (it reads each
    /// element before writing it), and the kernel must cover the whole tensor.
    func canStore(_ v: ValueID, kernel k: Int, at i: Int) -> Bool {
      guard let (_, name) = storable[v] else { return false }
      return g.nodes[i].shape == g.nodes[v].shape && (parameterReaders[name] ?? []).allSatisfy { groupOf[$0] == k }
    }

    /// The operand slot of `source` in group `k`, added when new. A product's
    /// own operands are not loadable (the epilogue runs over the product's
    /// output, not its inputs), so an epilogue reading one of them, as a skip
    /// connection around one dense layer does, gets a slot of its own.
    func operandIndex(_ source: ValueID, in k: Int) -> Int {
      let loadable = FusedKernel.headArity(groups[k].head)
      if let existing = groups[k].operands[loadable...].firstIndex(of: source) { return existing }
      groups[k].operands.append(source)
      return groups[k].operands.count - 1
    }

    func register(_ v: ValueID, in k: Int) -> Int {
      if let r = groups[k].registers[v] { return r }
      let node = g.nodes[v]
      if recomputed.contains(v) {
        let regs = node.inputs.map { register($0, in: k) }
        switch node.op {
        case .unary(let f): groups[k].code.append(.unary(f, regs[0]))
        case .binary(let f): groups[k].code.append(.binary(f, regs[0], regs[1]))
        default: preconditionFailure("only elementwise ops are recomputed")
        }
      } else if case .constant(let c) = node.op {
        groups[k].code.append(.constant(c))
      } else {
        groups[k].code.append(.load(operandIndex(kernelSource(v, in: g), in: k)))
      }
      groups[k].registers[v] = groups[k].code.count - 1
      return groups[k].code.count - 1
    }

    /// Appends group `other`'s program to group `k` (both elementwise-compatible).
    func merge(_ other: Int, into k: Int) {
      let shift = groups[k].code.count
      for instruction in groups[other].code {
        switch instruction {
        case .load(let j):
          groups[k].code.append(.load(operandIndex(groups[other].operands[j], in: k)))
        case .unary(let f, let a): groups[k].code.append(.unary(f, a + shift))
        case .binary(let f, let a, let b): groups[k].code.append(.binary(f, a + shift, b + shift))
        case .head, .constant: groups[k].code.append(instruction)
        }
      }
      for (v, r) in groups[other].registers where groups[k].registers[v] == nil { groups[k].registers[v] = r + shift }
      groups[k].stores += groups[other].stores
      for v in groups[other].members { groupOf[v] = k }
      groups[k].members.formUnion(groups[other].members)
      groups[other].alive = false
    }

    for (i, node) in g.nodes.enumerated() {
      if isHead(node) {
        groups.append(Group(head: node.op, operands: node.inputs, code: [.head], registers: [i: 0], members: [i], root: i))
        groupOf[i] = groups.count - 1
        continue
      }
      // A sum whose input only it reads closes that input's kernel.
      if case .reduceSum(let axes) = node.op, let v = node.inputs.first, uses[v] == 1, !outputs.contains(v),
        let k = groupOf[v], groups[k].alive, groups[k].root == v, groups[k].head == nil, groups[k].stores.isEmpty,
        groups[k].reduction == nil, KernelReduction.isSupported(axes: axes, rank: g.nodes[v].shape.count)
      {
        groups[k].reduction = KernelReduction(axes: axes, domain: g.nodes[v].shape)
        groups[k].members.insert(i)
        groups[k].root = i
        groupOf[i] = k
        continue
      }
      guard isElementwise(node.op) else { continue }
      // Recomputed in each reader's kernel instead.
      if recomputed.contains(i) {
        keep[i] = false
        continue
      }
      // Open groups whose root this node alone reads.
      var candidates: [Int] = []
      var newStores: [ValueID] = []
      for v in node.inputs {
        guard let k = groupOf[v], groups[k].alive, groups[k].root == v, groups[k].reduction == nil, !candidates.contains(k) else { continue }
        // A kernel that stores must keep covering the stored tensors.
        if !groups[k].stores.isEmpty && node.shape != g.nodes[v].shape { continue }
        if uses[v] == 1 && !outputs.contains(v) {
          candidates.append(k)
        } else if canStore(v, kernel: k, at: i) {
          candidates.append(k)
          newStores.append(v)
        }
      }
      // At most one product per kernel: prefer the group with a head.
      candidates.sort { (groups[$0].head != nil ? 0 : 1) < (groups[$1].head != nil ? 0 : 1) }
      let k: Int
      if let first = candidates.first {
        k = first
        for other in candidates.dropFirst() where groups[other].head == nil { merge(other, into: k) }
      } else {
        groups.append(Group(head: nil, operands: [], code: [], registers: [:], members: [], root: i))
        k = groups.count - 1
      }
      // Stores only for values whose kernel this node actually joined.
      for v in newStores where groupOf[v] == k {
        let (assignment, name) = storable[v]!
        keep[assignment] = false
        groups[k].stores.append((v, name))
      }
      let regs = node.inputs.map { register($0, in: k) }
      switch node.op {
      case .unary(let f): groups[k].code.append(.unary(f, regs[0]))
      case .binary(let f): groups[k].code.append(.binary(f, regs[0], regs[1]))
      default: break
      }
      groups[k].registers[i] = groups[k].code.count - 1
      groups[k].members.insert(i)
      groups[k].root = i
      groupOf[i] = k
    }

    var replacing: [ValueID: Node] = [:]
    // A lone op becomes a kernel too when that lets it read a broadcast
    // through strides or inline a constant, instead of materialising them.
    for group in groups where group.alive && (group.members.count > 1 || group.operands != g.nodes[group.root].inputs) {
      for v in group.members where v != group.root { keep[v] = false }
      let stores = group.stores.map { KernelStore(name: $0.name, register: group.registers[$0.value]!) }
      replacing[group.root] = Node(
        op: .fused(FusedKernel(head: group.head, code: group.code, stores: stores, reduction: group.reduction)), inputs: group.operands,
        shape: g.nodes[group.root].shape)
    }
    // Constants and broadcasts that only fused kernels read are no longer needed.
    var readers = [Int](repeating: 0, count: g.nodes.count)
    for (i, n) in g.nodes.enumerated() where keep[i] {
      for j in (replacing[i]?.inputs ?? n.inputs) { readers[j] += 1 }
    }
    for o in g.outputs { readers[o] += 1 }
    for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where keep[i] && readers[i] == 0 {
      switch g.nodes[i].op {
      case .constant, .broadcast:
        keep[i] = false
        for j in g.nodes[i].inputs { readers[j] -= 1 }
      default: break
      }
    }
    return rebuild(g, keep: keep, replacing: replacing)
  }
}
