import Foundation
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec

@Suite("Hostile and broken files")
struct HostileInputTests {
  /// Lints and returns the result and the seconds it took (a hang guard, not a benchmark).
  func timed(_ text: String) -> (LintResult, Double) {
    let start = Date()
    let r = lint(text)
    return (r, Date().timeIntervalSince(start))
  }

  @Test("an external entity is never expanded")
  func externalEntity() {
    let folder = temporaryFolder()
    write("SECRET-CONTENT-42", to: "secret.txt", in: folder)
    let spec = """
      <?xml version="1.0"?>
      <!DOCTYPE gan [<!ENTITY xxe SYSTEM "secret.txt">]>
      <gan name="&xxe;" version="1"/>
      """
    let result = lint(spec, folder: folder)
    #expect(result.diagnostics.first?.id == .doctypeRefused)
    let rendered = result.diagnostics.map { DiagnosticRenderer(colour: false).render($0, sources: SourceStore()) }.joined()
    #expect(!rendered.contains("SECRET-CONTENT-42"))
  }

  @Test("a billion-laughs document fails at once")
  func billionLaughs() {
    var spec = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
    for i in 1...9 { spec += " <!ENTITY lol\(i) \"" + String(repeating: "&lol\(i == 1 ? "" : String(i - 1));", count: 10) + "\">\n" }
    spec += "]>\n<gan>&lol9;</gan>\n"
    let (result, seconds) = timed(spec)
    #expect(result.diagnostics.first?.id == .doctypeRefused)
    #expect(seconds < 1)
  }

  @Test("5,000-deep nesting fails quickly with a location")
  func deepNesting() {
    let spec = "<gan>" + String(repeating: "<a>", count: 5000) + String(repeating: "</a>", count: 5000) + "</gan>"
    let (result, seconds) = timed(spec)
    #expect(result.diagnostics.first?.id == .xmlMalformed)
    #expect((result.diagnostics.first?.location?.line ?? 0) == 1)
    #expect(seconds < 1)
  }

  @Test("empty, blank and binary files get a clear error", arguments: [
    ("", DiagnosticID.fileEmpty), ("  \n\t\n", .fileEmpty), ("\u{0}\u{1}\u{2}GAN", .fileNotText),
  ])
  func emptyAndBinary(_ text: String, _ id: DiagnosticID) {
    #expect(lint(text).diagnostics.map(\.id) == [id])
  }

  @Test("random binary junk never crashes")
  func binaryJunk() {
    var rng = SplitMix(seed: 99)
    for _ in 0..<20 {
      let bytes = (0..<512).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
      let folder = temporaryFolder()
      let url = folder.appendingPathComponent("junk.xml")
      try? Data(bytes).write(to: url)
      let result = Linter.lint(url.path, sources: SourceStore())
      #expect(result.hasErrors)
    }
  }

  @Test("a spec that is not XML at all")
  func notXML() {
    let result = lint("units: 256\nlayers: 3\n")
    #expect(result.diagnostics.first?.id == .xmlMalformed)
    #expect(result.diagnostics.first?.location?.line == 1)
  }

  @Test("absurd numbers are errors at their location, not allocations")
  func absurdNumbers() {
    for (old, new) in [("units=\"16\"", "units=\"2147483647\""), ("batch=\"4\"", "batch=\"2147483647\""), ("size=\"8\"", "size=\"2147483647\"")] {
      let result = lint(baseSpec.replacingOccurrences(of: old, with: new))
      let error = result.diagnostics.first { $0.id == .tooLarge }
      #expect(error != nil, "\(new): \(result.diagnostics)")
      #expect((error?.location?.line ?? 0) > 0)
    }
  }

  @Test("a missing spec file is an I/O error (exit code 2)")
  func missingFile() {
    let result = Linter.lint("/nonexistent/spec.xml", sources: SourceStore())
    #expect(result.unreadable)
    #expect(result.diagnostics.map(\.id) == [.fileUnreadable])
  }
}

/// A small seeded generator for property tests (SplitMix64).
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
