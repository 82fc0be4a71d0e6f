import Foundation
import GANDiagnostics

/// The outcome of linting one spec file.
public struct LintResult: Sendable {
  public var file: String
  public var diagnostics: [Diagnostic]
  /// The checked spec, when there were no errors.
  public var checked: CheckedSpec?
  /// True when the file itself could not be read (an I/O error, exit code 2).
  public var unreadable: Bool

  public var hasErrors: Bool { diagnostics.hasErrors }
}

/// How to read a spec: where its relative paths start, which folders its
/// includes may come from, and training settings the command line replaces.
public struct LintOptions: Sendable {
  /// Relative paths in the spec are resolved from here (default: its own folder).
  public var baseDirectory: String? = nil
  /// Folders that includes (`src=`) may name besides the spec's own folder tree.
  public var allowedFolders: [String] = []
  /// Replace the spec's `steps`, `batch` and `seed` before checking (`--steps`, ...).
  public var steps: Int? = nil
  public var batch: Int? = nil
  public var seed: UInt64? = nil
  public init(baseDirectory: String? = nil, allowedFolders: [String] = [], steps: Int? = nil, batch: Int? = nil, seed: UInt64? = nil) {
    self.baseDirectory = baseDirectory
    self.allowedFolders = allowedFolders
    self.steps = steps
    self.batch = batch
    self.seed = seed
  }
}

/// The front end from a path to a checked spec: read, parse, validate, check.
public enum Linter {
  /// Lints the spec at `path`, adding every file read to `sources`. Relative
  /// paths in it are resolved from `baseDirectory` (default: its own folder).
  public static func lint(_ path: String, sources: SourceStore, baseDirectory: String? = nil) -> LintResult {
    lint(path, sources: sources, options: LintOptions(baseDirectory: baseDirectory))
  }

  /// Lints the spec at `path` as `options` say, adding every file read to `sources`.
  public static func lint(_ path: String, sources: SourceStore, options: LintOptions) -> LintResult {
    var loader = SpecLoader(sources: sources, allowedFolders: options.allowedFolders)
    let spec = loader.load(path, baseDirectory: options.baseDirectory)
    var diagnostics = loader.diagnostics
    let unreadable = diagnostics.contains { $0.id == .fileUnreadable && $0.location?.file == path }
    var checked: CheckedSpec? = nil
    if var spec {
      if let steps = options.steps { spec.training.steps = steps }
      if let batch = options.batch { spec.training.batch = batch }
      if let seed = options.seed { spec.training.seed = seed }
      checked = SpecChecker.check(spec, diagnostics: &diagnostics)
    }
    return LintResult(file: path, diagnostics: diagnostics.sortedByLocation(), checked: checked, unreadable: unreadable)
  }
}

/// A short description of a clean spec: data, the two nets and the game.
public enum LintSummary {
  /// 1234567 as "1,234,567".
  public static func grouped(_ n: Int) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, c) in digits.enumerated() {
      if i > 0 && (digits.count - i) % 3 == 0 { out += "," }
      out.append(c)
    }
    return out
  }

  static func chain(_ net: CheckedNetwork) -> String {
    let input = net.inputs[net.role.inputName] ?? []
    var shapes = [input.shapeText]
    for layer in net.layers {
      if !layer.layer.keepsShape { shapes.append(layer.outputShape.shapeText) }
    }
    if shapes.count > 8 { shapes = Array(shapes.prefix(3)) + ["..."] + Array(shapes.suffix(3)) }
    return shapes.map { $0.contains(" ") ? "(\($0))" : $0 }.joined(separator: " -> ")
  }

  static func describe(_ data: DataSource, _ info: DataInfo) -> String {
    let shape = "samples of shape \(info.shape.shapeText)"
    switch data {
    case .ring(let modes, _, _, _): return "ring of \(modes) Gaussians, \(shape)"
    case .grid(let size, _, _, _): return "grid of \(size)x\(size) Gaussians, \(shape)"
    case .idx(let images, _):
      return "\((images as NSString).lastPathComponent): \(info.count ?? 0) images of \(info.shape.shapeText)"
        + (info.classes.map { " in \($0) classes" } ?? "")
    case .csv(let path, _, _): return "\((path as NSString).lastPathComponent): \(info.shape[0]) columns"
    case .npy(let path): return "\((path as NSString).lastPathComponent): \(info.count ?? 0) \(shape)"
    }
  }

  /// Key facts, for JSON output.
  public static func fields(_ c: CheckedSpec) -> [String: String] {
    let t = c.spec.training
    var fields = [
      "name": c.spec.name,
      "kind": c.spec.kind.rawValue,
      "data": describe(c.spec.data.source, c.data),
      "loss": t.loss.rawValue,
      "steps": String(t.steps),
      "batch": String(t.batch),
    ]
    for net in c.nets {
      fields["\(net.role.rawValue).layers"] = String(net.layers.count)
      fields["\(net.role.rawValue).parameters"] = String(net.parameterCount)
      fields["\(net.role.rawValue).output"] = net.outputShape.shapeText
    }
    return fields
  }

  /// The text summary printed by `ganc lint` for a clean spec.
  public static func text(_ c: CheckedSpec) -> String {
    let t = c.spec.training
    var out = "\(c.spec.file): ok (\(c.spec.name))\n"
    out += "  data           \(describe(c.spec.data.source, c.data))\n"
    for net in c.nets {
      let name = net.role.rawValue.padding(toLength: 15, withPad: " ", startingAt: 0)
      out += "  \(name)\(net.layers.count) layers, \(grouped(net.parameterCount)) parameters: \(chain(net))\n"
    }
    var game = "\(t.loss.rawValue), \(t.steps) steps, batch \(t.batch)"
    if t.dSteps > 1 { game += ", \(t.dSteps) D steps per G step" }
    if t.pack > 1 { game += ", pack \(t.pack)" }
    if t.conditional { game += ", conditional" }
    if t.penalizesGradients {
      game += ", " + [t.r1 > 0 ? "R1 \(String(format2: t.r1))" : nil, t.r2 > 0 ? "R2 \(String(format2: t.r2))" : nil].compactMap { $0 }.joined(separator: " ")
      if t.regularizeEvery > 1 { game += " every \(t.regularizeEvery) D updates" }
    }
    if let id = t.featureMatching { game += ", feature matching on D's '\(id)'" }
    if let n = c.spec.data.labelsPerClass { game += ", \(n) labels per class" }
    game +=
      c.spec.kind == .classifier
      ? ", \(t.discriminatorOptimizer.kind.rawValue)" : ", \(t.generatorOptimizer.kind.rawValue)/\(t.discriminatorOptimizer.kind.rawValue)"
    out += "  training       \(game)\n"
    return out
  }
}
