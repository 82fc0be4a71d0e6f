import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

/// A seeded generator of valid specs: MLPs on 2-D data and small
/// convolutional nets on 1x8x8 images, with every layer kind mixed in.
struct SpecGenerator {
  var state: UInt64
  mutating func int(_ n: Int) -> Int { state &+= 1; return Int(CounterRandom.mix(state) % UInt64(n)) }
  mutating func pick(_ a: [String]) -> String { a[int(a.count)] }

  mutating func activation() -> String {
    pick([
      "", " activation=\"relu\"", " activation=\"leaky-relu\" slope=\"0.1\"", " activation=\"tanh\"", " activation=\"elu\"", " activation=\"gelu\"", " activation=\"silu\"", " activation=\"softplus\"",
      " activation=\"sigmoid\"",
    ])
  }

  mutating func hidden() -> String {
    var out = ""
    for _ in 0..<(1 + int(3)) {
      let units = 2 + int(7)
      switch int(7) {
      case 0: out += "<dense units=\"\(units)\" bias=\"false\"/><batchnorm/><activation kind=\"relu\"/>"
      case 1: out += "<maxout units=\"\(units)\" pieces=\"\(2 + int(2))\"/>"
      case 2: out += "<dense units=\"\(units)\"\(activation())/><dropout rate=\"0.25\"/>"
      case 3: out += "<dense units=\"\(units)\"/><layernorm/><activation kind=\"tanh\"/>"
      case 4:
        // A skip connection around one layer: the add reads the product's own input.
        state &+= 1
        let n = state
        out += "<dense id=\"p\(n)\" units=\"\(units)\"/><dense id=\"q\(n)\" units=\"\(units)\"\(activation())/><add inputs=\"p\(n) q\(n)\"/>"
      case 5:
        state &+= 1
        let n = state
        out += "<dense id=\"p\(n)\" units=\"\(units)\"/><dense id=\"q\(n)\" units=\"\(2 + int(3))\"\(activation())/><concat inputs=\"q\(n) p\(n)\"/>"
      default: out += "<dense units=\"\(units)\"\(activation())/>"
      }
    }
    return out
  }

  mutating func spec() -> (String, Bool) {
    let loss = pick(["non-saturating", "minimax", "least-squares", "hinge", "wasserstein", "wasserstein-gp"])
    let optimizer = pick(["kind=\"adam\" lr=\"1e-3\"", "kind=\"sgd\" lr=\"0.1\" momentum=\"0.9\"", "kind=\"rmsprop\" lr=\"1e-3\" momentum=\"0.5\"", "kind=\"sgd\" lr=\"0.1\""])
    let image = int(3) == 0
    let g: String, d: String, data: String
    if image {
      data = "<data source=\"npy\" path=\"img.npy\"/>"
      g =
        "<dense units=\"\(8 * (1 + int(2)) * 16)\"/><reshape shape=\"\(8 * (1 + int(1))) 4 4\"/>".replacingOccurrences(of: "units=\"256\"", with: "units=\"128\"")
        + "<deconv2d filters=\"3\" kernel=\"4\" stride=\"2\" padding=\"1\"\(activation())/><conv2d filters=\"1\" kernel=\"3\" padding=\"same\" activation=\"tanh\"/>"
      d = "<conv2d filters=\"4\" kernel=\"4\" stride=\"2\" padding=\"1\" activation=\"leaky-relu\"/><conv2d filters=\"4\" kernel=\"3\"\(activation())/><flatten/><dense units=\"1\"/>"
    } else {
      data = "<data source=\"ring\"/>"
      g = hidden() + "<dense units=\"2\"/>"
      d = hidden().replacingOccurrences(of: "<batchnorm/>", with: loss == "wasserstein-gp" ? "<layernorm/>" : "<batchnorm/>") + "<dense units=\"1\"/>"
    }
    let extra = loss == "wasserstein" ? " clip=\"0.5\"" : ""
    let ema = int(2) == 0 ? " ema=\"0.9\"" : ""
    return (
      """
      <gan name="gen" version="1">
        \(data)
        <latent size="\(2 + int(4))"/>
        <generator>\(g)</generator>
        <discriminator>\(d)</discriminator>
        <training steps="1" batch="\(1 + int(4) + (image ? 0 : 1))" loss="\(loss)" d-steps="\(1 + int(2))"\(extra)\(ema)>
          <optimizer net="generator" \(optimizer)/>
          <optimizer net="discriminator" \(optimizer)/>
        </training>
      </gan>
      """, image
    )
  }
}

func generatedSpecs(_ count: Int) -> [(String, Bool)] {
  var gen = SpecGenerator(state: 2026)
  return (0..<count).map { _ in gen.spec() }
}

@Suite("Passes and the memory plan")
struct PassTests {
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

  @Test("IR print -> parse -> print is stable, fused and unfused")
  func roundTrip() throws {
    var sources = generatedSpecs(10).map { try? checked($0.0, files: ["img.npy": npy([4, 1, 8, 8])]) }.compactMap { $0 }
    for name in ["ring", "fashion-dcgan"] { sources.append(try checked(try String(contentsOfFile: packageRoot.appendingPathComponent("specs/\(name).xml").path, encoding: .utf8))) }
    for spec in sources {
      for fuse in [true, false] {
        var options = CompileOptions()
        options.fuse = fuse
        for p in try Compiler.compile(spec, options: options).programs {
          let text = p.graph.text
          let parsed = try Graph(parsing: text)
          #expect(parsed.text == text)
          #expect(parsed == p.graph)
        }
      }
    }
  }

  @Test("the parser reports bad text with its line")
  func parseErrors() {
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = frobnicate %0 : [2, 3]\n") }
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = exp %5 : [2, 3]\n") }
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = matmul %0, %0 : [2, 2]\n") }
    let error = #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2]\n%1 = exp %0 : [3]\n") }
    #expect(error?.message.hasPrefix("line 2:") == true, "\(String(describing: error))")
  }

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

@Suite("Golden IR of the shipped specs")
struct GoldenIRTests {
  @Test("compiled IR matches the golden dump", arguments: ["ring", "grid", "fashion-mlp", "fashion-dcgan"])
  func golden(_ name: String) throws {
    let path = packageRoot.appendingPathComponent("specs/\(name).xml").path
    let model = try Compiler.compile(try checked(try String(contentsOfFile: path, encoding: .utf8)))
    var text = ""
    for p in model.programs { text += "// program \(p.name)\n" + p.graph.text }
    let url = packageRoot.appendingPathComponent("Tests/GANCompilerTests/Snapshots/\(name).ir")
    if ProcessInfo.processInfo.environment["GANC_RECORD_SNAPSHOTS"] == "1" {
      try text.write(to: url, atomically: true, encoding: .utf8)
      return
    }
    let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? "<no snapshot>"
    #expect(text == expected, "the IR of \(name) changed; rerun with GANC_RECORD_SNAPSHOTS=1 and review the diff")
  }
}
