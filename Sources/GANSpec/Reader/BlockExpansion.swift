import Foundation
import GANDiagnostics

/// One `<use>` a layer came from: the block and where the use is written.
public struct BlockUse: Hashable, Sendable {
  public var block: String
  public var location: SourceLocation
  /// The note a diagnostic about an expanded layer carries.
  var note: DiagnosticNote { DiagnosticNote("in block '\(block)', expanded by this use", at: location) }
}

/// A `<block>` as written: its parameters (with defaults) and its layers.
struct BlockDefinition: Sendable {
  var name: String
  var location: SourceLocation
  var parameters: [(name: String, value: String?)]
  var body: [XMLElement]
  var parameterNames: [String] { parameters.map(\.name) }
}

extension Layer {
  /// The reference an expanded block's `in` becomes when the block is the
  /// first thing in a net: the net's input (`z` or `x`). No written id can
  /// take this form (ids cannot start with `@`).
  public static let netInputReference = "@input"
}

extension Array where Element == Diagnostic {
  /// Adds to diagnostics `start...` a note for each block use that expanded
  /// the layer they are about (innermost first).
  mutating func noteExpansion(from start: Int, _ uses: [BlockUse]) {
    guard !uses.isEmpty, start < count else { return }
    for k in start..<count {
      self[k].notes += uses.map(\.note)
    }
  }
}

// Blocks are expanded on the element tree, before layers are read: a use
// becomes the block's elements with `$param` values substituted, inner ids
// prefixed with the use's id (`b1.c1`), `in` read as the layer before the
// use, and the last layer named by the use's id. Each expanded layer keeps
// its location in the block and records the uses that produced it.
extension SpecReader {
  /// Reads `<blocks>`, checking names, parameters and the `$` references.
  mutating func readBlocks(_ e: XMLElement) {
    for child in e.children {
      guard child.name == SpecSchema.block.name else {
        reportUnknown(child, in: e, allowed: [SpecSchema.block.name])
        continue
      }
      let r = attributesOf(child, SpecSchema.block)
      guard let name = r.raw("name") else { continue }
      if let first = blocks[name] {
        diagnostics.append(
          .error(
            .blockDuplicate, "a block named '\(name)' is already defined", at: r.location("name"),
            notes: [DiagnosticNote("first defined here", at: first.location)], help: "give each block its own name"))
        continue
      }
      var parameters: [(name: String, value: String?)] = []
      var body: [XMLElement] = []
      for item in child.children {
        guard item.name == SpecSchema.param.name else {
          body.append(item)
          continue
        }
        let p = attributesOf(item, SpecSchema.param)
        guard let pname = p.raw("name") else { continue }
        if !body.isEmpty {
          diagnostics.append(
            .error(
              .unknownElement, "<param> comes after the block's first layer", at: item.location,
              help: "declare every <param> at the top of <block name=\"\(name)\">"))
        } else if parameters.contains(where: { $0.name == pname }) {
          diagnostics.append(.error(.blockParameter, "the parameter '\(pname)' is declared twice", at: p.location("name"), help: "declare it once"))
        } else {
          parameters.append((pname, p.raw("default")))
        }
      }
      if body.isEmpty {
        diagnostics.append(.error(.emptyNetwork, "the block '\(name)' has no layers", at: child.location, help: "add the layers the block stands for"))
      }
      let declared = parameters.map(\.name)
      for element in body {
        for a in element.attributes {
          if a.name == "id" && a.value == "in" {
            diagnostics.append(
              .error(.reservedID, "'in' names the block's input and cannot be a layer id", at: a.location, help: "choose another id, such as 'in1'"))
          }
          for ref in Self.parameterReferences(a.value) where !declared.contains(ref) {
            diagnostics.append(
              .error(
                .blockParameter, "'$\(ref)' is not a parameter of the block '\(name)'", at: a.location,
                help: declared.isEmpty
                  ? "declare it first: <param name=\"\(ref)\"/> at the top of the block"
                  : Suggestion.help(for: ref, in: declared, what: "parameter") + " (or declare <param name=\"\(ref)\"/>)"))
          }
        }
      }
      blocks[name] = BlockDefinition(name: name, location: child.location, parameters: parameters, body: body)
    }
  }

  /// The `$name` references in an attribute value.
  static func parameterReferences(_ value: String) -> [String] {
    var out: [String] = []
    var rest = Substring(value)
    while let dollar = rest.firstIndex(of: "$") {
      let after = rest[rest.index(after: dollar)...]
      let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
      if !name.isEmpty { out.append(String(name)) }
      rest = after.dropFirst(name.count)
    }
    return out
  }

  /// `value` with every `$name` replaced by `values[name]`.
  static func substitute(_ value: String, _ values: [String: String]) -> String {
    guard value.contains("$") else { return value }
    var out = ""
    var rest = Substring(value)
    while let dollar = rest.firstIndex(of: "$") {
      out += rest[..<dollar]
      let after = rest[rest.index(after: dollar)...]
      let name = after.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }
      out += values[String(name)] ?? "$" + name
      rest = after.dropFirst(name.count)
    }
    return out + rest
  }

  /// The layer elements of a net with every `<use>` expanded, each with the
  /// uses it came from. `start` is what `in` means before the first element.
  mutating func expand(_ elements: [XMLElement], start: String, uses: [BlockUse], stack: [String]) -> [(element: XMLElement, uses: [BlockUse])] {
    var out: [(element: XMLElement, uses: [BlockUse])] = []
    for e in elements {
      guard e.name == SpecSchema.use.name else {
        out.append((e, uses))
        continue
      }
      let before = diagnostics.count
      let expanded = expandUse(e, previous: &out, start: start, uses: uses, stack: stack)
      diagnostics.noteExpansion(from: before, uses)
      out += expanded
    }
    return out
  }

  private mutating func expandUse(
    _ e: XMLElement, previous out: inout [(element: XMLElement, uses: [BlockUse])], start: String, uses: [BlockUse], stack: [String]
  ) -> [(element: XMLElement, uses: [BlockUse])] {
    if let text = e.textLocation {
      diagnostics.append(.error(.unexpectedText, "<use> holds text, but it takes only attributes", at: text.column == 0 ? e.location : text, help: "delete the text"))
    }
    for child in e.children { reportUnknown(child, in: e, allowed: []) }
    guard let blockAttribute = e.attribute("block") else {
      diagnostics.append(
        .error(.missingAttribute, "<use> needs the attribute 'block'", at: e.location, help: "add block=\"...\": the name of a <block> in <blocks>"))
      return []
    }
    let name = blockAttribute.value
    guard let block = blocks[name] else {
      diagnostics.append(
        .error(
          .blockUnknown, "no block is named '\(name)'", at: blockAttribute.location,
          help: blocks.isEmpty ? "define it in <blocks><block name=\"\(name)\">...</block></blocks>" : Suggestion.help(for: name, in: blocks.keys.sorted(), what: "block")))
      return []
    }
    if stack.contains(name) {
      // Reported once, however many uses lead to it.
      guard recursionReported.insert(blockAttribute.location).inserted else { return [] }
      let chain = (stack + [name]).joined(separator: " -> ")
      diagnostics.append(
        .error(
          .blockRecursive, "the block '\(name)' uses itself (\(chain))", at: blockAttribute.location,
          notes: [DiagnosticNote("the block '\(name)' is defined here", at: block.location)],
          help: "a block cannot contain a use of itself, directly or through another block"))
      return []
    }
    var values: [String: String] = [:]
    var ok = true
    for a in e.attributes where a.name != "block" && a.name != "id" && !a.name.hasPrefix("xsi:") && !a.name.hasPrefix("xmlns") {
      guard block.parameterNames.contains(a.name) else {
        ok = false
        diagnostics.append(
          .error(
            .blockParameter, "the block '\(name)' has no parameter '\(a.name)'", at: a.location,
            notes: [DiagnosticNote("the block is defined here", at: block.location)],
            help: block.parameters.isEmpty
              ? "the block takes no parameters; delete \(a.name)=\"...\""
              : Suggestion.help(for: a.name, in: block.parameterNames, what: "parameter of '\(name)'")))
        continue
      }
      values[a.name] = a.value
    }
    for p in block.parameters where values[p.name] == nil {
      if let value = p.value {
        values[p.name] = value
      } else {
        ok = false
        diagnostics.append(
          .error(
            .blockParameter, "the use of block '\(name)' needs a value for '\(p.name)'", at: e.location,
            notes: [DiagnosticNote("the block is defined here", at: block.location)], help: "add \(p.name)=\"...\" to this <use>"))
      }
    }
    guard ok else { return [] }
    useCounts[name, default: 0] += 1
    let useID = e.attribute("id")
    let prefix = useID?.value ?? "\(name)-\(useCounts[name]!)"
    // What `in` reads: the layer before the use (named if it is not), or the net's input.
    let readsInput = block.body.contains { b in b.attributes.contains { ["input", "inputs"].contains($0.name) && $0.value.split(separator: " ").contains("in") } }
    var inReference = start
    if readsInput, let last = out.indices.last {
      if let id = out[last].element.attribute("id")?.value {
        inReference = id
      } else {
        inReference = prefix + ".in"
        out[last].element.attributes.append(XMLAttribute(name: "id", value: inReference, location: e.location))
      }
    }
    // Inner ids get the prefix; the last layer takes the use's id.
    var rename: [String: String] = ["in": inReference]
    for (k, b) in block.body.enumerated() {
      guard let id = b.attribute("id")?.value else { continue }
      rename[id] = k == block.body.count - 1 ? (useID?.value ?? prefix + "." + id) : prefix + "." + id
    }
    var body = block.body.map { element -> XMLElement in
      var element = element
      for k in element.attributes.indices {
        var a = element.attributes[k]
        a.value = Self.substitute(a.value, values)
        switch a.name {
        case "id": a.value = rename[a.value] ?? a.value
        case "input", "inputs": a.value = a.value.split(separator: " ").map { rename[String($0)] ?? String($0) }.joined(separator: " ")
        default: break
        }
        element.attributes[k] = a
      }
      return element
    }
    if let useID, let last = body.indices.last, body[last].attribute("id") == nil {
      body[last].attributes.append(useID)
    }
    return expand(body, start: inReference, uses: [BlockUse(block: name, location: e.location)] + uses, stack: stack + [name])
  }
}
