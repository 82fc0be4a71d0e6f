import Foundation
import GANIR
import GANTestSupport
import Testing
@testable import GANCompiler

@Suite("Layout assignment")
struct LayoutAssignmentTests {
  @Test("convolutions pass nChw16c activations through elementwise ops; plain consumers get one convert; values unchanged")
  func blocked() throws {
    var g = Graph()
    let c = ConvAttributes(stride: (1, 1), padding: (1, 1, 1, 1), dilation: (1, 1))
    let x = g.input("x", [2, 16, 5, 5])
    let h = g.unary(.leakyRelu(slope: 0.2), try g.add(.conv(c), [x, g.parameter("w1", [16, 16, 3, 3])]))
    let y = try g.add(.conv(c), [h, g.parameter("w2", [16, 16, 3, 3])])
    let flat = g.reshape(y, [2, 400])
    g.outputs = [flat]
    g.outputNames = [flat: "y"]
    let laid = LayoutAssignment.run(g)
    try laid.verify()
    let blocked = laid.nodes.filter { $0.layout == .nChw16c }
    #expect(blocked.contains { $0.op == .unary(.leakyRelu(slope: 0.2)) }, "the activation between the convolutions stays blocked")
    #expect(laid.nodes.filter { $0.op == .convert }.count <= 2, "one convert in (x) and one out (before the reshape)")
    let feeds = feeds(for: g, seed: 5)
    let before = try ReferenceEvaluator(feeds: feeds).run(g), after = try ReferenceEvaluator(feeds: feeds).run(laid)
    let error = worstRelativeError(after[laid.outputs[0]], before[flat])
    #expect(error < 1e-12)
  }
}
