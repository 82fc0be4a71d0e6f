/// Renders diagnostics as text in the clang / swift-syntax form:
///
///     spec.xml:12:12: error: unknown attribute 'unit' on <dense> [GAN0102]
///        12 |     <dense unit="256"/>
///           |            ^
///     help: did you mean 'units'?
public struct DiagnosticRenderer: Sendable {
  /// Whether to colour the output with ANSI escapes (terminals only).
  public var colour: Bool

  public init(colour: Bool) { self.colour = colour }

  private func paint(_ text: String, _ code: String) -> String {
    colour ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
  }

  private func severityLabel(_ severity: Severity) -> String {
    switch severity {
    case .error: return paint("error:", "1;31")
    case .warning: return paint("warning:", "1;35")
    case .note: return paint("note:", "1;30")
    }
  }

  /// One diagnostic with its source excerpt, notes and help, ending in a newline.
  public func render(_ diagnostic: Diagnostic, sources: SourceStore) -> String {
    var out = ""
    let header = diagnostic.location.map { "\($0): " } ?? "ganc: "
    out += paint(header, "1") + severityLabel(diagnostic.severity) + " "
    out += paint(diagnostic.message, "1") + " [\(diagnostic.id.rawValue)]\n"
    if let location = diagnostic.location {
      out += excerpt(at: location, sources: sources)
    }
    for note in diagnostic.notes {
      if let location = note.location {
        out += paint("\(location): ", "1") + severityLabel(.note) + " \(note.message)\n"
        out += excerpt(at: location, sources: sources)
      } else {
        out += severityLabel(.note) + " \(note.message)\n"
      }
    }
    if let help = diagnostic.help {
      out += paint("help:", "1;36") + " \(help)\n"
    }
    return out
  }

  private func excerpt(at location: SourceLocation, sources: SourceStore) -> String {
    guard location.line > 0, let text = sources.line(location.line, of: location.file) else {
      return ""
    }
    let number = String(location.line)
    let gutter = String(repeating: " ", count: number.count)
    // Show at most a window of a very long line, around the column.
    var bytes = Array(text.utf8)
    var column = location.column
    let width = 100
    if bytes.count > width {
      let start = max(0, min(column - 1 - width / 2, bytes.count - width))
      let end = min(bytes.count, start + width)
      let head = start > 0 ? Array("...".utf8) : []
      bytes = head + Array(bytes[start..<end]) + (end < bytes.count ? Array("...".utf8) : [])
      if column > 0 { column = column - start + head.count }
    }
    let shown = String(decoding: bytes, as: UTF8.self)
    var out = " \(number) | \(shown)\n"
    if column > 0 {
      // Keep tabs so the marker lines up under the same column in a terminal.
      let prefix = bytes.prefix(column - 1)
      let pad = prefix.map { $0 == UInt8(ascii: "\t") ? "\t" : " " }.joined()
      out += " \(gutter) | \(pad)" + paint("^", "1;32") + "\n"
    }
    return out
  }

  /// A closing line such as "2 errors, 1 warning generated." or nil if none.
  public func summary(errors: Int, warnings: Int) -> String? {
    var parts: [String] = []
    if warnings > 0 { parts.append("\(warnings) warning\(warnings == 1 ? "" : "s")") }
    if errors > 0 { parts.append("\(errors) error\(errors == 1 ? "" : "s")") }
    return parts.isEmpty ? nil : parts.joined(separator: " and ") + " generated."
  }
}
