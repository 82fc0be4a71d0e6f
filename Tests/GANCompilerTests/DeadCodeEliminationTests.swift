import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("Dead-code elimination")
struct DeadCodeEliminationTests {
  @Test("dead code is removed and outputs survive")
  func deadCode() throws {
    var g = Graph()
    let a = g.input("a", [2])
    _ = g.unary(.exp, a)
    let b = g.unary(.tanh, a)
    g.outputs = [b]
    g.outputNames = [b: "b"]
    let out = DeadCodeElimination.run(g)
    #expect(out.nodes.count == 2)
    #expect(out.outputNames[out.outputs[0]] == "b")
  }
}
