/// The text of every file that diagnostics may point into, split into lines
/// once, so that a renderer can show the source line under a header.
public final class SourceStore: @unchecked Sendable {
  private var lines: [String: [Substring]] = [:]

  public init() {}

  /// Remembers `text` as the contents of `file`.
  public func add(file: String, text: String) {
    // "\r\n" is one Character in Swift: split on both, or a CRLF file's lines merge.
    lines[file] = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
  }

  /// The 1-based `line` of `file` without its line terminator, if known.
  public func line(_ line: Int, of file: String) -> Substring? {
    guard let all = lines[file], line >= 1, line <= all.count else { return nil }
    var text = all[line - 1]
    if text.hasSuffix("\r") { text = text.dropLast() }
    return text
  }
}
