import Foundation
import GANTestSupport
import GANDiagnostics
@testable import GANSpec

/// Writes `text` to `name` in `folder` and returns its path.
@discardableResult
func write(_ text: String, to name: String, in folder: URL) -> String {
  let url = folder.appendingPathComponent(name)
  try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
  try? text.write(to: url, atomically: true, encoding: .utf8)
  return url.path
}

/// Lints `text` as a file named `name` in a fresh folder.
func lint(_ text: String, name: String = "spec.xml", folder: URL? = nil) -> LintResult {
  let folder = folder ?? temporaryFolder()
  let path = write(text, to: name, in: folder)
  return Linter.lint(path, sources: SourceStore())
}

/// A small valid spec whose line numbers the case table relies on.
let baseSpec = """
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
func runGanc(_ arguments: [String], environment: [String: String] = [:], directory: URL? = nil) -> (code: Int32, out: String, err: String) {
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
