import Foundation
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec

/// Writes an element tree back to XML text.
func serialize(_ e: XMLElement, indent: String = "") -> String {
  func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }
  var out = indent + "<" + e.name
  for a in e.attributes { out += " \(a.name)=\"\(escape(a.value))\"" }
  if e.children.isEmpty { return out + "/>\n" }
  out += ">\n"
  for c in e.children { out += serialize(c, indent: indent + "  ") }
  return out + indent + "</\(e.name)>\n"
}

/// Random edits of a spec's element tree: delete, duplicate or alter
/// attributes and elements.
struct Mutator {
  var rng: SplitMix
  static let values = ["", "-1", "0", "1", "abc", "99999999999999", "1e309", "same", "4x3", "0.5", "true", "z", "x", "label", "1 28 28", "relu", "nan"]
  static let names = SpecSchema.elements.values.flatMap { $0.attributes.map(\.name) } + ["bogus"]

  mutating func pick<T>(_ a: [T]) -> T { a[Int(rng.next() % UInt64(a.count))] }

  /// All paths to elements in the tree.
  func paths(_ e: XMLElement, _ prefix: [Int] = []) -> [[Int]] {
    [prefix] + e.children.enumerated().flatMap { paths($1, prefix + [$0]) }
  }

  func modify(_ e: inout XMLElement, at path: ArraySlice<Int>, _ body: (inout XMLElement) -> Void) {
    guard let first = path.first else { return body(&e) }
    modify(&e.children[first], at: path.dropFirst(), body)
  }

  mutating func mutate(_ root: XMLElement) -> XMLElement {
    var tree = root
    let count = 1 + Int(rng.next() % 3)
    for _ in 0..<count {
      let path = pick(paths(tree))
      let op = rng.next() % 7
      var r = self.rng
      modify(&tree, at: path[...]) { e in
        switch op {
        case 0 where !e.attributes.isEmpty: e.attributes.remove(at: Int(r.next() % UInt64(e.attributes.count)))
        case 1 where !e.attributes.isEmpty:
          let i = Int(r.next() % UInt64(e.attributes.count))
          e.attributes[i].value = Mutator.values[Int(r.next() % UInt64(Mutator.values.count))]
        case 2:
          let name = Mutator.names[Int(r.next() % UInt64(Mutator.names.count))]
          if !e.attributes.contains(where: { $0.name == name }) {
            e.attributes.append(XMLAttribute(name: name, value: Mutator.values[Int(r.next() % UInt64(Mutator.values.count))], location: e.location))
          }
        case 3 where !e.children.isEmpty: e.children.remove(at: Int(r.next() % UInt64(e.children.count)))
        case 4 where !e.children.isEmpty:
          let i = Int(r.next() % UInt64(e.children.count))
          e.children.insert(e.children[i], at: i)
        case 5 where !e.children.isEmpty:
          let i = Int(r.next() % UInt64(e.children.count))
          e.children[i].name = SpecSchema.layerNames[Int(r.next() % UInt64(SpecSchema.layerNames.count))]
        default:
          if !e.children.isEmpty { e.children.swapAt(0, e.children.count - 1) }
        }
      }
      self.rng = r
      _ = self.rng.next()
    }
    return tree
  }
}

@Suite("Generated mutations of the shipped specs")
struct MutationTests {
  @Test("the front end never crashes and always reports a location", arguments: shippedSpecs)
  func mutations(_ path: String) throws {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let (parsed, _) = SafeXMLParser.parse(text: text, file: path)
    let root = try #require(parsed?.root)
    var mutator = Mutator(rng: SplitMix(seed: UInt64(abs(path.hashValue % 1000)) + 1))
    let folder = temporaryFolder()
    var errors = 0
    for i in 0..<150 {
      let mutated = serialize(mutator.mutate(root))
      let file = write(mutated, to: "m\(i).xml", in: folder)
      let result = Linter.lint(file, sources: SourceStore())
      errors += result.hasErrors ? 1 : 0
      for d in result.diagnostics {
        let location = try #require(d.location, "\(d.id.rawValue) \(d.message) has no location")
        #expect(location.line > 0, "\(d.id.rawValue) \(d.message) has no line\n\(mutated)")
        #expect(!d.message.isEmpty)
        if d.severity == .error { #expect(d.help != nil, "\(d.id.rawValue) \(d.message) has no help") }
      }
      // A spec with errors never yields a checked spec.
      #expect(result.hasErrors == (result.checked == nil))
    }
    #expect(errors > 50, "the mutations should break most specs")
  }
}
