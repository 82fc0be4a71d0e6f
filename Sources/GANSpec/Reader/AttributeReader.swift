import Foundation
import GANDiagnostics

/// The largest count any attribute may hold; tensor sizes are checked later.
let maximumCount = Int(Int32.max)

/// Reads the attributes of one element against its definition: reports
/// unknown, missing and malformed attributes, then hands out typed values
/// (falling back to the default after an error, so checking can go on).
struct AttributeReader {
  let element: XMLElement
  let definition: ElementDefinition
  private(set) var diagnostics: [Diagnostic] = []
  /// Attributes whose values failed to parse (later checks skip them).
  private(set) var invalid: Set<String> = []

  init(_ element: XMLElement, _ definition: ElementDefinition) {
    self.element = element
    self.definition = definition
    var seen: Set<String> = []
    for attribute in element.attributes {
      // xsi:noNamespaceSchemaLocation and friends help editors; allow them.
      if attribute.name.hasPrefix("xsi:") || attribute.name.hasPrefix("xmlns") { continue }
      seen.insert(attribute.name)
      guard let def = definition.attribute(attribute.name) else {
        diagnostics.append(
          .error(
            .unknownAttribute, "unknown attribute '\(attribute.name)' on <\(element.name)>",
            at: attribute.location,
            help: attribute.name == "spectral-norm" || attribute.name == "power-iterations"
              ? "spectral normalisation divides a weight: it applies to <dense>, <maxout>, <conv2d>, <deconv2d>, <embedding> and <attention>; put it on the layer whose weight it should normalise"
              : Suggestion.help(
                for: attribute.name, in: definition.attributes.map(\.name),
                what: "an attribute of <\(element.name)>")))
        continue
      }
      if let problem = Self.check(attribute.value, kind: def.kind) {
        invalid.insert(attribute.name)
        diagnostics.append(problem(attribute, element.name))
      }
    }
    for def in definition.attributes where def.required && !seen.contains(def.name) {
      diagnostics.append(
        .error(
          .missingAttribute, "<\(element.name)> needs the attribute '\(def.name)'",
          at: element.location, help: "add \(def.name)=\"...\": \(def.summary)"))
    }
  }

  typealias Problem = (XMLAttribute, String) -> Diagnostic

  private static func trimmed(_ s: String) -> String {
    s.trimmingCharacters(in: .whitespacesAndNewlines)
  }

  /// Parses a decimal integer, telling "malformed" from "too large".
  static func parseInteger(_ text: String) -> (value: Int?, overflow: Bool) {
    let t = trimmed(text)
    var digits = Substring(t)
    if digits.hasPrefix("+") || digits.hasPrefix("-") { digits = digits.dropFirst() }
    guard !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else {
      return (nil, false)
    }
    guard let v = Int(t.hasPrefix("+") ? String(t.dropFirst()) : t) else { return (nil, true) }
    return (v, false)
  }

  static func parseReal(_ text: String) -> Double? {
    let t = trimmed(text)
    guard !t.isEmpty, t.allSatisfy({ $0.isASCII && ($0.isNumber || "+-.eE".contains($0)) }),
      let v = Double(t), v.isFinite
    else { return nil }
    return v
  }

  static func parsePair(_ text: String) -> Pair? {
    let parts = trimmed(text).split(separator: "x", omittingEmptySubsequences: false)
    guard parts.count == 1 || parts.count == 2 else { return nil }
    let values = parts.map { parseInteger(String($0)) }
    guard values.allSatisfy({ $0.value != nil && $0.value! >= 0 && !$0.overflow }) else {
      return nil
    }
    let h = values[0].value!, w = values.count == 2 ? values[1].value! : h
    return Pair(h, w)
  }

  static func isName(_ s: Substring) -> Bool {
    // An expanded block's `in` at the start of a net (never written by hand: the XSD refuses it).
    if s == Layer.netInputReference { return true }
    guard let first = s.first, first.isLetter || first == "_" else { return false }
    return s.allSatisfy { $0.isLetter || $0.isNumber || "_-.".contains($0) }
  }

  private static func check(_ value: String, kind: AttributeKind) -> Problem? {
    switch kind {
    case .count, .natural, .integer:
      let (v, overflow) = parseInteger(value)
      if overflow || (v.map { abs($0) > maximumCount } ?? false) {
        return { a, _ in
          .error(
            .tooLarge, "'\(a.name)' = \(trimmed(a.value)) is too large", at: a.location,
            help: "use a value of at most \(maximumCount)")
        }
      }
      guard let v else {
        return { a, _ in
          .error(
            .invalidInteger, "'\(a.name)' must be an integer, not '\(a.value)'", at: a.location,
            help: "write a whole number in decimal, such as \(a.name)=\"64\"")
        }
      }
      if kind == .count && v < 1 {
        return { a, _ in
          .error(
            .outOfRange, "'\(a.name)' must be positive, not \(v)", at: a.location,
            help: "use a value of at least 1")
        }
      }
      if kind == .natural && v < 0 {
        return { a, _ in
          .error(
            .outOfRange, "'\(a.name)' must not be negative, not \(v)", at: a.location,
            help: "use a value of at least 0")
        }
      }
      return nil
    case .real:
      guard parseReal(value) == nil else { return nil }
      return { a, _ in
        .error(
          .invalidReal, "'\(a.name)' must be a finite number, not '\(a.value)'", at: a.location,
          help: "write a decimal number such as 0.5 or 1e-4")
      }
    case .boolean:
      guard !["true", "false", "1", "0"].contains(trimmed(value)) else { return nil }
      return { a, _ in
        .error(
          .invalidBoolean, "'\(a.name)' must be true or false, not '\(a.value)'", at: a.location,
          help: "write \(a.name)=\"true\" or \(a.name)=\"false\"")
      }
    case .choice(let values):
      guard !values.contains(trimmed(value)) else { return nil }
      return { a, e in
        .error(
          .invalidChoice, "'\(a.value)' is not a valid \(a.name) for <\(e)>", at: a.location,
          help: Suggestion.help(for: trimmed(a.value), in: values, what: "\(a.name)"))
      }
    case .shape:
      let parts = trimmed(value).split(whereSeparator: { $0.isWhitespace })
      let parsed = parts.map { parseInteger(String($0)) }
      if parsed.contains(where: { $0.overflow || ($0.value ?? 0) > maximumCount }) {
        return { a, _ in
          .error(
            .tooLarge, "'\(a.name)' = \"\(a.value)\" has a dimension that is too large",
            at: a.location, help: "each dimension must be at most \(maximumCount)")
        }
      }
      if parts.isEmpty || parsed.contains(where: { ($0.value ?? 0) < 1 }) {
        return { a, _ in
          .error(
            .invalidShape, "'\(a.name)' must be positive integers separated by spaces, not '\(a.value)'",
            at: a.location, help: "write a shape such as \(a.name)=\"128 7 7\"")
        }
      }
      return nil
    case .pair, .naturalPair, .padding:
      let t = trimmed(value)
      if kind == .padding && (t == "same" || t == "valid") { return nil }
      guard let p = parsePair(t), p.h <= maximumCount, p.w <= maximumCount else {
        let extra = kind == .padding ? ", `same` or `valid`" : ""
        return { a, _ in
          .error(
            .invalidShape, "'\(a.name)' must be a number or HxW\(extra), not '\(a.value)'",
            at: a.location, help: "write \(a.name)=\"4\" or \(a.name)=\"4x3\"")
        }
      }
      if kind == .pair && (p.h < 1 || p.w < 1) {
        return { a, _ in
          .error(
            .outOfRange, "'\(a.name)' must be positive, not '\(a.value)'", at: a.location,
            help: "use a value of at least 1")
        }
      }
      return nil
    case .names:
      let parts = trimmed(value).split(whereSeparator: { $0.isWhitespace })
      guard !parts.isEmpty, parts.allSatisfy(isName) else {
        return { a, _ in
          .error(
            .invalidName, "'\(a.name)' must be layer ids separated by spaces, not '\(a.value)'",
            at: a.location, help: "ids start with a letter or '_' and hold letters, digits, '_', '-', '.'")
        }
      }
      return nil
    case .name:
      guard !isName(Substring(trimmed(value))) else { return nil }
      return { a, _ in
        .error(
          .invalidName, "'\(a.value)' is not a valid \(a.name)", at: a.location,
          help: "start with a letter or '_' and use letters, digits, '_', '-', '.'")
      }
    case .text:
      guard trimmed(value).isEmpty else { return nil }
      return { a, _ in
        .error(
          .outOfRange, "'\(a.name)' must not be empty", at: a.location,
          help: "give a value, or leave the attribute out")
      }
    }
  }

  // MARK: Typed access

  func has(_ name: String) -> Bool { element.attribute(name) != nil }

  func location(_ name: String) -> SourceLocation {
    element.attribute(name)?.location ?? element.location
  }

  /// The raw, trimmed value if present and valid.
  func raw(_ name: String) -> String? {
    guard !invalid.contains(name), let a = element.attribute(name) else { return nil }
    return Self.trimmed(a.value)
  }

  /// The schema's default, which may depend on the element's other attributes
  /// (rmsprop's beta2); an invalid attribute counts as absent.
  private func fallback(_ name: String) -> String? {
    definition.attribute(name)?.defaultValue { other in
      other == name ? nil : (raw(other) ?? definition.attribute(other)?.defaultValue)
    }
  }

  func int(_ name: String, default value: Int? = nil) -> Int {
    if let r = raw(name), let v = Self.parseInteger(r).value { return v }
    if let value { return value }
    return fallback(name).flatMap { Self.parseInteger($0).value } ?? 1
  }

  func real(_ name: String, default value: Double? = nil) -> Double {
    if let r = raw(name), let v = Self.parseReal(r) { return v }
    if let value { return value }
    return fallback(name).flatMap(Self.parseReal) ?? 0
  }

  func optionalReal(_ name: String) -> Double? { raw(name).flatMap(Self.parseReal) }

  func bool(_ name: String) -> Bool {
    let r = raw(name) ?? fallback(name) ?? "false"
    return r == "true" || r == "1"
  }

  func string(_ name: String) -> String? { raw(name) ?? fallback(name) }

  func pair(_ name: String) -> Pair {
    (raw(name) ?? fallback(name)).flatMap(Self.parsePair) ?? .square(1)
  }

  func names(_ name: String) -> [String] {
    (raw(name) ?? "").split(whereSeparator: { $0.isWhitespace }).map(String.init)
  }

  func shape(_ name: String) -> Shape {
    (raw(name) ?? "").split(whereSeparator: { $0.isWhitespace }).compactMap {
      Self.parseInteger(String($0)).value
    }
  }

  /// Every attribute's location, for the AST.
  var locations: [String: SourceLocation] {
    Dictionary(element.attributes.map { ($0.name, $0.location) }, uniquingKeysWith: { a, _ in a })
  }
}
