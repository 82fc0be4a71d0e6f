import Foundation
import GANIR
import GANSpec

/// What `ganc compile` prints.
public enum CompileReport {
  public static func bytes(_ n: Int) -> String {
    if n >= 1 << 20 { return String(format: "%.2f MiB", Double(n) / Double(1 << 20)) }
    if n >= 1 << 10 { return String(format: "%.1f KiB", Double(n) / 1024) }
    return "\(n) B"
  }

  static func grouped(_ n: Int) -> String { LintSummary.grouped(n) }

  static func flopsText(_ f: Double) -> String {
    if f >= 1e9 { return String(format: "%.2f GFLOP", f / 1e9) }
    if f >= 1e6 { return String(format: "%.2f MFLOP", f / 1e6) }
    return String(format: "%.1f kFLOP", f / 1e3)
  }

  static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

  static func describe(_ layer: Layer) -> String {
    var s = layer.element
    if let a = layer.op.fusedActivation, layer.element != "activation" { s += " " + a.name }
    if case .activation(let a) = layer.op { s += " " + a.name }
    return s
  }

  /// FLOPs of one training iteration: k D-steps and one G-step.
  public static func iterationFlops(_ m: CompiledModel) -> Int {
    if let step = m.program(.classifierStep) { return step.graph.flops }
    let k = m.spec.spec.training.dSteps
    return k * (m.program(.discriminatorStep)?.graph.flops ?? 0) + (m.program(.generatorStep)?.graph.flops ?? 0)
  }

  public static func summary(_ m: CompiledModel) -> String {
    let spec = m.spec.spec
    var out = "\(spec.name) (\(spec.file)): compiled in \(String(format: "%.1f", m.seconds * 1000)) ms\n\n"
    let batch = spec.training.batch
    for net in m.spec.nets {
      out += pad(net.role.rawValue, 30) + pad("output", 16) + pad("parameters", 13) + "FLOPs/batch\n"
      for (i, l) in net.layers.enumerated() {
        out +=
          "  " + pad("\(i) " + describe(l.layer), 28) + pad(l.outputShape.shapeText, 16) + pad(grouped(l.parameterCount), 13)
          + flopsText(Double(l.flops) * Double(batch)) + "\n"
      }
      out += "  " + pad("total", 28) + pad("", 16) + pad(grouped(net.parameterCount), 13) + flopsText(Double(net.flops) * Double(batch)) + "\n\n"
    }
    out += pad("program", 12) + pad("ops lowered", 13) + pad("kernels", 10) + pad("fused", 8) + pad("transient", 13) + "FLOPs\n"
    for p in m.programs {
      let plan = m.plan.programs[p.kind]!
      out +=
        "  " + pad(p.name, 10) + pad(String(p.opsBeforePasses), 13) + pad(String(p.kernelsBeforeFusion), 10)
        + pad(String(p.graph.kernelCount), 8) + pad(bytes(plan.transientBytes), 13) + flopsText(Double(p.graph.flops)) + "\n"
    }
    let plan = m.plan
    let share = plan.noReuseBytes > 0 ? Double(plan.arenaBytes) / Double(plan.noReuseBytes) * 100 : 0
    out += "\nmemory: one arena of \(bytes(plan.arenaBytes)) (persistent \(bytes(plan.persistentBytes)) + transient \(bytes(plan.arenaBytes - plan.persistentBytes)));"
    out += " without reuse \(bytes(plan.noReuseBytes)), so the plan uses \(String(format: "%.0f", share))%\n"
    let k = spec.training.dSteps
    let iteration = spec.kind == .classifier ? "1 classifier step" : "\(k) D-step\(k == 1 ? "" : "s") + 1 G-step"
    out += "per training iteration (\(iteration)): \(flopsText(Double(iterationFlops(m))))\n"
    // Data parallel, each rank's update sums the net's gradients once (one allreduce per net).
    let gradientBytes = { (role: NetworkRole) in m.persistent.filter { $0.trainable && $0.net == role }.reduce(0) { $0 + $1.shape.reduce(1, *) } * 4 }
    let sent =
      spec.kind == .classifier
      ? "each step sums \(bytes(gradientBytes(.classifier))) of gradients"
      : "each D-step sums \(bytes(gradientBytes(.discriminator))) of gradients and each G-step \(bytes(gradientBytes(.generator)))"
    out += "under mpirun (data parallel): \(sent) across the ranks, one in-place allreduce per net\n"
    return out
  }

  public static func plan(_ m: CompiledModel) -> String {
    var out = "persistent region: \(bytes(m.plan.persistentBytes))\n"
    for p in m.persistent {
      out += "  " + pad(String(m.plan.persistentOffsets[p.name] ?? -1), 10) + pad(p.name, 48) + "[" + p.shape.map(String.init).joined(separator: ", ") + "]\n"
    }
    for p in m.programs {
      let plan = m.plan.programs[p.kind]!
      out += "\nprogram \(p.name): transient \(bytes(plan.transientBytes)) (no reuse: \(bytes(plan.noReuseBytes))), \(plan.inPlaceAssignments) updates in place\n"
      out += "  offset    bytes     live        value\n"
      for b in plan.buffers.sorted(by: { ($0.offset, $0.start) < ($1.offset, $1.start) }) {
        out += "  " + pad(String(m.plan.transientBase + b.offset), 10) + pad(String(b.bytes), 10) + pad("\(b.start)-\(b.end)", 12) + p.graph.line(b.value) + "\n"
      }
      for line in plan.log { out += "  # \(line)\n" }
    }
    out += "\narena: \(bytes(m.plan.arenaBytes)); without reuse \(bytes(m.plan.noReuseBytes))\n"
    return out
  }

  public static func dot(_ m: CompiledModel) -> String {
    var out = "digraph ganc {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
    for (k, p) in m.programs.enumerated() {
      out += "  subgraph cluster_\(k) {\n    label=\"\(p.name)\";\n"
      for (i, n) in p.graph.nodes.enumerated() {
        let colour: String
        switch n.op {
        case .parameter: colour = "lightyellow"
        case .input: colour = "lightblue"
        case .fused: colour = "palegreen"
        case .assign: colour = "mistyrose"
        default: colour = "white"
        }
        let label = "%\(i) \(n.op.mnemonic)\\n[\(n.shape.map(String.init).joined(separator: ","))]"
        out += "    p\(k)_\(i) [label=\"\(label)\", style=filled, fillcolor=\(colour)];\n"
        for j in n.inputs { out += "    p\(k)_\(j) -> p\(k)_\(i);\n" }
      }
      out += "  }\n"
    }
    return out + "}\n"
  }

  public static func json(_ m: CompiledModel) -> String {
    var programs: [[String: Any]] = []
    for p in m.programs {
      let plan = m.plan.programs[p.kind]!
      programs.append([
        "name": p.name, "opsLowered": p.opsBeforePasses, "kernelsBeforeFusion": p.kernelsBeforeFusion,
        "kernelsAfterFusion": p.graph.kernelCount, "flops": p.graph.flops, "transientBytes": plan.transientBytes,
        "noReuseBytes": plan.noReuseBytes, "inPlaceUpdates": plan.inPlaceAssignments,
      ])
    }
    func net(_ n: CheckedNetwork) -> [String: Any] {
      [
        "parameters": n.parameterCount, "flopsPerSample": n.flops,
        "layers": n.layers.map { ["element": $0.layer.element, "output": $0.outputShape, "parameters": $0.parameterCount, "flopsPerSample": $0.flops] as [String: Any] },
      ]
    }
    let object: [String: Any] = [
      "name": m.spec.spec.name, "compileMilliseconds": m.seconds * 1000, "arenaBytes": m.plan.arenaBytes,
      "persistentBytes": m.plan.persistentBytes, "noReuseBytes": m.plan.noReuseBytes, "iterationFlops": iterationFlops(m),
      "programs": programs,
    ].merging(Dictionary(uniqueKeysWithValues: m.spec.nets.map { ($0.role.rawValue, net($0) as Any) })) { a, _ in a }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }
}
