import Foundation
import Testing

// What every test target needs from the file system, in one place.

/// The package root, found from this file's path.
public let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

/// A fresh temporary folder for one test.
public func temporaryFolder() -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("ganc-tests-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// The path of the built `ganc` executable beside the test bundle.
public let gancBinary: String = {
  var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for _ in 0..<4 {
    let candidate = dir.appendingPathComponent("ganc").path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    dir = dir.deletingLastPathComponent()
  }
  return packageRoot.appendingPathComponent(".build/debug/ganc").path
}()

/// The worst relative error |x - y| / max(1, |y|) between what a program
/// computed and what it should have. A NaN or infinity on either side, or
/// sequences of different lengths, make it infinite: `max(worst, .nan)`
/// keeps `worst`, so a plain running maximum lets a NaN-returning kernel pass.
public func worstRelativeError<A: Collection, B: Collection>(_ got: A, _ expected: B) -> Double
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
  guard got.count == expected.count else { return .infinity }
  var worst = 0.0
  for (x, y) in zip(got, expected) {
    let a = Double(x), b = Double(y)
    guard a.isFinite, b.isFinite else {
      if a == b { continue }  // the same infinity
      return .infinity
    }
    worst = max(worst, abs(a - b) / max(1, abs(b)))
  }
  return worst
}

/// Writes `text` to `name` in `folder` and returns its path.
@discardableResult
public func write(_ text: String, to name: String, in folder: URL) -> String {
  let url = folder.appendingPathComponent(name)
  try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
  try? text.write(to: url, atomically: true, encoding: .utf8)
  return url.path
}

/// A small valid spec whose line numbers the case table relies on.
public let baseSpec = """
  <?xml version="1.0" encoding="UTF-8"?>
  <gan name="t" version="1">
    <data source="ring" modes="8" radius="1" std="0.01"/>
    <latent size="8"/>
    <generator>
      <dense units="16" activation="relu"/>
      <dense units="2"/>
    </generator>
    <discriminator>
      <dense units="16" activation="leaky-relu"/>
      <dense units="1"/>
    </discriminator>
    <training steps="10" batch="4" seed="1">
      <optimizer net="generator" lr="1e-3"/>
      <optimizer net="discriminator" lr="1e-3"/>
    </training>
  </gan>

  """

/// Runs ganc with `arguments`, returning its exit code and standard output.
public func runGanc(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) -> (code: Int32, out: String, err: String) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: gancBinary)
  process.arguments = arguments
  var env = ProcessInfo.processInfo.environment
  for (k, v) in environment { env[k] = v }
  process.environment = env
  if let directory { process.currentDirectoryURL = directory }
  let out = Pipe(), err = Pipe()
  process.standardOutput = out
  process.standardError = err
  do { try process.run() } catch { return (-1, "", "\(error)") }
  let o = out.fileHandleForReading.readDataToEndOfFile()
  let e = err.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A small ring spec that trains in seconds even in a debug build.
public func ringSpec(steps: Int = 300, extra: String = "", lr: String = "2e-3", seed: Int = 3, threads: Int = 2, checkpointEvery: Int = 50) -> String {
  """
  <gan name="small-ring" version="1">
    <data source="ring" modes="4" radius="1" std="0.1"/>
    <latent size="4"/>
    <generator>
      <dense units="32" activation="relu"/>
      <dense units="32" activation="relu"/>
      <dense units="2"/>
    </generator>
    <discriminator>
      <dense units="32" activation="leaky-relu"/>
      <dense units="32" activation="leaky-relu"/>
      <dense units="1"/>
    </discriminator>
    <training steps="\(steps)" batch="64" seed="\(seed)" threads="\(threads)" \(extra)>
      <optimizer net="generator" lr="\(lr)" beta1="0.5"/>
      <optimizer net="discriminator" lr="\(lr)" beta1="0.5"/>
    </training>
    <output samples-every="0" checkpoint-every="\(checkpointEvery)"/>
  </gan>
  """
}

/// Runs ganc with `arguments` (output discarded), waiting for it unless `wait` is false.
public func ganc(_ arguments: [String], wait: Bool = true) throws -> Process {
  let p = Process()
  p.executableURL = URL(fileURLWithPath: gancBinary)
  p.arguments = arguments
  p.standardOutput = FileHandle.nullDevice
  p.standardError = FileHandle.nullDevice
  try p.run()
  if wait { p.waitUntilExit() }
  return p
}

/// Compares `text` with the golden file `Tests/<folder>/Snapshots/<name>`; with
/// GANC_RECORD_SNAPSHOTS=1 writes it anew instead (then review the diff).
public func assertSnapshot(_ text: String, named name: String, in folder: String, sourceLocation: SourceLocation = #_sourceLocation) {
  let url = packageRoot.appendingPathComponent("Tests/\(folder)/Snapshots/\(name)")
  if ProcessInfo.processInfo.environment["GANC_RECORD_SNAPSHOTS"] == "1" {
    try? text.write(to: url, atomically: true, encoding: .utf8)
    return
  }
  let expected = (try? String(contentsOf: url, encoding: .utf8)) ?? "<no snapshot \(name)>"
  #expect(text == expected, "snapshot \(name) differs; rerun with GANC_RECORD_SNAPSHOTS=1 and review the diff", sourceLocation: sourceLocation)
}

/// Trains `specText` (written as spec.xml in a new folder) into `folder/run`
/// with `arguments` added; returns both, the training's exit code checked by the caller.
public func trainedRun(_ specText: String, arguments: [String] = []) -> (folder: URL, run: String, code: Int32) {
  let folder = temporaryFolder()
  let spec = write(specText, to: "spec.xml", in: folder)
  let run = folder.appendingPathComponent("run").path
  return (folder, run, runGanc(["train", spec, "--out", run, "-q"] + arguments, directory: folder).code)
}
