import Foundation

/// Machine-readable diagnostics for editors and scripts.
///
/// The document is `{"version": 1, "files": [...], "diagnostics": [...]}`; each
/// diagnostic has `id`, `severity`, `message`, `file`, `line`, `column`,
/// `notes` (each with `message` and optional location) and `help`.
public enum DiagnosticJSON {
  struct Location: Encodable {
    var file: String
    var line: Int
    var column: Int
  }

  struct Note: Encodable {
    var message: String
    var file: String?
    var line: Int?
    var column: Int?
  }

  struct Entry: Encodable {
    var id: String
    var severity: String
    var message: String
    var file: String?
    var line: Int?
    var column: Int?
    var notes: [Note]
    var help: String?
  }

  struct FileResult: Encodable {
    var file: String
    var errors: Int
    var warnings: Int
    var summary: [String: String]?
  }

  struct Document: Encodable {
    var version = 1
    var files: [FileResult]
    var diagnostics: [Entry]
  }

  /// Per-file counts and an optional summary, for the `files` array.
  public struct FileReport: Sendable {
    public var file: String
    public var summary: [String: String]?
    public init(file: String, summary: [String: String]?) {
      self.file = file
      self.summary = summary
    }
  }

  /// Encodes `diagnostics` (pretty-printed, keys sorted) as a JSON document.
  public static func encode(_ diagnostics: [Diagnostic], files: [FileReport]) -> String {
    func located(_ l: SourceLocation?) -> (String?, Int?, Int?) {
      guard let l else { return (nil, nil, nil) }
      return (l.file, l.line > 0 ? l.line : nil, l.column > 0 ? l.column : nil)
    }
    let entries = diagnostics.map { d -> Entry in
      let (f, l, c) = located(d.location)
      return Entry(
        id: d.id.rawValue, severity: d.severity.rawValue, message: d.message,
        file: f, line: l, column: c,
        notes: d.notes.map { n in
          let (nf, nl, nc) = located(n.location)
          return Note(message: n.message, file: nf, line: nl, column: nc)
        },
        help: d.help)
    }
    let results = files.map { report in
      FileResult(
        file: report.file,
        errors: diagnostics.filter { $0.location?.file == report.file && $0.severity == .error }.count,
        warnings: diagnostics.filter {
          $0.location?.file == report.file && $0.severity == .warning
        }.count,
        summary: report.summary)
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = (try? encoder.encode(Document(files: results, diagnostics: entries))) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }
}
