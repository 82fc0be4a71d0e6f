import Foundation
import GANTestSupport
import Testing
import GANTrainer

/// A fresh folder holding `text` as spec.xml, and the run folder to train into.
private func specAndRun(_ text: String) throws -> (folder: URL, spec: String, run: String) {
  let folder = temporaryFolder()
  let spec = folder.appendingPathComponent("spec.xml").path
  try text.write(toFile: spec, atomically: true, encoding: .utf8)
  return (folder, spec, folder.appendingPathComponent("run").path)
}

@Suite("The train, sample and eval commands", .serialized)
struct CommandTests {
  @Test("a training run killed at any moment leaves a loadable checkpoint")
  func killedWrites() throws {
    let (_, spec, run) = try specAndRun(
      ringSpec(steps: 1_000_000).replacingOccurrences(of: "checkpoint-every=\"50\"", with: "checkpoint-every=\"1\"")
    )
    var loaded = 0
    for attempt in 0..<6 {
      let p = try ganc(["train", spec, "--out", run, "-q"] + (attempt == 0 ? [] : ["--resume", run]), wait: false)
      usleep(UInt32(300_000 + attempt * 137_000))
      kill(p.processIdentifier, SIGKILL)
      p.waitUntilExit()
      let path = run + "/checkpoint.safetensors"
      if FileManager.default.fileExists(atPath: path) {
        #expect(throws: Never.self) { _ = try Checkpoint.read(path) }
        loaded += 1
      }
    }
    #expect(loaded >= 4)
  }

  @Test("Ctrl-C saves a checkpoint and exits; the run resumes from it")
  func interrupt() throws {
    let (_, spec, run) = try specAndRun(ringSpec(steps: 1_000_000))
    let p = try ganc(["train", spec, "--out", run, "-q"], wait: false)
    usleep(800_000)
    kill(p.processIdentifier, SIGINT)
    p.waitUntilExit()
    #expect(p.terminationStatus == 130)
    let c = try Checkpoint.read(run + "/checkpoint.safetensors")
    let step = Int(c.metadata["ganc.step"] ?? "") ?? 0
    #expect(step > 0)
    let resumed = try ganc(["train", "--resume", run, "--steps", String(step + 5), "-q"])
    #expect(resumed.terminationStatus == 0)
    #expect(try Checkpoint.read(run + "/checkpoint.safetensors").metadata["ganc.step"] == String(step + 5))
  }

  @Test("sample writes png, csv and npy; eval reports the mode metrics")
  func sampleAndEval() throws {
    let (folder, spec, run) = try specAndRun(ringSpec(steps: 30))
    #expect(try ganc(["train", spec, "--out", run, "-q"]).terminationStatus == 0)
    for format in ["png", "csv", "npy"] {
      let out = folder.appendingPathComponent("s.\(format)").path
      #expect(try ganc(["sample", run, "-n", "10", "--format", format, "--out", out]).terminationStatus == 0)
      #expect(FileManager.default.fileExists(atPath: out))
    }
    let csv = try String(contentsOfFile: folder.appendingPathComponent("s.csv").path, encoding: .utf8).split(separator: "\n")
    #expect(csv.count == 11)
    let npy = try Data(contentsOf: folder.appendingPathComponent("s.npy"))
    #expect(npy.starts(with: [0x93] + Array("NUMPY".utf8)))
    #expect(try ganc(["eval", run]).terminationStatus == 0)
    let report = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/eval.json"))) as? [String: Any]
    #expect(report?["modes"] as? Int == 4)
    // A run folder that is not one, and a damaged checkpoint, are clear errors.
    #expect(try ganc(["sample", temporaryFolder().path]).terminationStatus == 2)
    try Data([1, 2, 3]).write(to: URL(fileURLWithPath: run + "/checkpoint.safetensors"))
    #expect(try ganc(["sample", run]).terminationStatus == 1)
  }

  @Test("a run whose spec names data by a relative path reopens from any folder")
  func relativeDataPaths() throws {
    let folder = temporaryFolder()
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("specs"), withIntermediateDirectories: true)
    try FileManager.default.createDirectory(at: folder.appendingPathComponent("data"), withIntermediateDirectories: true)
    try ("a,b\n" + (0..<50).map { "\($0),\($0 * 100)" }.joined(separator: "\n") + "\n")
      .write(to: folder.appendingPathComponent("data/t.csv"), atomically: true, encoding: .utf8)
    let spec = ringSpec(steps: 20).replacingOccurrences(of: "<data source=\"ring\" modes=\"4\" radius=\"1\" std=\"0.1\"/>", with: "<data source=\"csv\" path=\"../data/t.csv\"/>")
    try spec.write(to: folder.appendingPathComponent("specs/t.xml"), atomically: true, encoding: .utf8)
    let run = folder.appendingPathComponent("run").path
    #expect(try ganc(["train", folder.appendingPathComponent("specs/t.xml").path, "--out", run, "-q"]).terminationStatus == 0)
    let out = folder.appendingPathComponent("s.csv").path
    #expect(try ganc(["sample", run, "-n", "3", "--format", "csv", "--out", out]).terminationStatus == 0)
    #expect(try String(contentsOfFile: out, encoding: .utf8).hasPrefix("a,b\n"))
    #expect(try ganc(["train", "--resume", run, "--steps", "25", "-q"]).terminationStatus == 0)
  }

  @Test("a run trained with --seed and --batch overrides reopens with them")
  func overridesRemembered() throws {
    let (_, spec, run) = try specAndRun(ringSpec(steps: 10))
    #expect(try ganc(["train", spec, "--out", run, "--seed", "9", "--batch", "32", "-q"]).terminationStatus == 0)
    #expect(try ganc(["eval", run, "--samples", "50"]).terminationStatus == 0)
    #expect(try ganc(["sample", run, "-n", "2", "--format", "csv", "--out", run + "/s.csv"]).terminationStatus == 0)
    #expect(try ganc(["train", "--resume", run, "--steps", "15", "-q"]).terminationStatus == 0)
    #expect(try Checkpoint.read(run + "/checkpoint.safetensors").metadata["ganc.seed"] == "9")
    // The library path (Examples/GenerateSamples) reopens it the same way.
    let reopened = try Trainer.open(run: run)
    #expect(reopened.checked.spec.training.batch == 32 && reopened.checked.spec.training.seed == 9)
    let example = Process()
    example.executableURL = URL(fileURLWithPath: gancBinary).deletingLastPathComponent().appendingPathComponent("GenerateSamples")
    example.arguments = [run, "3"]
    let out = Pipe()
    example.standardOutput = out
    example.standardError = FileHandle.nullDevice
    try example.run()
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    example.waitUntilExit()
    #expect(example.terminationStatus == 0)
    #expect(text.split(separator: "\n").count == 3, "\(text)")
  }

  @Test("temporary files of writers killed mid-write are removed when a run starts or resumes; a live writer's are kept")
  func staleTemporaries() throws {
    let (_, spec, run) = try specAndRun(ringSpec(steps: 5))
    try FileManager.default.createDirectory(atPath: run + "/samples", withIntermediateDirectories: true)
    // A process that has exited: its id names no process now.
    let gone = Process()
    gone.executableURL = URL(fileURLWithPath: "/bin/true")
    try gone.run()
    gone.waitUntilExit()
    let dead = gone.processIdentifier
    let stale = [run + "/checkpoint.safetensors.tmp-\(dead)", run + "/samples/final.png.tmp-\(dead)"]
    let live = run + "/checkpoint.safetensors.tmp-\(getpid())"
    for path in stale + [live] { FileManager.default.createFile(atPath: path, contents: Data(count: 1000)) }
    #expect(try ganc(["train", spec, "--out", run, "-q"]).terminationStatus == 0)
    for path in stale { #expect(!FileManager.default.fileExists(atPath: path), "\(path) was left") }
    #expect(FileManager.default.fileExists(atPath: live))
    FileManager.default.createFile(atPath: stale[0], contents: Data(count: 10))
    #expect(try ganc(["train", "--resume", run, "--steps", "8", "-q"]).terminationStatus == 0)
    #expect(!FileManager.default.fileExists(atPath: stale[0]))
  }
}

@Suite("Learning-rate schedules")
struct ScheduleCommandTests {
  @Test("the fed learning rate follows the schedule each update, and a resumed run feeds the same")
  func fedRates() throws {
    let folder = temporaryFolder()
    let spec = write(
      ringSpec(steps: 6, threads: 1).replacingOccurrences(
        of: "<optimizer net=\"generator\" lr=\"2e-3\" beta1=\"0.5\"/>", with: "<optimizer net=\"generator\" lr=\"2e-3\" beta1=\"0.5\" schedule=\"linear\" warmup=\"2\"/>"),
      to: "spec.xml", in: folder)
    let trace = folder.appendingPathComponent("trace").path, run = folder.appendingPathComponent("run").path
    #expect(runGanc(["train", spec, "--out", run, "--trace", trace, "-q"]).code == 0)
    let expected: [Float] = [0.5, 1, 1, 0.75, 0.5, 0.25].map { Float(2e-3 * $0) }
    for step in 1...6 {
      let fed = try Checkpoint.read(trace + String(format: "/step-%06d-g.safetensors", step))
      let lr = try #require(fed.tensor("generator.lr")).first!
      #expect(abs(lr - expected[step - 1]) <= 1e-9, "step \(step): lr \(lr)")
      let dStep = try Checkpoint.read(trace + String(format: "/step-%06d-d-0.safetensors", step))
      let dLR = dStep.tensor("discriminator.lr")?.first
      #expect(dLR == Float(2e-3))
    }
    // A warm-up depends on the update count alone: stopping at step 3 and
    // resuming to 6 ends in the same bits as one run of 6.
    let warm = write(
      ringSpec(steps: 6, threads: 1).replacingOccurrences(of: "beta1=\"0.5\"/>", with: "beta1=\"0.5\" warmup=\"2\"/>"), to: "warm.xml", in: folder)
    let whole = folder.appendingPathComponent("whole").path, split = folder.appendingPathComponent("split").path
    #expect(runGanc(["train", warm, "--out", whole, "-q"]).code == 0)
    #expect(runGanc(["train", warm, "--out", split, "--steps", "3", "-q"]).code == 0)
    #expect(runGanc(["train", "--resume", split, "--steps", "6", "-q"]).code == 0)
    let a = try Checkpoint.read(whole + "/checkpoint.safetensors"), b = try Checkpoint.read(split + "/checkpoint.safetensors")
    for name in ["generator.0.weight", "discriminator.4.weight"] { #expect(a.tensor(name) == b.tensor(name), "\(name) differs after resuming") }
  }
}

@Suite("Lazy regularisation")
struct LazyRegularizationTests {
  @Test("the penalised D-step runs on every k-th D update, from the first")
  func schedule() throws {
    let folder = temporaryFolder()
    let spec = write(ringSpec(steps: 5, extra: "r1=\"2\" regularize-every=\"2\" d-steps=\"1\"", threads: 1), to: "spec.xml", in: folder)
    let trace = folder.appendingPathComponent("trace").path
    #expect(runGanc(["train", spec, "--out", folder.appendingPathComponent("run").path, "--trace", trace, "-q"]).code == 0)
    let programs = try (1...5).map { try Checkpoint.read(trace + String(format: "/step-%06d-d-0.safetensors", $0)).metadata["program"] ?? "" }
    #expect(programs == ["d-step-regularized", "d-step", "d-step-regularized", "d-step", "d-step-regularized"])
  }
}
