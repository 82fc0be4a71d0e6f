import Foundation
import GANDiagnostics
import GANSpec

/// Why a run folder could not be opened.
public enum OpenRunError: Error, CustomStringConvertible {
  /// The folder holds no spec.xml.
  case notARun(String)
  /// The run's spec has errors now (its diagnostics, in `sources`).
  case invalidSpec(LintResult)

  public var description: String {
    switch self {
    case .notARun(let run): return "\(run) holds no spec.xml; is it a run folder written by `ganc train`?"
    case .invalidSpec(let result): return "\(result.file) has \(result.diagnostics.filter { $0.severity == .error }.count) errors"
    }
  }
}

extension Trainer {
  /// The batch and seed a run was trained with, from its checkpoint: the
  /// command line may have overridden the spec's, and the run's spec copy
  /// holds the spec as written.
  static func trainedSettings(_ saved: Checkpoint?) -> (batch: Int?, seed: UInt64?) {
    (saved?.metadata["ganc.batch"].flatMap(Int.init), saved?.metadata["ganc.seed"].flatMap(UInt64.init))
  }

  /// How to read a run's spec copy: from the folder the original spec was
  /// in, with the batch and seed the run was trained with (unless given).
  /// The kept checkpoint of `step` in `run` (`<output keep>`).
  public static func historyPath(run: String, step: Int) -> String { run + String(format: "/checkpoint-%06d.safetensors", step) }

  /// The kept checkpoints of `run`, by step.
  public static func history(ofRun run: String) -> [(step: Int, path: String)] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: run)) ?? []
    return names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("checkpoint-"), name.hasSuffix(".safetensors"), let step = Int(name.dropFirst(11).dropLast(12)) else { return nil }
      return (step, run + "/" + name)
    }.sorted { $0.0 < $1.0 }
  }

  /// The checkpoint of `run` at `step`: a kept one, or the latest when it is
  /// at that step; otherwise an error that lists the steps there are.
  public static func checkpoint(ofRun run: String, step: Int) throws -> String {
    if let kept = history(ofRun: run).first(where: { $0.step == step }) { return kept.path }
    let latest = run + "/checkpoint.safetensors"
    if let c = try? Checkpoint.read(latest), c.metadata["ganc.step"] == String(step) { return latest }
    let steps = history(ofRun: run).map { String($0.step) } + ((try? Checkpoint.read(latest)).flatMap { $0.metadata["ganc.step"] }.map { ["\($0) (the latest)"] } ?? [])
    throw DataError(
      "\(run) has no checkpoint of step \(step); it has \(steps.isEmpty ? "none" : "steps " + steps.joined(separator: ", ")). Keep more with <output keep=\"N\">")
  }

  public static func lintOptions(ofRun run: String, checkpoint: String? = nil, batch: Int? = nil, seed: UInt64? = nil) -> LintOptions {
    lintOptions(ofRun: run, saved: try? Checkpoint.read(checkpoint ?? run + "/checkpoint.safetensors"), batch: batch, seed: seed)
  }

  static func lintOptions(ofRun run: String, saved: Checkpoint?, batch: Int? = nil, seed: UInt64? = nil) -> LintOptions {
    let trained = trainedSettings(saved)
    return LintOptions(baseDirectory: specOrigin(ofRun: run), batch: batch ?? trained.batch, seed: seed ?? trained.seed)
  }

  /// Opens a finished (or interrupted) run for sampling or evaluation: its
  /// spec copy, read as it was trained (see `lintOptions(ofRun:)`),
  /// compiled, with the checkpoint's weights. Files read go into `sources`,
  /// for rendering diagnostics of `OpenRunError.invalidSpec`.
  public static func open(
    run: String, checkpoint: String? = nil, threads: Int? = nil, sources: SourceStore = SourceStore(),
    allowedFolders: [String] = []
  ) throws -> Trainer {
    let specPath = run + "/spec.xml"
    guard FileManager.default.fileExists(atPath: specPath) else { throw OpenRunError.notARun(run) }
    let checkpointPath = checkpoint ?? run + "/checkpoint.safetensors"
    let saved = try Checkpoint.read(checkpointPath)  // once: a clear error before compiling, then the settings and the weights
    var lintOptions = lintOptions(ofRun: run, saved: saved)
    lintOptions.allowedFolders = allowedFolders
    let result = Linter.lint(specPath, sources: sources, options: lintOptions)
    guard let checked = result.checked else { throw OpenRunError.invalidSpec(result) }
    var options = TrainOptions()
    options.out = run
    options.threads = threads
    options.quiet = true
    let text = (try? String(contentsOfFile: specPath, encoding: .utf8)) ?? ""
    let trainer = try Trainer(checked, specText: text, options: options)
    try trainer.restore(saved, from: checkpointPath)
    return trainer
  }
}
