import GANIR

/// Merges nodes that compute the same op on the same operands (repeated
/// constants, the same parameter read twice, a sigmoid taken twice).
/// Random streams and assignments are never merged.
public enum CommonSubexpressions {
  public static let name = "cse"

  struct Key: Hashable {
    var op: Op
    var inputs: [ValueID]
    var shape: [Int]
  }

  public static func run(_ g: Graph) -> Graph {
    var seen: [Key: ValueID] = [:]
    var canonical = Array(g.nodes.indices)
    var keep = [Bool](repeating: true, count: g.nodes.count)
    var replaced: [ValueID: Node] = [:]
    for (i, node) in g.nodes.enumerated() {
      var n = node
      n.inputs = n.inputs.map { canonical[$0] }
      if n.inputs != node.inputs { replaced[i] = n }
      switch n.op {
      case .random, .input: continue
      default: if n.op.writesPersistent { continue }
      }
      let key = Key(op: n.op, inputs: n.inputs, shape: n.shape)
      if let first = seen[key], !g.outputs.contains(i) {
        canonical[i] = first
        keep[i] = false
      } else {
        seen[key] = i
      }
    }
    return rebuild(g, keep: keep, replacing: replaced)
  }
}
