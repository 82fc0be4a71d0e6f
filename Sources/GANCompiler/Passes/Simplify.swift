import GANIR

/// Folds arithmetic on scalar constants and removes identities (x * 1,
/// x + 0, x - 0, x / 1, a reshape to the same shape), so that gradient
/// seeds and optimizer coefficients cost nothing at run time; a matrix
/// product over a single term becomes a broadcast multiplication.
public enum Simplify {
  public static let name = "simplify"

  public static func run(_ g: Graph) -> Graph {
    var out = Graph()
    var map = [ValueID](repeating: -1, count: g.nodes.count)
    func scalar(_ v: ValueID) -> Double? {
      if case .constant(let c) = out[v].op, out[v].shape.isEmpty { return c }
      return nil
    }
    for (i, node) in g.nodes.enumerated() {
      let inputs = node.inputs.map { map[$0] }
      switch node.op {
      case .unary(let f) where scalar(inputs[0]) != nil:
        map[i] = out.constant(ReferenceEvaluator.apply(f, scalar(inputs[0])!))
        continue
      case .binary(let f):
        let (a, b) = (inputs[0], inputs[1])
        if let x = scalar(a), let y = scalar(b) {
          map[i] = out.constant(ReferenceEvaluator.apply(f, x, y))
          continue
        }
        let same = out.shape(a) == node.shape
        switch (f, scalar(a), scalar(b)) {
        case (.mul, _, 1.0?) where same, (.div, _, 1.0?) where same, (.add, _, 0.0?) where same, (.sub, _, 0.0?) where same:
          map[i] = a
          continue
        case (.mul, 1.0?, _) where out.shape(b) == node.shape, (.add, 0.0?, _) where out.shape(b) == node.shape:
          map[i] = b
          continue
        default: break
        }
      case .matmul(let transposeA, _)
      where node.shape.count == 2 && out.shape(inputs[0]).count == 2
        && out.shape(inputs[0])[transposeA ? 0 : 1] == 1:
        // A product over one term is an outer product: each element is one
        // multiplication, the same bits as the matmul, and fusion can read
        // both factors as broadcasts instead of calling the BLAS (a
        // discriminator's logit gradient times its last weight row).
        let (m, n) = (node.shape[0], node.shape[1])
        func shaped(_ v: ValueID, _ s: [Int]) -> ValueID { out.shape(v) == s ? v : out.reshape(v, s) }
        map[i] = out.mul(out.broadcast(shaped(inputs[0], [m, 1]), [m, n]), out.broadcast(shaped(inputs[1], [1, n]), [m, n]))
        continue
      case .reshape where out.shape(inputs[0]) == node.shape:
        map[i] = inputs[0]
        continue
      case .reshape:
        // A reshape of a reshape reads the original.
        if case .reshape = out[inputs[0]].op {
          map[i] = try! out.add(.reshape, [out[inputs[0]].inputs[0]], shape: node.shape)
          continue
        }
      default: break
      }
      map[i] = try! out.add(node.op, inputs, shape: node.shape)
    }
    var names: [ValueID: String] = [:]
    for (k, v) in g.outputNames { names[map[k]] = v }
    out.replaceNodes(out.nodes, outputs: g.outputs.map { map[$0] }, names: names)
    return out
  }
}
