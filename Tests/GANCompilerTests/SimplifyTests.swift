import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("Simplify")
struct SimplifyTests {
  @Test("a product over one term becomes a broadcast multiplication with the same values, in every transpose form")
  func outerProducts() throws {
    for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
      var g = Graph()
      let a = g.input("a", ta ? [1, 5] : [5, 1]), b = g.input("b", tb ? [7, 1] : [1, 7])
      let y = try g.add(.matmul(transposeA: ta, transposeB: tb), [a, b])
      // A real product (K = 3) stays a matmul.
      let c = g.input("c", [5, 3]), d = g.input("d", [3, 7])
      let z = try g.add(.matmul(transposeA: false, transposeB: false), [c, d])
      g.outputs = [y, z]
      g.outputNames = [y: "y", z: "z"]
      let simplified = Simplify.run(g)
      try simplified.verify()
      #expect(simplified.nodes.filter { if case .matmul = $0.op { return true } else { return false } }.count == 1)
      let feeds: [String: [Double]] = [
        "a": (0..<5).map { Double($0) - 1.5 }, "b": (0..<7).map { 0.25 * Double($0) + 0.1 },
        "c": (0..<15).map { Double($0) }, "d": (0..<21).map { Double($0) * 0.5 },
      ]
      let before = try ReferenceEvaluator(feeds: feeds, seed: 1).run(g)
      let after = try ReferenceEvaluator(feeds: feeds, seed: 1).run(simplified)
      for o in [0, 1] { #expect(before[g.outputs[o]] == after[simplified.outputs[o]], "transposes \(ta) \(tb), output \(o)") }
      #expect(before[y][1 * 7 + 2] == (1 - 1.5) * (0.25 * 2 + 0.1))
    }
  }
}
