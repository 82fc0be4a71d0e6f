import ArgumentParser
import Foundation

/// Whether to colour output, decided once per stream.
enum ColourChoice: String, ExpressibleByArgument, CaseIterable {
  case auto, always, never

  /// Colour on a terminal only, and never under NO_COLOR or TERM=dumb.
  func enabled(for fd: Int32) -> Bool {
    switch self {
    case .always: return true
    case .never: return false
    case .auto:
      let env = ProcessInfo.processInfo.environment
      if let v = env["NO_COLOR"], !v.isEmpty { return false }
      if env["TERM"] == "dumb" { return false }
      return isatty(fd) != 0
    }
  }
}

/// Writes to standard output or error without buffering surprises.
enum Out {
  static func print(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }
  static func error(_ text: String) {
    FileHandle.standardError.write(Data(text.utf8))
  }
}
