import Foundation
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec

let shippedSpecs: [String] = {
  let dir = packageRoot.appendingPathComponent("specs")
  let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
  return names.filter { $0.hasSuffix(".xml") }.sorted().map { dir.appendingPathComponent($0).path }
}()

@Suite("Shipped specs and schema")
struct ShippedSpecTests {
  @Test("the required specs ship")
  func required() {
    let names = Set(shippedSpecs.map { ($0 as NSString).lastPathComponent })
    for name in ["ring.xml", "grid.xml", "fashion-mlp.xml", "fashion-dcgan.xml"] {
      #expect(names.contains(name), "specs/\(name) is missing")
    }
  }

  @Test("every shipped spec lints clean (no errors, no warnings)", arguments: shippedSpecs)
  func lintsClean(_ path: String) {
    let result = Linter.lint(path, sources: SourceStore())
    #expect(result.diagnostics.isEmpty, "\(result.diagnostics.map { "\($0.id.rawValue) \($0.message)" })")
    #expect(result.checked != nil)
  }

  @Test("every shipped spec validates against the XSD", arguments: shippedSpecs)
  func validates(_ path: String) throws {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    let (parsed, errors) = SafeXMLParser.parse(text: text, file: path)
    #expect(errors.isEmpty)
    let schema = try #require(CompiledSchema(xsd: try String(contentsOfFile: packageRoot.appendingPathComponent("specs/ganc.xsd").path, encoding: .utf8)))
    #expect(parsed?.validate(against: schema).isEmpty == true)
  }

  @Test("specs/ganc.xsd is what `ganc schema` prints")
  func shippedXSDIsCurrent() throws {
    let shipped = try String(contentsOfFile: packageRoot.appendingPathComponent("specs/ganc.xsd").path, encoding: .utf8)
    #expect(shipped == XSDWriter.xsd(), "run: swift run ganc schema > specs/ganc.xsd")
  }

  @Test("docs/spec-reference.md is what `ganc schema --format markdown` prints")
  func referenceIsCurrent() throws {
    let shipped = try String(contentsOfFile: packageRoot.appendingPathComponent("docs/spec-reference.md").path, encoding: .utf8)
    #expect(shipped == ReferenceWriter.markdown(), "run: swift run ganc schema --format markdown > docs/spec-reference.md")
  }

  @Test("the XSD rejects what the schema table forbids")
  func xsdRejects() throws {
    let schema = try #require(XSDWriter.compiled)
    let edits = [
      ("units=\"16\"", "unit=\"16\""), ("<latent size=\"8\"/>", ""), ("activation=\"relu\"", "activation=\"rlu\""),
      ("units=\"16\"", "units=\"0\""),
    ]
    for (old, new) in edits {
      #expect(baseSpec.contains(old), "the edit \(old) does not apply")
      let text = baseSpec.replacingOccurrences(of: old, with: new)
      let (parsed, _) = SafeXMLParser.parse(text: text, file: "x.xml")
      #expect(parsed?.validate(against: schema).isEmpty == false, "\(new) should be invalid")
    }
    let (clean, _) = SafeXMLParser.parse(text: baseSpec, file: "x.xml")
    #expect(clean?.validate(against: schema).isEmpty == true)
  }

  @Test("the schema lists every layer of the contract, then the extensions")
  func everyLayer() {
    let contract = [
      "dense", "conv2d", "deconv2d", "batchnorm", "layernorm", "activation", "dropout", "maxout",
      "reshape", "flatten", "upsample", "concat", "add", "embedding",
    ]
    let extensions = ["avgpool", "dot", "attention"]
    #expect(Set(SpecSchema.layerNames) == Set(contract + extensions))
    #expect(SpecSchema.layerNames.count == contract.count + extensions.count)
  }
}

@Suite("Layer files named by src")
struct SourceFileTests {
  let network = "<network>\n  <dense units=\"16\" activation=\"relu\"/>\n  <dense units=\"2\"/>\n</network>\n"

  func specNaming(_ src: String) -> String {
    baseSpec.replacingOccurrences(of: "<generator>\n    <dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"2\"/>\n  </generator>", with: "<generator src=\"\(src)\"/>")
  }

  @Test("a network file is read relative to the spec")
  func reads() {
    let folder = temporaryFolder()
    write(network, to: "nets/g.xml", in: folder)
    let result = lint(specNaming("nets/g.xml"), folder: folder)
    #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    #expect(result.checked?.generator.layers.count == 2)
  }

  @Test("errors inside a network file point into that file")
  func errorsInside() {
    let folder = temporaryFolder()
    write(network.replacingOccurrences(of: "units=\"2\"", with: "unit=\"2\""), to: "nets/g.xml", in: folder)
    let result = lint(specNaming("nets/g.xml"), folder: folder)
    let d = result.diagnostics.first { $0.id == .unknownAttribute }
    #expect(d?.location?.file.hasSuffix("nets/g.xml") == true)
    #expect(d?.location?.line == 3)
    #expect(d?.location?.column == 10)
  }

  @Test("a cycle of src files is an error")
  func cycle() {
    let folder = temporaryFolder()
    write("<network src=\"b.xml\"/>", to: "a.xml", in: folder)
    write("<network src=\"a.xml\"/>", to: "b.xml", in: folder)
    let result = lint(specNaming("a.xml"), folder: folder)
    #expect(result.diagnostics.contains { $0.id == .srcCycle })
  }

  @Test("a spec naming itself is a cycle")
  func selfCycle() {
    let result = lint(specNaming("spec.xml"))
    #expect(result.diagnostics.contains { $0.id == .srcCycle })
  }

  @Test("a network file with the wrong root")
  func wrongRoot() {
    let folder = temporaryFolder()
    write("<layers><dense units=\"2\"/></layers>", to: "g.xml", in: folder)
    let result = lint(specNaming("g.xml"), folder: folder)
    #expect(result.diagnostics.contains { $0.id == .srcWrongRoot })
  }
}
