import Foundation
import GANData
import GANTestSupport
import GANTrainer
import Testing

@Suite("Run artefacts: TensorBoard events and checkpoint history")
struct RunArtefactTests {
  @Test("the event file's records are framed and checksummed as TFRecord says, one scalar event per step")
  func eventRecords() throws {
    let (_, run, code) = trainedRun(ringSpec(steps: 30, threads: 1, checkpointEvery: 10))
    #expect(code == 0)
    let names = try FileManager.default.contentsOfDirectory(atPath: run).filter { $0.hasPrefix("events.out.tfevents.") }
    #expect(names.count == 1)
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: run + "/" + names[0])))
    var offset = 0, records = 0
    func u32(_ at: Int) -> UInt32 { UInt32(bytes[at]) | UInt32(bytes[at + 1]) << 8 | UInt32(bytes[at + 2]) << 16 | UInt32(bytes[at + 3]) << 24 }
    while offset < bytes.count {
      let lengthBytes = Array(bytes[offset..<(offset + 8)])
      let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
      #expect(u32(offset + 8) == CRC32C.masked(lengthBytes))
      let data = Array(bytes[(offset + 12)..<(offset + 12 + length)])
      #expect(u32(offset + 12 + length) == CRC32C.masked(data))
      offset += 16 + length
      records += 1
    }
    #expect(offset == bytes.count)
    // The version event, the spec and the command as text, 30 scalar events, and the final samples picture.
    #expect(records == 1 + 2 + 30 + 1)
  }

  @Test("keep=3 keeps the last three checkpoints; sample and eval take --step, and name the steps there are")
  func history() throws {
    let text = ringSpec(steps: 50, threads: 1, checkpointEvery: 10).replacingOccurrences(of: "<output ", with: "<output keep=\"3\" ")
    let (folder, run, code) = trainedRun(text)
    #expect(code == 0)
    #expect(Trainer.history(ofRun: run).map(\.step) == [30, 40, 50])
    let c = try Checkpoint.read(Trainer.historyPath(run: run, step: 40))
    #expect(c.metadata["ganc.step"] == "40")
    let sampled = runGanc(["sample", run, "--step", "40", "-n", "8", "--format", "csv", "--out", folder.appendingPathComponent("s40.csv").path])
    #expect(sampled.code == 0, "\(sampled.err)")
    let other = runGanc(["sample", run, "--step", "50", "-n", "8", "--format", "csv", "--out", folder.appendingPathComponent("s50.csv").path])
    #expect(other.code == 0)
    // Different weights, different samples from the same noise.
    #expect(try String(contentsOfFile: folder.appendingPathComponent("s40.csv").path, encoding: .utf8) != String(contentsOfFile: folder.appendingPathComponent("s50.csv").path, encoding: .utf8))
    let missing = runGanc(["eval", run, "--step", "20"])
    #expect(missing.code != 0 && missing.err.contains("no checkpoint of step 20") && missing.err.contains("30, 40, 50"), "\(missing.err)")
    // Resuming keeps pruning: three again, the newest last.
    #expect(runGanc(["train", "--resume", run, "--steps", "70", "-q"]).code == 0)
    #expect(Trainer.history(ofRun: run).map(\.step) == [50, 60, 70])
  }

  @Test("report.html: the commands of each invocation, the escaped spec, the curves and at most 16 sample pictures, the last one final")
  func report() throws {
    let text = ringSpec(steps: 100, threads: 1, checkpointEvery: 50).replacingOccurrences(of: "samples-every=\"0\"", with: "samples-every=\"5\"")
    let (folder, run, code) = trainedRun(text, arguments: ["--steps", "60"])
    #expect(code == 0)
    #expect(runGanc(["train", "--resume", run, "--steps", "100", "-q"], directory: folder).code == 0)
    let commands = try String(contentsOfFile: run + "/commands.txt", encoding: .utf8).split(separator: "\n")
    #expect(commands.count == 2)
    #expect(commands.allSatisfy { $0.hasPrefix("cd \(folder.path) && ganc train ") }, "\(commands)")
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    // Twenty pictures (steps 5...100) thinned to 15 and the final one, plus the loss curves.
    #expect(html.components(separatedBy: "<img ").count - 1 == 1 + 16)
    #expect(html.contains("samples, step 5\"") && html.contains("samples, step 100\"") && html.contains("samples, end of training"))
    #expect(html.contains("&lt;gan name=&quot;small-ring&quot;") || html.contains("&lt;gan name=\"small-ring\""))
    #expect(!html.contains("<gan "))
    #expect(html.contains("--resume"))
    #expect(html.contains("Not evaluated yet"))
    #expect(runGanc(["eval", run]).code == 0)
    let evaluated = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    #expect(evaluated.contains("modes_covered") && !evaluated.contains("Not evaluated yet"))
    // ganc report writes it again (for a run an earlier ganc made).
    try FileManager.default.removeItem(atPath: run + "/report.html")
    #expect(runGanc(["report", run]).code == 0)
    #expect(try String(contentsOfFile: run + "/report.html", encoding: .utf8).contains("modes_covered"))
  }
}
