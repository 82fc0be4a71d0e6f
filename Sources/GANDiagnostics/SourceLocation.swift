/// A position in a source file: 1-based line and column (column counts UTF-8
/// bytes, as clang and swiftc do). A zero line means "the file as a whole".
public struct SourceLocation: Hashable, Sendable, Codable, CustomStringConvertible {
  public var file: String
  public var line: Int
  public var column: Int

  public init(file: String, line: Int, column: Int) {
    self.file = file
    self.line = line
    self.column = column
  }

  /// The location of a whole file, with no line.
  public static func file(_ path: String) -> SourceLocation {
    SourceLocation(file: path, line: 0, column: 0)
  }

  public var description: String {
    if line <= 0 { return file }
    if column <= 0 { return "\(file):\(line)" }
    return "\(file):\(line):\(column)"
  }
}
