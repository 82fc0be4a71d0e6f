/// How serious a diagnostic is.
public enum Severity: String, Sendable, Codable, Comparable {
  case error, warning, note

  private var rank: Int {
    switch self {
    case .error: return 2
    case .warning: return 1
    case .note: return 0
    }
  }

  public static func < (lhs: Severity, rhs: Severity) -> Bool { lhs.rank < rhs.rank }
}

/// A secondary message attached to a diagnostic, with its own location.
public struct DiagnosticNote: Hashable, Sendable, Codable {
  public var message: String
  public var location: SourceLocation?

  public init(_ message: String, at location: SourceLocation? = nil) {
    self.message = message
    self.location = location
  }
}

/// One problem found in a spec: a stable id, what is wrong, where, and how to fix it.
///
/// The message states the problem; only `help` proposes a fix.
public struct Diagnostic: Hashable, Sendable, Codable {
  public var id: DiagnosticID
  public var severity: Severity
  public var message: String
  public var location: SourceLocation?
  public var notes: [DiagnosticNote]
  public var help: String?

  public init(
    _ id: DiagnosticID, _ severity: Severity = .error, _ message: String,
    at location: SourceLocation?, notes: [DiagnosticNote] = [], help: String? = nil
  ) {
    self.id = id
    self.severity = severity
    self.message = message
    self.location = location
    self.notes = notes
    self.help = help
  }

  public static func error(
    _ id: DiagnosticID, _ message: String, at location: SourceLocation?,
    notes: [DiagnosticNote] = [], help: String? = nil
  ) -> Diagnostic {
    Diagnostic(id, .error, message, at: location, notes: notes, help: help)
  }

  public static func warning(
    _ id: DiagnosticID, _ message: String, at location: SourceLocation?,
    notes: [DiagnosticNote] = [], help: String? = nil
  ) -> Diagnostic {
    Diagnostic(id, .warning, message, at: location, notes: notes, help: help)
  }
}

extension Array where Element == Diagnostic {
  /// Whether any diagnostic is an error.
  public var hasErrors: Bool { contains { $0.severity == .error } }

  /// Sorted by file, line and column; diagnostics without a location first.
  public func sortedByLocation() -> [Diagnostic] {
    enumerated().sorted { a, b in
      let la = a.element.location, lb = b.element.location
      let ka = (la?.file ?? "", la?.line ?? 0, la?.column ?? 0)
      let kb = (lb?.file ?? "", lb?.line ?? 0, lb?.column ?? 0)
      if ka != kb { return ka < kb }
      return a.offset < b.offset
    }.map(\.element)
  }
}
