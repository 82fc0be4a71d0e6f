import GANIR

/// Rebuilds a graph from a subset of its nodes, renumbering values densely
/// and keeping outputs and their names.
func rebuild(_ g: Graph, keep: [Bool], replacing: [ValueID: Node] = [:]) -> Graph {
  var map = [ValueID](repeating: -1, count: g.nodes.count)
  var nodes: [Node] = []
  for (i, node) in g.nodes.enumerated() where keep[i] {
    var n = replacing[i] ?? node
    n.inputs = n.inputs.map { map[$0] }
    precondition(!n.inputs.contains(-1), "a kept node reads a removed one")
    map[i] = nodes.count
    nodes.append(n)
  }
  var out = Graph()
  let outputs = g.outputs.map { map[$0] }
  var names: [ValueID: String] = [:]
  for (k, v) in g.outputNames where map[k] >= 0 { names[map[k]] = v }
  out.replaceNodes(nodes, outputs: outputs, names: names)
  return out
}
