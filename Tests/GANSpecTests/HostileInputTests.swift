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

  @Test(
    "empty, blank and binary files get a clear error",
    arguments: [
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

@Suite("Includes and files a spec has no business with")
struct ConfinementTests {
  /// The base spec with its generator read from `src`, in a fresh folder
  /// holding a good layer file at nets/g.xml.
  func specNaming(_ src: String) -> (folder: URL, path: String) {
    let folder = temporaryFolder()
    write("<network>\n  <dense units=\"16\" activation=\"relu\"/>\n  <dense units=\"2\"/>\n</network>\n", to: "nets/g.xml", in: folder)
    let text = baseSpec.replacingOccurrences(
      of: "<generator>\n    <dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"2\"/>\n  </generator>",
      with: "<generator src=\"\(src)\"/>")
    return (folder, write(text, to: "spec.xml", in: folder))
  }

  func lintRendered(_ path: String, allowing: [String] = []) -> (LintResult, String) {
    let sources = SourceStore()
    let result = Linter.lint(path, sources: sources, options: LintOptions(allowedFolders: allowing))
    let text = result.diagnostics.map { DiagnosticRenderer(colour: false).render($0, sources: sources) }.joined()
    return (result, text)
  }

  @Test("an absolute path, a .. out of the folder and a symlink out are refused without reading or quoting the file")
  func outside() throws {
    let secret = temporaryFolder()
    write("TOKEN=hunter2\n", to: "token.txt", in: secret)
    let token = secret.appendingPathComponent("token.txt").path
    let relative = "../" + secret.lastPathComponent + "/token.txt"
    for src in ["/etc/passwd", token, relative, "nets/link.xml"] {
      let (folder, linked) = specNaming(src)
      try? FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent("nets/link.xml").path, withDestinationPath: token)
      let (result, text) = lintRendered(linked)
      #expect(result.diagnostics.map(\.id) == [.srcOutsideFolder], "\(src): \(text)")
      #expect(!text.contains("hunter2") && !text.contains("root:"), "\(src) leaked: \(text)")
    }
  }

  @Test("--allow-include lets a folder outside the spec's tree hold layer files")
  func allowed() {
    let shared = temporaryFolder()
    write("<network>\n  <dense units=\"16\" activation=\"relu\"/>\n  <dense units=\"2\"/>\n</network>\n", to: "g.xml", in: shared)
    let (_, path) = specNaming(shared.appendingPathComponent("g.xml").path)
    #expect(lintRendered(path).0.diagnostics.map(\.id) == [.srcOutsideFolder])
    let (result, text) = lintRendered(path, allowing: [shared.path])
    #expect(result.checked != nil, "\(text)")
  }

  @Test("a layer file that is not a well-formed <network> is named, never quoted")
  func notQuoted() {
    let (folder, path) = specNaming("nets/secret.txt")
    write("password: hunter2 <\n", to: "nets/secret.txt", in: folder)
    let (result, text) = lintRendered(path)
    #expect(result.hasErrors)
    #expect(!text.contains("hunter2"), "\(text)")
    write("<settings token=\"hunter2\"/>\n", to: "nets/secret.txt", in: folder)
    let (again, text2) = lintRendered(path)
    #expect(again.diagnostics.map(\.id) == [.srcWrongRoot])
    #expect(!text2.contains("hunter2"), "\(text2)")
  }

  @Test("FIFOs and kernel files are refused as includes and as data without being read (no hang)")
  func notRegular() throws {
    let (folder, path) = specNaming("nets/fifo")
    #expect(mkfifo(folder.appendingPathComponent("nets/fifo").path, 0o600) == 0)
    #expect(lintRendered(path).0.diagnostics.map(\.id) == [.fileNotRegular])
    let data = baseSpec.replacingOccurrences(
      of: #"<data source="ring" modes="8" radius="1" std="0.01"/>"#,
      with: #"<data source="npy" path="nets/fifo"/>"#)
    #expect(lint(data, folder: folder).diagnostics.map(\.id) == [.fileNotRegular])
    let proc = baseSpec.replacingOccurrences(
      of: #"<data source="ring" modes="8" radius="1" std="0.01"/>"#,
      with: #"<data source="csv" path="/proc/self/environ"/>"#)
    #expect(lint(proc).diagnostics.map(\.id) == [.fileNotRegular])
    #expect(lintRendered("/proc/self/environ").0.diagnostics.map(\.id) == [.fileNotRegular])
  }
}
