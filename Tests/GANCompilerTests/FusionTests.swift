import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("Fusion")
struct FusionTests {
  @Test("over generated specs: fused and unfused graphs compute the same values")
  func fusionPreservesValues() throws {
    for (text, _) in generatedSpecs(24) {
      let spec = try checked(text.replacingOccurrences(of: "batch=\"1\"", with: "batch=\"2\""), files: ["img.npy": npy([4, 1, 8, 8])])
      var fused = CompileOptions()
      fused.plan = true
      var unfused = CompileOptions()
      unfused.fuse = false
      let a = try Compiler.compile(spec, options: fused), b = try Compiler.compile(spec, options: unfused)
      for (pa, pb) in zip(a.programs, b.programs) {
        let f = feeds(for: pb.graph, seed: 7)
        let ea = try ReferenceEvaluator(feeds: f, seed: 1).evaluate(pa.graph), eb = try ReferenceEvaluator(feeds: f, seed: 1).evaluate(pb.graph)
        let va = ea.values, vb = eb.values
        for (oa, ob) in zip(pa.graph.outputs, pb.graph.outputs) {
          for (x, y) in zip(va[oa], vb[ob]) { #expect(abs(x - y) <= 1e-9 * max(1, abs(y)), "\(pa.name) output differs\n\(text)") }
        }
        // Fusion turns moment assignments into kernel stores: both count.
        let ua = ea.updates, ub = eb.updates
        #expect(ub == assigned(pb.graph, vb))
        #expect(Set(ua.keys) == Set(ub.keys))
        for (name, x) in ua {
          let y = ub[name]!
          #expect(zip(x, y).allSatisfy { abs($0 - $1) <= 1e-9 * max(1, abs($1)) }, "\(pa.name): '\(name)' differs")
        }
        #expect(pa.graph.kernelCount <= pb.graph.kernelCount)
      }
    }
  }
}

@Suite("What fusion must achieve on the shipped specs")
struct FusionOutcomeTests {
  @Test(
    "Adam's moments are stores of the update kernel, and nothing is stored only to be summed",
    arguments: ["ring", "grid", "fashion-mlp", "fashion-dcgan"])
  func outcomes(_ name: String) throws {
    let path = packageRoot.appendingPathComponent("specs/\(name).xml").path
    let model = try Compiler.compile(try checked(try String(contentsOfFile: path, encoding: .utf8)))
    for p in model.programs {
      let g = p.graph
      let uses = g.useCounts()
      var stored: [String] = []
      for n in g.nodes {
        if case .assign(let target) = n.op {
          #expect(!target.hasSuffix(".exp_avg") && !target.hasSuffix(".exp_avg_sq"), "\(name) \(p.name): \(target) is assigned, not stored")
        }
        if case .fused(let k) = n.op { stored += k.stores.map(\.name) }
        if case .reduceSum = n.op, uses[n.inputs[0]] == 1, g[n.inputs[0]].op.isElementwise {
          Issue.record("\(name) \(p.name): \(g.line(n.inputs[0])) is stored only to be summed")
        }
      }
      if p.name == "d-step" || p.name == "g-step" {
        #expect(!stored.isEmpty, "\(name) \(p.name): no optimizer stores")
        // Both moments of a parameter come from the same kernel.
        for n in g.nodes {
          guard case .fused(let k) = n.op, !k.stores.isEmpty else { continue }
          let names = Set(k.stores.map { $0.name.replacingOccurrences(of: ".exp_avg_sq", with: "").replacingOccurrences(of: ".exp_avg", with: "") })
          #expect(names.count == 1 && k.stores.count == 2, "\(name) \(p.name): stores \(k.stores.map(\.name))")
        }
      }
    }
  }
}
