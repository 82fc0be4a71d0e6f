/// Counts that `ganc compile` reports.
extension Graph {
  /// Whether a node runs as a kernel (inputs, parameters, scalar constants and
  /// views run nothing).
  public func isKernel(_ id: ValueID) -> Bool {
    let n = nodes[id]
    switch n.op {
    case .input, .parameter, .reshape, .stopGradient: return false
    default: return true
    }
  }

  public var kernelCount: Int { nodes.indices.filter(isKernel).count }

  /// The persistent tensor value `v` is, directly or through views (reshape,
  /// stop_gradient): reading v reads that tensor's memory.
  public func parameterName(viewedBy v: ValueID) -> String? {
    switch nodes[v].op {
    case .parameter(let name): return name
    case .reshape, .stopGradient: return parameterName(viewedBy: nodes[v].inputs[0])
    default: return nil
    }
  }

  /// Floating-point operations of one node (a multiply-add counts 2).
  public func flops(_ id: ValueID) -> Int {
    let n = nodes[id]
    func product(_ op: Op, _ inputs: [ValueID], _ shape: [Int]) -> Int {
      switch op {
      case .matmul(let ta, _):
        let a = self.shape(inputs[0]).suffix(2)
        return 2 * shape.reduce(1, *) * (ta ? a.first! : a.last!)
      case .conv:
        let w = self.shape(inputs[1])
        return 2 * shape.reduce(1, *) * w[1] * w[2] * w[3]
      case .convTranspose:
        let a = self.shape(inputs[0]), w = self.shape(inputs[1])
        return 2 * a.reduce(1, *) * w[1] * w[2] * w[3]
      case .convWeight:
        let a = self.shape(inputs[1])
        return 2 * a.reduce(1, *) * shape[1] * shape[2] * shape[3]
      default: return 0
      }
    }
    switch n.op {
    case .matmul, .conv, .convTranspose, .convWeight: return product(n.op, n.inputs, n.shape)
    case .fused(let k):
      let elementwise = k.code.filter {
        if case .unary = $0 { return true }; if case .binary = $0 { return true }; return false
      }.count
      return (k.head.map { product($0, n.inputs, n.shape) } ?? 0) + elementwise * n.elementCount
    case .unary, .binary: return n.elementCount
    case .reduceSum, .reduceMax: return shape(n.inputs[0]).reduce(1, *)
    default: return 0
    }
  }

  public var flops: Int { nodes.indices.reduce(0) { $0 + flops($1) } }
}
