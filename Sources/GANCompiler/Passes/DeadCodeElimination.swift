import GANIR

/// Removes every node that no output and no write to a persistent tensor depends on.
public enum DeadCodeElimination {
  public static let name = "dce"

  public static func run(_ g: Graph) -> Graph {
    var live = [Bool](repeating: false, count: g.nodes.count)
    for o in g.outputs { live[o] = true }
    for (i, n) in g.nodes.enumerated() where n.op.writesPersistent { live[i] = true }
    for i in stride(from: g.nodes.count - 1, through: 0, by: -1) where live[i] {
      for j in g.nodes[i].inputs { live[j] = true }
    }
    return rebuild(g, keep: live)
  }
}
