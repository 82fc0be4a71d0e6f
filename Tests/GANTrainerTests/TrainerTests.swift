import Foundation
import GANTestSupport
import GANCompiler
import GANDiagnostics
import Testing
@testable import GANSpec
@testable import GANTrainer

func makeTrainer(_ text: String, folder: URL, resume: Bool = false, threads: Int? = nil, adjust: (inout CompiledModel) -> Void = { _ in }) throws -> Trainer {
  let path = folder.appendingPathComponent("spec-\(UUID().uuidString).xml").path
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  let result = Linter.lint(path, sources: SourceStore())
  guard let checked = result.checked else { throw DataError("\(result.diagnostics.map(\.message))") }
  var options = TrainOptions()
  options.out = folder.appendingPathComponent("run").path
  options.quiet = true
  options.resume = resume
  options.threads = threads
  return try Trainer(checked, specText: text, options: options, adjust: adjust)
}

/// The mean distance of generated points to their nearest mode centre.
func meanModeDistance(_ trainer: Trainer) throws -> Double {
  let samples = try trainer.generate(count: 500, noiseSeed: 5)
  var total = 0.0
  for i in 0..<500 {
    let (x, y) = (Double(samples[2 * i]), Double(samples[2 * i + 1]))
    total += trainer.dataset.centres.map { (($0.0 - x) * ($0.0 - x) + ($0.1 - y) * ($0.1 - y)).squareRoot() }.min()!
  }
  return total / 500
}

@Suite("Training", .serialized)
struct TrainerTests {
  @Test("the ring spec learns: D stops separating perfectly and the eval metrics improve")
  func learns() throws {
    let folder = temporaryFolder()
    let trainer = try makeTrainer(ringSpec(steps: 1500), folder: folder)
    func modes() throws -> Evaluation.Modes {
      let s = try trainer.generate(count: 500, noiseSeed: 5)
      return Evaluation.modes((0..<500).map { (Double(s[2 * $0]), Double(s[2 * $0 + 1])) }, centres: trainer.dataset.centres, std: trainer.dataset.modeStd)
    }
    let before = try meanModeDistance(trainer), modesBefore = try modes()
    #expect(try trainer.train(log: { _ in }) == .finished)
    let after = try meanModeDistance(trainer), modesAfter = try modes()
    #expect(after < before * 0.5, "mean distance to a mode: \(before) before, \(after) after")
    #expect(modesAfter.covered == 4, "modes covered: \(modesBefore.covered) before, \(modesAfter.covered) after")
    #expect(modesAfter.highQualityShare > max(0.5, modesBefore.highQualityShare), "high-quality share \(modesBefore.highQualityShare) -> \(modesAfter.highQualityShare)")
    // D's accuracy leaves 100%: late in training it no longer tells real from generated with certainty.
    let late = trainer.history.suffix(50)
    let dReal = late.map(\.dReal).reduce(0, +) / Double(late.count), dFake = late.map(\.dFake).reduce(0, +) / Double(late.count)
    #expect(dReal < 0.95 && dFake > 0.05, "D(x) \(dReal), D(G(z)) \(dFake)")
    let run = folder.appendingPathComponent("run").path
    for file in ["metrics.csv", "loss.png", "checkpoint.safetensors", "spec.xml", "samples/final.png"] {
      #expect(FileManager.default.fileExists(atPath: run + "/" + file), "missing \(file)")
    }
    let metrics = try String(contentsOfFile: run + "/metrics.csv", encoding: .utf8).split(separator: "\n")
    #expect(metrics.first == "step,d_loss,g_loss,d_real,d_fake,seconds")
    #expect(metrics.count == 1501)
  }

  @Test("resume continues to the same bits as an uninterrupted run")
  func resumeIsExact() throws {
    let straight = temporaryFolder(), split = temporaryFolder()
    let a = try makeTrainer(ringSpec(steps: 120), folder: straight)
    _ = try a.train(log: { _ in })
    let first = try makeTrainer(ringSpec(steps: 70), folder: split)
    _ = try first.train(log: { _ in })
    let second = try makeTrainer(ringSpec(steps: 120), folder: split, resume: true)
    _ = try second.train(log: { _ in })
    let x = try Checkpoint.read(straight.appendingPathComponent("run/checkpoint.safetensors").path)
    let y = try Checkpoint.read(split.appendingPathComponent("run/checkpoint.safetensors").path)
    #expect(x.tensors.map(\.name) == y.tensors.map(\.name))
    for (s, t) in zip(x.tensors, y.tensors) {
      #expect(s.values.map(\.bitPattern) == t.values.map(\.bitPattern), "\(s.name) differs after resuming")
    }
    #expect(x.metadata["ganc.step"] == "120" && y.metadata["ganc.step"] == "120")
  }

  @Test("a changed spec is refused on resume, with a clear message")
  func changedSpecRefused() throws {
    let folder = temporaryFolder()
    _ = try makeTrainer(ringSpec(steps: 20), folder: folder).train(log: { _ in })
    let changed = try makeTrainer(ringSpec(steps: 40, lr: "1e-3"), folder: folder, resume: false)
    #expect(throws: DataError.self) { try changed.restore(from: folder.appendingPathComponent("run/checkpoint.safetensors").path) }
    // Starting a new run over an old one is refused too: nothing the user has is lost.
    #expect(throws: DataError.self) { try changed.train(log: { _ in }) }
  }

  @Test("a corrupted or truncated checkpoint is refused")
  func corruptedRefused() throws {
    let folder = temporaryFolder()
    _ = try makeTrainer(ringSpec(steps: 10), folder: folder).train(log: { _ in })
    let path = folder.appendingPathComponent("run/checkpoint.safetensors").path
    var data = try Data(contentsOf: URL(fileURLWithPath: path))
    #expect(throws: Never.self) { _ = try Checkpoint.read(path) }
    let truncated = folder.appendingPathComponent("truncated.safetensors").path
    try data.prefix(data.count - 100).write(to: URL(fileURLWithPath: truncated))
    #expect(throws: DataError.self) { _ = try Checkpoint.read(truncated) }
    data[data.count - 10] ^= 0xFF
    let flipped = folder.appendingPathComponent("flipped.safetensors").path
    try data.write(to: URL(fileURLWithPath: flipped))
    #expect(throws: DataError.self) { _ = try Checkpoint.read(flipped) }
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: flipped))
    #expect(throws: DataError.self) { _ = try Checkpoint.read(flipped) }
    try Data(repeating: 0xFF, count: 64).write(to: URL(fileURLWithPath: flipped))
    #expect(throws: DataError.self) { _ = try Checkpoint.read(flipped) }
  }

  @Test("a NaN in a weight triggers the divergence guard instead of training on NaNs")
  func nanGuard() throws {
    let folder = temporaryFolder()
    let trainer = try makeTrainer(ringSpec(steps: 10), folder: folder)
    _ = try trainer.train(log: { _ in })
    let path = folder.appendingPathComponent("run/checkpoint.safetensors").path
    var c = try Checkpoint.read(path)
    let i = c.tensors.firstIndex { $0.name == "discriminator.0.weight" }!
    c.tensors[i].values[0] = .nan
    try c.write(to: path)
    let resumed = try makeTrainer(ringSpec(steps: 20), folder: folder, resume: true)
    do {
      _ = try resumed.train(log: { _ in })
      Issue.record("training went on with a NaN weight")
    } catch let e as DataError {
      #expect(e.message.contains("diverged"))
    }
  }

  @Test("the guard's lower-lr policy rolls back and halves the learning rates")
  func lowerLR() throws {
    let folder = temporaryFolder()
    // A learning rate far too high makes the weights blow up.
    let path = folder.appendingPathComponent("spec.xml").path
    let text = ringSpec(steps: 200, lr: "1e30").replacingOccurrences(of: "beta1=\"0.5\"", with: "kind=\"sgd\"")
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    let checked = Linter.lint(path, sources: SourceStore()).checked!
    var options = TrainOptions()
    options.out = folder.appendingPathComponent("run").path
    options.quiet = true
    options.onDivergence = .lowerLR
    let trainer = try Trainer(checked, specText: text, options: options)
    var lines: [String] = []
    _ = try? trainer.train(log: { lines.append($0) })
    #expect(lines.contains { $0.contains("halved the learning rates") })
    #expect(trainer.lrScale < 1)
  }
}

@Suite("Model hashes of earlier versions")
struct ModelHashTests {
  @Test("a GAN spec keeps the hash that earlier versions wrote into its checkpoints, so their runs still resume")
  func stableHash() throws {
    // The hash in a checkpoint of specs/pacgan-grid.xml written by the build of 2026-11-30.
    let result = Linter.lint(packageRoot.appendingPathComponent("specs/pacgan-grid.xml").path, sources: SourceStore())
    let checked = try #require(result.checked)
    #expect(Trainer.modelHash(checked.spec) == "e99c1378386b74d")
    // What only the new language can say changes it.
    var semi = checked.spec
    semi.training.featureMatching = "x"
    #expect(Trainer.modelHash(semi) != "e99c1378386b74d")
  }

  @Test("the judge's classifier spec keeps the hash of its checkpoint of 2026-12-01 (runs/fashion-judge)")
  func judgeHash() throws {
    let result = Linter.lint(packageRoot.appendingPathComponent("specs/fashion-judge.xml").path, sources: SourceStore())
    let checked = try #require(result.checked)
    // Written by a build of 2026-12-01 whose hash put the kind first; accepted beside today's.
    #expect(Trainer.modelHashes(checked.spec).contains("7cf25b1bf57f25a0"))
    #expect(Trainer.modelHash(checked.spec) != "7cf25b1bf57f25a0")
  }
}
