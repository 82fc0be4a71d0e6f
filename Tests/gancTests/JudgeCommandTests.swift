import Foundation
import GANTestSupport
import Testing

/// `count` 8x8 IDX images in 3 classes (class c: a bright band at rows 2c..2c+1,
/// plus seeded noise) and their labels.
private func bands(count: Int, seed: UInt64) -> (images: Data, labels: Data) {
  var images = Data([0, 0, 8, 3, 0, 0, UInt8(count >> 8), UInt8(count & 255), 0, 0, 0, 8, 0, 0, 0, 8])
  var labels = Data([0, 0, 8, 1, 0, 0, UInt8(count >> 8), UInt8(count & 255)])
  var state = seed
  for n in 0..<count {
    let c = n % 3
    labels.append(UInt8(c))
    for row in 0..<8 {
      for _ in 0..<8 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let noise = Int(state >> 58)  // 0..63
        images.append(UInt8(row / 2 == c ? 190 + noise : noise))
      }
    }
  }
  return (images, labels)
}

private let judgeSpec = """
  <classifier name="bands-judge" version="1">
    <data source="idx" images="train.idx" labels="train-labels.idx"/>
    <test source="idx" images="test.idx" labels="test-labels.idx"/>
    <network>
      <conv2d filters="4" kernel="4" stride="2" padding="1" activation="relu"/>
      <flatten/>
      <dense units="8" activation="relu" id="features"/>
      <dense units="3"/>
    </network>
    <training steps="120" batch="12" seed="3" threads="1">
      <optimizer net="classifier" kind="adam" lr="0.01"/>
    </training>
  </classifier>
  """

private func ganSpec(output: String) -> String {
  """
  <gan name="bands-gan" version="1">
    <data source="idx" images="train.idx" labels="train-labels.idx"/>
    <latent size="4"/>
    <generator><dense units="64" activation="tanh"/><reshape shape="1 8 8"/></generator>
    <discriminator><flatten/><dense units="16" activation="leaky-relu"/><dense units="1"/></discriminator>
    <training steps="20" batch="8" seed="2" threads="1">
      <optimizer net="generator" kind="adam" lr="1e-3" beta1="0.5"/>
      <optimizer net="discriminator" kind="adam" lr="1e-3" beta1="0.5"/>
    </training>
    \(output)
  </gan>
  """
}

@Suite("A judge trained by ganc, and generators measured on it", .serialized)
struct JudgeCommandTests {
  let folder: URL

  init() throws {
    folder = temporaryFolder()
    for (name, seed, count) in [("train", UInt64(1), 90), ("test", UInt64(2), 60)] {
      let (images, labels) = bands(count: count, seed: seed)
      try images.write(to: folder.appendingPathComponent("\(name).idx"))
      try labels.write(to: folder.appendingPathComponent("\(name)-labels.idx"))
    }
  }

  func path(_ name: String) -> String { folder.appendingPathComponent(name).path }

  func json(_ file: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as? [String: Any] ?? [:]
  }

  @Test("a classifier trains, reports its test accuracy, and reruns to the same bits")
  func classifier() throws {
    let spec = write(judgeSpec, to: "judge.xml", in: folder)
    let lint = runGanc(["lint", spec])
    #expect(lint.code == 0 && lint.out.contains("classifier"), "\(lint.out)\(lint.err)")
    let first = runGanc(["train", spec, "--out", path("judge")])
    #expect(first.code == 0, "\(first.err)")
    #expect(first.err.contains("test accuracy") || first.out.contains("test accuracy"), "\(first.out)\(first.err)")
    let report = try json(path("judge/eval.json"))
    let accuracy = report["test_accuracy"] as? Double ?? 0
    #expect(accuracy > 0.9, "test accuracy \(accuracy)")
    #expect(report["test_samples"] as? Int == 60)
    #expect(runGanc(["train", spec, "--out", path("judge2"), "-q"]).code == 0)
    let a = try Data(contentsOf: URL(fileURLWithPath: path("judge/checkpoint.safetensors")))
    let b = try Data(contentsOf: URL(fileURLWithPath: path("judge2/checkpoint.safetensors")))
    #expect(a == b, "a rerun with the same seed and threads differs")
    // ganc eval on a judge: its accuracy and its reference points (training images, noise).
    let eval = runGanc(["eval", path("judge"), "--samples", "60"])
    #expect(eval.code == 0, "\(eval.err)")
    #expect(eval.out.contains("training images") && eval.out.contains("uniform noise"), "\(eval.out)")
    let points = try json(path("judge/eval.json"))["reference_points"] as? [String: [String: Double]] ?? [:]
    let floor = points["training_images"]?["fd"] ?? .infinity, noise = points["uniform_noise"]?["fd"] ?? 0
    #expect(floor * 10 < noise, "training images FD \(floor), noise FD \(noise)")
  }

  @Test("eval --judge reports FD, KID, precision/recall, density/coverage with the judge's SHA-256; without one it says how to get one")
  func evalWithJudge() throws {
    #expect(runGanc(["train", write(judgeSpec, to: "judge.xml", in: folder), "--out", path("judge"), "-q"]).code == 0)
    let gan = write(ganSpec(output: ""), to: "gan.xml", in: folder)
    #expect(runGanc(["train", gan, "--out", path("gan"), "-q"]).code == 0)
    let plain = runGanc(["eval", path("gan"), "--samples", "40"])
    #expect(plain.code == 0 && plain.out.contains("only pixel statistics are available without a judge"), "\(plain.out)")
    let judged = runGanc(["eval", path("gan"), "--judge", path("judge"), "--samples", "40"])
    #expect(judged.code == 0, "\(judged.err)")
    for word in ["FD", "KID", "precision / recall", "density / coverage", "classes covered"] { #expect(judged.out.contains(word), "\(word) missing: \(judged.out)") }
    let judge = try json(path("gan/eval.json"))["judge"] as? [String: Any] ?? [:]
    let digest = runShell("sha256sum \(path("judge/checkpoint.safetensors"))").split(separator: " ").first.map(String.init)
    #expect(judge["checkpoint_sha256"] as? String == digest)
    #expect(judge["samples"] as? Int == 40)
    #expect((judge["fd"] as? Double ?? -1) >= 0)
    // A GAN that does not classify is no judge.
    let wrong = runGanc(["eval", path("gan"), "--judge", path("gan")])
    #expect(wrong.code == 1 && wrong.err.contains("is not a judge"), "\(wrong.err)")
  }

  @Test("for a conditional generator, eval --judge reports the judge's accuracy on G(z, y) against y")
  func conditional() throws {
    #expect(runGanc(["train", write(judgeSpec, to: "judge.xml", in: folder), "--out", path("judge"), "-q"]).code == 0)
    let spec = ganSpec(output: "")
      .replacingOccurrences(
        of: "<generator><dense units=\"64\" activation=\"tanh\"/>", with: "<generator><embedding classes=\"3\" dim=\"3\" id=\"e\"/><concat inputs=\"z e\"/><dense units=\"64\" activation=\"tanh\"/>"
      )
      .replacingOccurrences(of: "<discriminator><flatten/>", with: "<discriminator><flatten id=\"f\"/><embedding classes=\"3\" dim=\"3\" id=\"e\"/><concat inputs=\"f e\"/>")
      .replacingOccurrences(of: "threads=\"1\">", with: "threads=\"1\" conditional=\"true\">")
    #expect(runGanc(["train", write(spec, to: "cgan.xml", in: folder), "--out", path("cgan"), "-q"]).code == 0)
    let judged = runGanc(["eval", path("cgan"), "--judge", path("judge"), "--samples", "30"])
    #expect(judged.code == 0 && judged.out.contains("class accuracy"), "\(judged.out)\(judged.err)")
    let judge = try json(path("cgan/eval.json"))["judge"] as? [String: Any] ?? [:]
    let accuracy = judge["class_accuracy"] as? Double ?? -1
    #expect(accuracy >= 0 && accuracy <= 1)
  }

  @Test("eval-every logs the metrics in metrics.csv, plots them and keeps the best checkpoint")
  func evalEvery() throws {
    #expect(runGanc(["train", write(judgeSpec, to: "judge.xml", in: folder), "--out", path("judge"), "-q"]).code == 0)
    let spec = write(ganSpec(output: "<output eval-every=\"10\" judge=\"\(path("judge"))\" eval-samples=\"30\"/>"), to: "gan.xml", in: folder)
    let run = runGanc(["train", spec, "--out", path("gan"), "-q"])
    #expect(run.code == 0, "\(run.err)")
    let lines = try String(contentsOfFile: path("gan/metrics.csv"), encoding: .utf8).split(separator: "\n")
    #expect(lines[0].hasSuffix(",fd,kid,precision,recall,density,coverage"))
    let evaluated = lines.dropFirst().filter { !$0.hasSuffix(",,,,,,") }.map { $0.split(separator: ",").first! }
    #expect(evaluated == ["10", "20"])
    for file in ["best.safetensors", "fd.png", "quality.png"] { #expect(FileManager.default.fileExists(atPath: path("gan/\(file)")), "\(file) missing") }
    // A judge that is not there stops the run before its first step.
    let missing = write(ganSpec(output: "<output eval-every=\"10\" judge=\"\(path("nowhere"))\"/>"), to: "gan2.xml", in: folder)
    let failed = runGanc(["train", missing, "--out", path("gan2"), "-q"])
    #expect(failed.code == 1 && failed.err.contains("cannot open the judge"), "\(failed.err)")
  }
}

/// The standard output of a shell command.
private func runShell(_ command: String) -> String {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: "/bin/sh")
  p.arguments = ["-c", command]
  let pipe = Pipe()
  p.standardOutput = pipe
  try? p.run()
  p.waitUntilExit()
  return String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
}
