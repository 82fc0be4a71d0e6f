import Foundation
import GANDiagnostics
import GANTestSupport
import Testing

@Suite("Diagnostics rendered as text and JSON")
struct RendererTests {
  let sources: SourceStore = {
    let s = SourceStore()
    s.add(file: "spec.xml", text: "<gan>\n    <dense unit=\"2\"/>\r\n\t<x a=\"1\"/>\n")
    return s
  }()

  @Test("a located error shows its line, a caret under the column and its help")
  func located() {
    let d = Diagnostic.error(.unknownAttribute, "unknown attribute 'unit' on <dense>", at: SourceLocation(file: "spec.xml", line: 2, column: 12), help: "did you mean 'units'?")
    let text = DiagnosticRenderer(colour: false).render(d, sources: sources)
    #expect(
      text == """
        spec.xml:2:12: error: unknown attribute 'unit' on <dense> [GAN0102]
         2 |     <dense unit="2"/>
           |            ^
        help: did you mean 'units'?

        """)
  }

  @Test("a CRLF file's lines are its lines (\\r\\n is one Character in Swift)")
  func crlf() {
    #expect(sources.line(2, of: "spec.xml") == "    <dense unit=\"2\"/>")
    #expect(sources.line(3, of: "spec.xml") == "\t<x a=\"1\"/>")
  }

  @Test("a tab before the column is kept so the caret lines up; a file not in the store is named but never quoted")
  func tabsAndUnknownFiles() {
    let tab = Diagnostic.error(.unknownElement, "unknown element <x>", at: SourceLocation(file: "spec.xml", line: 3, column: 3))
    #expect(DiagnosticRenderer(colour: false).render(tab, sources: sources).contains(" 3 | \t<x a=\"1\"/>\n   | \t ^"))
    let elsewhere = Diagnostic.error(.srcWrongRoot, "not a layer file", at: SourceLocation(file: "/etc/passwd", line: 1, column: 1))
    #expect(DiagnosticRenderer(colour: false).render(elsewhere, sources: sources) == "/etc/passwd:1:1: error: not a layer file [GAN0203]\n")
  }

  @Test("notes with and without a place; colour only when asked, the same text underneath")
  func notesAndColour() {
    let d = Diagnostic.error(
      .optimizerDuplicate, "a second <optimizer>", at: SourceLocation(file: "spec.xml", line: 3, column: 2),
      notes: [DiagnosticNote("the first is here", at: SourceLocation(file: "spec.xml", line: 2, column: 5)), DiagnosticNote("placeless")])
    let plain = DiagnosticRenderer(colour: false).render(d, sources: sources)
    #expect(plain.contains("spec.xml:2:5: note: the first is here\n 2 |"))
    #expect(plain.contains("note: placeless\n"))
    let coloured = DiagnosticRenderer(colour: true).render(d, sources: sources)
    #expect(coloured.contains("\u{1B}["))
    #expect(coloured.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression) == plain)
  }

  @Test("the closing summary counts errors and warnings")
  func summary() {
    let r = DiagnosticRenderer(colour: false)
    #expect(r.summary(errors: 0, warnings: 0) == nil)
    #expect(r.summary(errors: 1, warnings: 0) == "1 error generated.")
    #expect(r.summary(errors: 2, warnings: 1) == "1 warning and 2 errors generated.")
  }

  @Test("JSON holds every field and parses back")
  func json() throws {
    let d = Diagnostic.warning(.finalSigmoid, "sigmoid", at: SourceLocation(file: "a.xml", line: 4, column: 6), help: "drop it")
    let text = DiagnosticJSON.encode([d], files: [.init(file: "a.xml", summary: ["name": "t"])])
    let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
    #expect(diagnostics.count == 1)
    #expect(diagnostics[0]["id"] as? String == "GAN0503")
    #expect(diagnostics[0]["severity"] as? String == "warning")
    #expect(diagnostics[0]["line"] as? Int == 4)
  }

  @Test("ids are unique and never renumbered")
  func ids() {
    let raw = DiagnosticID.allCases.map(\.rawValue)
    #expect(Set(raw).count == raw.count)
    #expect(DiagnosticID.fileNotRegular.rawValue == "GAN0008" && DiagnosticID.srcOutsideFolder.rawValue == "GAN0211")
  }
}
