import Foundation
import GANIR
import GANTestSupport
import Testing
@testable import GANCompiler

@Suite("Common subexpressions")
struct CommonSubexpressionsTests {
  @Test("repeated constants, parameter reads and functions merge; random streams and assignments never do; values unchanged")
  func merges() throws {
    var g = Graph()
    let x = g.input("x", [3, 4])
    let w1 = g.parameter("w", [3, 4]), w2 = g.parameter("w", [3, 4])
    let a = g.unary(.sigmoid, g.mul(x, w1)), b = g.unary(.sigmoid, g.mul(x, w2))
    let r1 = try g.add(.random(stream: 0), [], shape: [3, 4]), r2 = try g.add(.random(stream: 0), [], shape: [3, 4])
    let y = g.addv(g.addv(a, b), g.addv(g.scale(r1, 2), g.scale(r2, 2)))
    try g.add(.assign("w"), [y])
    try g.add(.assign("w"), [y])
    g.outputs = [y]
    g.outputNames = [y: "y"]
    let merged = CommonSubexpressions.run(g)
    try merged.verify()
    func count(_ graph: Graph, _ test: (Op) -> Bool) -> Int { graph.nodes.filter { test($0.op) }.count }
    #expect(count(merged) { if case .parameter = $0 { return true } else { return false } } == 1)
    #expect(count(merged) { $0 == .unary(.sigmoid) } == 1)
    #expect(count(merged) { if case .random = $0 { return true } else { return false } } == 2)
    #expect(count(merged) { if case .assign = $0 { return true } else { return false } } == 2)
    let feeds = feeds(for: g, seed: 3)
    let before = try ReferenceEvaluator(feeds: feeds, seed: 1).run(g), after = try ReferenceEvaluator(feeds: feeds, seed: 1).run(merged)
    #expect(before[y] == after[merged.outputs[0]])
  }
}
