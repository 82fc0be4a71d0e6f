import Foundation
import GANTestSupport
import GANTrainer
import Testing

/// Runs `mpirun -np ranks ganc ARGUMENTS` as CI does: as root and with more
/// ranks than cores (Open MPI needs flags for both), one thread per rank.
func runMPI(_ ranks: Int, _ arguments: [String], timeout: TimeInterval = 300) -> (code: Int32, out: String, err: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: "/usr/bin/mpirun")
  process.arguments = ["-np", String(ranks), "--oversubscribe", "--allow-run-as-root", gancBinary] + arguments
  var env = ProcessInfo.processInfo.environment
  (env["OMPI_ALLOW_RUN_AS_ROOT"], env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"]) = ("1", "1")
  process.environment = env
  // Files, not pipes: nothing blocks on a full pipe while we watch the clock.
  let folder = temporaryFolder()
  let outURL = folder.appendingPathComponent("out.txt"), errURL = folder.appendingPathComponent("err.txt")
  FileManager.default.createFile(atPath: outURL.path, contents: nil)
  FileManager.default.createFile(atPath: errURL.path, contents: nil)
  guard let out = try? FileHandle(forWritingTo: outURL), let err = try? FileHandle(forWritingTo: errURL) else { return (-1, "", "no output files") }
  process.standardOutput = out
  process.standardError = err
  do { try process.run() } catch { return (-1, "", "\(error)") }
  let deadline = Date().addingTimeInterval(timeout)
  while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
  if process.isRunning {
    process.terminate()
    return (-2, "", "mpirun hung past \(timeout) s")
  }
  let text = { (u: URL) in (try? String(contentsOf: u, encoding: .utf8)) ?? "" }
  return (process.terminationStatus, text(outURL), text(errURL))
}

/// A ring spec without batch norm, with SGD (so that the parameters after a
/// step differ from one process's only by the gradients' float rounding).
func sgdRing(steps: Int, batch: Int = 96, extra: String = "") -> String {
  ringSpec(steps: steps, extra: extra, threads: 1, checkpointEvery: 2)
    .replacingOccurrences(of: "batch=\"64\"", with: "batch=\"\(batch)\"")
    .replacingOccurrences(of: "lr=\"2e-3\" beta1=\"0.5\"", with: "kind=\"sgd\" lr=\"0.05\" momentum=\"0.5\"")
}

/// Every tensor of two checkpoints: the largest |a - b| / max |a| of any
/// tensor, leaving out tensors that are zero but for rounding (below 1e-6:
/// the momentum of G's last bias when D's first layer is batch-normalised,
/// whose gradient cancels exactly).
func worstDifference(_ a: String, _ b: String) throws -> Double {
  let x = try Checkpoint.read(a), y = try Checkpoint.read(b)
  var worst = 0.0
  for name in x.tensors.map(\.name) {
    let u = try #require(x.tensor(name)), v = try #require(y.tensor(name))
    #expect(u.count == v.count, "\(name)")
    let scale = Double(u.map { abs($0) }.max() ?? 0)
    let d = zip(u, v).map { Double(abs($0 - $1)) }.max() ?? 0
    if scale < 1e-6 { continue }
    worst = max(worst, d / scale)
  }
  #expect(x.tensors.map(\.name).sorted() == y.tensors.map(\.name).sorted())
  return worst
}

@Suite("Data-parallel training under mpirun", .serialized, .enabled(if: FileManager.default.fileExists(atPath: "/usr/bin/mpirun")))
struct DataParallelTests {
  @Test("2 and 3 ranks compute the step of one process with the global batch, and repeat to the bit", arguments: [2, 3])
  func sameStep(_ ranks: Int) throws {
    let folder = temporaryFolder()
    let spec = write(sgdRing(steps: 3, extra: "ema=\"0.9\""), to: "spec.xml", in: folder)
    let one = folder.appendingPathComponent("one").path
    #expect(runGanc(["train", spec, "--out", one, "-q", "--threads", "1"]).code == 0)
    var runs: [String] = []
    for k in 0..<2 {
      let run = folder.appendingPathComponent("ranks-\(k)").path
      let r = runMPI(ranks, ["train", spec, "--out", run, "-q"])
      #expect(r.code == 0, "\(r.err)")
      runs.append(run + "/checkpoint.safetensors")
    }
    // Summation order differs (each rank sums its rows, then the ranks are summed).
    #expect(try worstDifference(one + "/checkpoint.safetensors", runs[0]) < 1e-5)
    #expect(try Data(contentsOf: URL(fileURLWithPath: runs[0])) == Data(contentsOf: URL(fileURLWithPath: runs[1])))
    let c = try Checkpoint.read(runs[0])
    #expect(c.metadata["ganc.ranks"] == String(ranks) && c.metadata["ganc.batch"] == "96")
    // The report's command says how many ranks reproduce the run (rank 0 alone writes it).
    let commands = try String(contentsOfFile: folder.appendingPathComponent("ranks-0/commands.txt").path, encoding: .utf8)
    #expect(commands.split(separator: "\n").count == 1 && commands.contains(" && mpirun -np \(ranks) ganc train "), "\(commands)")
    // The losses are the means over ranks: the same numbers one process logs.
    let rows = { (p: String) in try String(contentsOfFile: p + "/metrics.csv", encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").dropLast() } }
    #expect(try rows(one).count == rows(runs[0].replacingOccurrences(of: "/checkpoint.safetensors", with: "")).count)
  }

  @Test("with batch norm, sync-batchnorm gives one process's step on 2 ranks; each rank's own statistics do not")
  func syncBatchNorm() throws {
    let folder = temporaryFolder()
    let batchNorm = { (extra: String) in
      sgdRing(steps: 2, extra: extra)
        .replacingOccurrences(of: "<dense units=\"32\" activation=\"relu\"/>", with: "<dense units=\"32\" bias=\"false\"/><batchnorm/><activation kind=\"relu\"/>")
        .replacingOccurrences(
          of: "<dense units=\"32\" activation=\"leaky-relu\"/>", with: "<dense units=\"32\" bias=\"false\"/><batchnorm/><activation kind=\"leaky-relu\"/>")
    }
    let synced = write(batchNorm("sync-batchnorm=\"true\""), to: "synced.xml", in: folder), local = write(batchNorm(""), to: "local.xml", in: folder)
    #expect(try String(contentsOfFile: synced, encoding: .utf8).components(separatedBy: "<batchnorm/>").count == 5)
    let one = folder.appendingPathComponent("one").path
    #expect(runGanc(["train", synced, "--out", one, "-q", "--threads", "1"]).code == 0)
    for (spec, name) in [(synced, "synced"), (local, "local")] {
      let r = runMPI(2, ["train", spec, "--out", folder.appendingPathComponent(name).path, "-q"])
      #expect(r.code == 0, "\(r.err)")
    }
    let path = { (name: String) in folder.appendingPathComponent(name).path + "/checkpoint.safetensors" }
    #expect(try worstDifference(path("one"), path("synced")) < 1e-5)
    #expect(try worstDifference(path("one"), path("local")) > 1e-3)
  }

  @Test("a batch that does not divide among the ranks is a clear error on rank 0 and a non-zero exit")
  func batchMustDivide() {
    let folder = temporaryFolder()
    let spec = write(sgdRing(steps: 2, batch: 64), to: "spec.xml", in: folder)
    let r = runMPI(3, ["train", spec, "--out", folder.appendingPathComponent("run").path, "-q"])
    #expect(r.code != 0)
    #expect(r.err.contains("does not divide among 3 ranks"), "\(r.err)")
    #expect(r.err.components(separatedBy: "does not divide").count == 2, "said once, by rank 0")
  }

  @Test("an interrupted 2-rank run resumes on 2 ranks to the same bits; one process refuses it")
  func resume() throws {
    let folder = temporaryFolder()
    let spec = write(sgdRing(steps: 6), to: "spec.xml", in: folder)
    let whole = folder.appendingPathComponent("whole").path, split = folder.appendingPathComponent("split").path
    #expect(runMPI(2, ["train", spec, "--out", whole, "-q"]).code == 0)
    #expect(runMPI(2, ["train", spec, "--out", split, "-q", "--steps", "4"]).code == 0)
    let r = runMPI(2, ["train", "--resume", split, "-q", "--steps", "6"])
    #expect(r.code == 0, "\(r.err)")
    #expect(try worstDifference(whole + "/checkpoint.safetensors", split + "/checkpoint.safetensors") == 0)
    let alone = runGanc(["train", "--resume", split, "--steps", "8", "-q"])
    #expect(alone.code != 0 && alone.err.contains("written by 2 ranks"), "\(alone.err)")
  }

  @Test("a rank killed mid-run ends the whole job with a non-zero exit, never a hang")
  func rankKilled() throws {
    let folder = temporaryFolder()
    let spec = write(sgdRing(steps: 1_000_000), to: "spec.xml", in: folder)
    let run = folder.appendingPathComponent("run").path
    final class Box: @unchecked Sendable { var result: (code: Int32, out: String, err: String)? = nil }
    let box = Box()
    let done = DispatchSemaphore(value: 0)
    DispatchQueue.global().async {
      box.result = runMPI(2, ["train", spec, "--out", run, "-q"], timeout: 120)
      done.signal()
    }
    // Once training is under way (a checkpoint is written every 2 steps), kill one rank's ganc.
    let deadline = Date().addingTimeInterval(60)
    while !FileManager.default.fileExists(atPath: run + "/checkpoint.safetensors") && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
    let pgrep = Process()
    pgrep.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
    pgrep.arguments = ["-KILL", "-n", "-f", "\(gancBinary) train \(spec) --out \(run)"]
    try pgrep.run()
    pgrep.waitUntilExit()
    #expect(pgrep.terminationStatus == 0, "no rank to kill")
    #expect(done.wait(timeout: .now() + 100) == .success, "mpirun did not end")
    #expect(box.result?.code != 0 && box.result?.code != -2, "\(String(describing: box.result))")
  }
}
