import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("The memory plan")
struct MemoryPlannerTests {
  @Test("over generated specs: no two live buffers overlap, and the arena never exceeds the no-reuse total")
  func planInvariants() throws {
    for (text, _) in generatedSpecs(40) {
      let spec = try checked(text, files: ["img.npy": npy([4, 1, 8, 8])])
      let model = try Compiler.compile(spec)
      #expect(model.plan.arenaBytes <= model.plan.noReuseBytes)
      for p in model.programs {
        let plan = model.plan.programs[p.kind]!
        for (i, a) in plan.buffers.enumerated() {
          #expect(a.offset % MemoryPlanner.alignment == 0)
          #expect(a.offset + a.bytes <= plan.transientBytes)
          for b in plan.buffers[(i + 1)...] where a.start <= b.end && b.start <= a.end {
            #expect(a.offset + a.bytes <= b.offset || b.offset + b.bytes <= a.offset, "%\(a.value) and %\(b.value) overlap in \(p.name)")
          }
        }
        // Every value read by a kernel has storage that covers it.
        for (v, node) in p.graph.nodes.enumerated() where p.graph.isKernel(v) {
          let offset = model.plan.offset(of: v, in: p.kind)
          #expect(offset >= 0 && offset + node.elementCount * 4 <= model.plan.arenaBytes)
        }
      }
      let persistentEnd = model.persistent.map { model.plan.persistentOffsets[$0.name]! + $0.shape.reduce(1, *) * 4 }.max() ?? 0
      #expect(persistentEnd <= model.plan.persistentBytes)
    }
  }

  @Test("a value computed in place into its parameter is never read as the old value afterwards")
  func inPlaceIsSafe() throws {
    for (text, _) in generatedSpecs(20) {
      let model = try Compiler.compile(try checked(text, files: ["img.npy": npy([4, 1, 8, 8])]))
      for p in model.programs {
        let plan = model.plan.programs[p.kind]!
        for (v, storage) in plan.storage.enumerated() {
          guard case .persistent(let name) = storage, !(p.graph[v].op == .parameter(name)) else { continue }
          if case .assign = p.graph[v].op { continue }
          for (j, node) in p.graph.nodes.enumerated() where j > v {
            for i in node.inputs { #expect(p.graph.parameterName(viewedBy: i) != name, "\(name) is read at %\(j) after being overwritten at %\(v)") }
          }
        }
      }
    }
  }
}
