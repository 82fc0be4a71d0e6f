// The front end under libFuzzer: spec bytes in, diagnostics out.
//
// Each input is written as a spec file (beside a layer file and a small
// data file it may name) and linted as `ganc lint` does, then every
// diagnostic is rendered as text and JSON. A crash, a hang, a sanitizer
// report or a leak (run with -detect_leaks=1) is a bug.
//
//   scripts/fuzz.sh [SECONDS]            build with -sanitize=fuzzer,address and run
//   .build/fuzz/.../SpecFuzzer FILE...   replay inputs (also built without the fuzzer)
import Foundation
import GANDiagnostics
import GANSpec

/// A private folder per process holding the spec under test and what it may name.
let workspace: String = {
  let dir = NSTemporaryDirectory() + "ganc-fuzz-\(getpid())"
  try? FileManager.default.createDirectory(atPath: dir + "/nets", withIntermediateDirectories: true)
  let layers = "<network>\n  <dense units=\"16\" activation=\"relu\"/>\n  <dense units=\"2\"/>\n</network>\n"
  try? layers.write(toFile: dir + "/nets/g.xml", atomically: true, encoding: .utf8)
  try? "a,b\n1,2\n3,4\n".write(toFile: dir + "/t.csv", atomically: true, encoding: .utf8)
  return dir
}()

/// Lints `bytes` as a spec and renders every diagnostic both ways.
func lintOnce(_ bytes: UnsafeRawBufferPointer) {
  let path = workspace + "/spec.xml"
  _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
  let sources = SourceStore()
  let result = Linter.lint(path, sources: sources)
  let renderer = DiagnosticRenderer(colour: false)
  var total = 0
  for d in result.diagnostics {
    total += renderer.render(d, sources: sources).utf8.count
    precondition(
      d.location != nil || d.id == .fileEmpty || d.id == .fileNotText || d.id == .fileTooLarge,
      "diagnostic \(d.id.rawValue) has no location: \(d.message)")
  }
  let report = DiagnosticJSON.FileReport(file: path, summary: result.checked.map(LintSummary.fields))
  total += DiagnosticJSON.encode(result.diagnostics, files: [report]).utf8.count
  if result.checked != nil { total += LintSummary.text(result.checked!).utf8.count }
  precondition(total >= 0)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
  lintOnce(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
  return 0
}

#if FUZZING
/// libFuzzer's entry for programs with their own main.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
  _ argc: UnsafeMutablePointer<CInt>,
  _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
  _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links an executable's main as `<module>_main`: hand it to libFuzzer.
@_cdecl("SpecFuzzer_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
  var count = argc
  var values = argv
  return LLVMFuzzerRunDriver(&count, &values) { data, size in fuzzOne(data, size) }
}
#else
/// Without libFuzzer: replays the files named on the command line.
@main
struct Replay {
  static func main() throws {
    for path in CommandLine.arguments.dropFirst() {
      let data = try Data(contentsOf: URL(fileURLWithPath: path))
      data.withUnsafeBytes { lintOnce($0) }
      print("\(path): ok")
    }
  }
}
#endif
