import GANIR

/// Picks each value's memory layout so that convolutions pass activations to
/// each other, through the elementwise kernels between them, without a
/// reorder on every call. oneDNN's convolutions run in the channel-blocked
/// nChw16c layout; a value keeps that layout from the convolution that makes
/// it through every elementwise kernel and per-channel reduction (batch
/// norm's statistics) up to the next convolution. `convert` nodes change
/// layout where a value meets an op that reads only plain memory (a reshape
/// into a dense layer, a matmul, an assignment, an output).
public enum LayoutAssignment {
  public static let name = "layout"

  public static func run(_ g: Graph) -> Graph {
    var nodes: [Node] = []
    var map = [ValueID](repeating: -1, count: g.nodes.count)
    /// A value's copy in the other layout (there are two), made once.
    var converted: [ValueID: ValueID] = [:]

    func emit(_ n: Node) -> ValueID {
      nodes.append(n)
      return nodes.count - 1
    }
    func value(_ v: ValueID, in layout: Layout) -> ValueID {
      if nodes[v].layout == layout { return v }
      if let c = converted[v] { return c }
      let c = emit(Node(op: .convert, inputs: [v], shape: nodes[v].shape, layout: layout))
      converted[v] = c
      return c
    }
    /// The layout an elementwise kernel of `shape` over `operands` runs in:
    /// blocked when one of its full-size operands already is, and it can
    /// read the others (scalars and per-channel values) in that layout.
    func elementwiseLayout(_ operands: [ValueID], shape: [Int], stores: Bool, preferred: Layout?) -> Layout {
      guard Layout.nChw16c.fits(shape), !stores else { return .plain }
      let full = operands.filter { nodes[$0].shape == shape }
      let readable = operands.allSatisfy { v in nodes[v].shape == shape || Layout.nChw16c.readsBroadcast(nodes[v].shape, into: shape) }
      guard readable else { return .plain }
      if let preferred { return preferred }
      return full.contains { nodes[$0].layout == .nChw16c } ? .nChw16c : .plain
    }
    /// Operands of an elementwise kernel in `layout` (broadcast ones stay plain).
    func elementwiseOperands(_ operands: [ValueID], shape: [Int], layout: Layout) -> [ValueID] {
      operands.map { nodes[$0].shape == shape ? value($0, in: layout) : value($0, in: .plain) }
    }
    /// Operands of a product: convolutions read either layout, except a
    /// transposed convolution small enough to run as matmul plus col2im.
    func productOperands(_ op: Op, _ operands: [ValueID], shape: [Int]) -> [ValueID] {
      switch op {
      case .conv, .convWeight: return operands
      case .convTranspose where shape[1] > ConvAttributes.transposedByColumnsMaxChannels: return operands
      default: return operands.map { value($0, in: .plain) }
      }
    }
    func productLayout(_ op: Op, shape: [Int]) -> Layout {
      switch op {
      case .conv, .convTranspose: return Layout.nChw16c.fits(shape) ? .nChw16c : .plain
      default: return .plain
      }
    }

    for (i, node) in g.nodes.enumerated() {
      var n = node
      let ins = node.inputs.map { map[$0] }
      switch node.op {
      case .matmul, .conv, .convTranspose, .convWeight:
        n.inputs = productOperands(node.op, ins, shape: node.shape)
        n.layout = productLayout(node.op, shape: node.shape)
      case .fused(let k) where k.head != nil:
        let head = productLayout(k.head!, shape: node.shape)
        let epilogue = Array(ins.dropFirst(2))
        // The product writes the layout its epilogue can run in.
        n.layout = elementwiseLayout(epilogue, shape: node.shape, stores: !k.stores.isEmpty, preferred: head)
        n.inputs =
          productOperands(k.head!, Array(ins.prefix(2)), shape: node.shape)
          + elementwiseOperands(epilogue, shape: node.shape, layout: n.layout)
      case .fused(let k) where k.reduction != nil:
        // The program runs over its domain; the sum it makes is plain.
        let r = k.reduction!
        let domain = Layout.nChw16c.sums(over: r.axes) ? elementwiseLayout(ins, shape: r.domain, stores: false, preferred: nil) : .plain
        n.inputs = elementwiseOperands(ins, shape: r.domain, layout: domain)
        n.layout = .plain
      case .unary, .binary, .fused:
        var stores = false
        if case .fused(let k) = node.op { stores = !k.stores.isEmpty }
        n.layout = elementwiseLayout(ins, shape: node.shape, stores: stores, preferred: nil)
        n.inputs = elementwiseOperands(ins, shape: node.shape, layout: n.layout)
      case .stopGradient:
        n.inputs = ins
        n.layout = nodes[ins[0]].layout
      case .reduceSum(let axes), .reduceMax(let axes):
        n.inputs = Layout.nChw16c.sums(over: axes) ? ins : ins.map { value($0, in: .plain) }
        n.layout = .plain
      default:
        n.inputs = ins.map { value($0, in: .plain) }
        n.layout = .plain
      }
      map[i] = emit(n)
    }
    var out = Graph()
    let outputs = g.outputs.map { value(map[$0], in: .plain) }
    var names: [ValueID: String] = [:]
    for (o, name) in g.outputNames { names[value(map[o], in: .plain)] = name }
    out.replaceNodes(nodes, outputs: outputs, names: names)
    return out
  }
}
