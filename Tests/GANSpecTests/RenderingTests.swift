import Foundation
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec

/// Golden files of rendered diagnostics under Tests/GANSpecTests/Snapshots/.
func assertSnapshot(_ text: String, named name: String, sourceLocation: Testing.SourceLocation = #_sourceLocation) {
  GANTestSupport.assertSnapshot(text, named: name + ".txt", in: "GANSpecTests", sourceLocation: sourceLocation)
}

@Suite("Rendered diagnostics")
struct RenderingTests {
  /// Lints `text` as spec.xml and renders it as `ganc lint` does, without colour.
  func render(_ text: String, colour: Bool = false) -> String {
    let folder = temporaryFolder()
    let path = write(text, to: "spec.xml", in: folder)
    let sources = SourceStore()
    let result = Linter.lint(path, sources: sources)
    let renderer = DiagnosticRenderer(colour: colour)
    var out = result.diagnostics.map { renderer.render($0, sources: sources) }.joined()
    if let c = result.checked { out += LintSummary.text(c) }
    return out.replacingOccurrences(of: folder.path + "/", with: "")
  }

  static let several =
    baseSpec
    .replacingOccurrences(of: "<dense units=\"16\" activation=\"relu\"/>", with: "<dense unit=\"16\" activation=\"rlu\"/>")
    .replacingOccurrences(of: "net=\"generator\" lr=\"1e-3\"", with: "net=\"generator\" lr=\"-1\"")

  static let withNote =
    baseSpec
    .replacingOccurrences(of: "<dense units=\"1\"/>", with: "<dense units=\"1\" activation=\"sigmoid\"/>")
    .replacingOccurrences(of: "<training steps", with: "<training loss=\"wasserstein\" steps")

  static let warnings =
    baseSpec
    .replacingOccurrences(of: "<dense units=\"16\" activation=\"relu\"/>", with: "<dense units=\"16\"/>\n    <batchnorm/>\n    <activation kind=\"relu\"/>")

  @Test("a spec saved with CRLF line endings quotes the line the error is on")
  func crlfSpec() {
    let out = render(Self.several.replacingOccurrences(of: "\n", with: "\r\n"))
    #expect(out.contains(" 6 |     <dense unit=\"16\" activation=\"rlu\"/>\n   |            ^"), "\(out)")
  }

  @Test("several errors in one spec")
  func severalErrors() { assertSnapshot(render(Self.several), named: "several-errors") }

  @Test("an error with a note in another place")
  func errorWithNote() { assertSnapshot(render(Self.withNote), named: "error-with-note") }

  @Test("warnings and the summary of a clean spec")
  func warningsAndSummary() { assertSnapshot(render(Self.warnings), named: "warnings-and-summary") }

  @Test("a shape error deep in a convolutional generator")
  func shapeError() {
    let text = baseSpec.replacingOccurrences(
      of: "<dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"2\"/>",
      with: "<dense units=\"64\"/>\n    <reshape shape=\"4 4 4\"/>\n    <deconv2d filters=\"2\" kernel=\"4\" stride=\"2\" padding=\"1\"/>\n    <flatten/>")
    assertSnapshot(render(text), named: "shape-error")
  }

  @Test("the JSON form")
  func json() {
    let folder = temporaryFolder()
    let path = write(Self.withNote, to: "spec.xml", in: folder)
    let result = Linter.lint(path, sources: SourceStore())
    let text = DiagnosticJSON.encode(result.diagnostics, files: [.init(file: path, summary: nil)])
    assertSnapshot(text.replacingOccurrences(of: folder.path + "/", with: ""), named: "error-with-note.json")
  }

  @Test("colour only when asked, and the plain text is the same underneath")
  func colour() {
    let coloured = render(Self.several, colour: true)
    #expect(coloured.contains("\u{1B}["))
    let stripped = coloured.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    #expect(stripped == render(Self.several))
  }
}
