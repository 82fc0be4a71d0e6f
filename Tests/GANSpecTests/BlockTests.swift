import Foundation
import GANDiagnostics
import GANTestSupport
import Testing
@testable import GANSpec

/// A spec whose generator is written with blocks, and the blocks.
func blockSpec(blocks: String = residualBlock, generator: String) -> String {
  """
  <gan name="b" version="1">
    <blocks>
  \(blocks)
    </blocks>
    <data source="npy" path="img.npy"/>
    <latent size="4"/>
    <generator>
      <dense units="16"/>
      <reshape shape="4 2 2"/>
  \(generator)
      <conv2d filters="1" kernel="3" padding="same" activation="tanh"/>
    </generator>
    <discriminator>
      <flatten/>
      <dense units="1"/>
    </discriminator>
    <training steps="10" batch="4">
      <optimizer net="generator" lr="1e-3"/>
      <optimizer net="discriminator" lr="1e-3"/>
    </training>
  </gan>
  """
}

let residualBlock = """
      <block name="up">
        <param name="filters"/>
        <param name="scale" default="2"/>
        <activation kind="relu"/>
        <upsample scale="$scale"/>
        <conv2d filters="$filters" kernel="3" padding="same" id="c"/>
        <upsample scale="$scale" input="in"/>
        <conv2d filters="$filters" kernel="1" id="skip"/>
        <add inputs="c skip"/>
      </block>
  """

@Suite("Blocks")
struct BlockTests {
  func lintWithData(_ text: String) -> LintResult {
    let folder = temporaryFolder()
    // A float32 .npy of four 1x4x4 zeros.
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 1, 4, 4), }"
    while (10 + header.utf8.count + 1) % 64 != 0 { header += " " }
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.utf8.count + 1), 0]) + Data((header + "\n").utf8)
    data += Data(count: 4 * 64)
    try? data.write(to: folder.appendingPathComponent("img.npy"))
    return lint(text, folder: folder)
  }

  @Test("two uses expand to the layers written by hand, with prefixed ids and `in` as the layer before")
  func expansion() throws {
    let blocks = lintWithData(blockSpec(generator: "<use block=\"up\" filters=\"8\" id=\"b1\"/>\n<use block=\"up\" filters=\"4\" scale=\"1\"/>"))
    #expect(!blocks.hasErrors, "\(blocks.diagnostics)")
    let written = lintWithData(
      blockSpec(
        blocks: "",
        generator: """
          <activation kind="relu"/><upsample scale="2"/><conv2d filters="8" kernel="3" padding="same"/>
          <upsample scale="2" input="r"/><conv2d filters="8" kernel="1" id="s1"/><add inputs="c1 s1" id="b1"/>
          <activation kind="relu"/><upsample scale="1"/><conv2d filters="4" kernel="3" padding="same" id="c2"/>
          <upsample scale="1" input="b1"/><conv2d filters="4" kernel="1" id="s2"/><add inputs="c2 s2"/>
          """
      ).replacingOccurrences(of: "<reshape shape=\"4 2 2\"/>", with: "<reshape shape=\"4 2 2\" id=\"r\"/>")
        .replacingOccurrences(of: "padding=\"same\"/>\n<upsample scale=\"2\"", with: "padding=\"same\" id=\"c1\"/>\n<upsample scale=\"2\""))
    #expect(!written.hasErrors, "\(written.diagnostics)")
    let a = try #require(blocks.checked?.generator.layers), b = try #require(written.checked?.generator.layers)
    // The same layers (merges name their inputs differently) reading the same layers.
    let ops = { (layers: [CheckedLayer]) in layers.map { $0.layer.references.count > 1 ? $0.layer.element : "\($0.layer.op)" } }
    #expect(ops(a) == ops(b))
    #expect(a.map(\.inputs) == b.map(\.inputs))
    #expect(a.map(\.outputShape) == b.map(\.outputShape))
    #expect(a.map(\.layer.id) == [nil, "b1.in", nil, nil, "b1.c", nil, "b1.skip", "b1", nil, nil, "up-2.c", nil, "up-2.skip", nil, nil])
    // Expanded layers keep their line in the block and record the use.
    #expect(a[4].layer.location.line == 8)
    #expect(a[4].layer.expansion.map(\.location.line) == [19])
    #expect(a[10].layer.expansion.map(\.location.line) == [20])
    #expect(a[0].layer.expansion.isEmpty)
  }

  @Test("a block first in a net reads the net's input; blocks use blocks; parameters pass through")
  func nested() throws {
    let inner = """
          <block name="pair">
            <param name="units"/>
            <dense units="$units" activation="relu" id="a"/>
            <dense units="$units" input="in" id="b"/>
            <add inputs="a b"/>
          </block>
          <block name="twice">
            <param name="width" default="6"/>
            <use block="pair" units="$width"/>
            <use block="pair" units="$width" id="last"/>
          </block>
      """
    let text = baseSpec.replacingOccurrences(of: "<dense units=\"16\" activation=\"relu\"/>", with: "<use block=\"twice\"/>")
      .replacingOccurrences(of: "<data ", with: "<blocks>\(inner)</blocks>\n  <data ")
    let result = lint(text)
    #expect(!result.hasErrors, "\(result.diagnostics)")
    let g = try #require(result.checked?.generator)
    #expect(g.layers.count == 7)
    #expect(g.layers[0].inputs == [.input("z")])
    #expect(g.layers[1].inputs == [.input("z")])
    #expect(g.layers.prefix(6).allSatisfy { $0.outputShape == [6] })
    #expect(g.layers[5].layer.expansion.map(\.block) == ["pair", "twice"])
  }

  @Test(
    "mistakes are located, once, with the use that expanded them",
    arguments: [
      ("unknown block", "<use block=\"upp\" filters=\"8\"/>", "GAN0212", 19, 6, "did you mean 'up'?"),
      ("undeclared parameter", "<use block=\"up\" filters=\"8\" filtres=\"2\"/>", "GAN0213", 19, 29, "filters"),
      ("missing parameter", "<use block=\"up\"/>", "GAN0213", 19, 2, "filters=\"...\""),
      ("bad value through a parameter", "<use block=\"up\" filters=\"x\"/>", "GAN0107", 8, 15, "such as"),
      ("shape error inside the block", "<flatten/><use block=\"up\" filters=\"8\"/>", "GAN0301", 7, 8, "reshape"),
    ])
  func mistakes(_ name: String, _ use: String, _ id: String, _ line: Int, _ column: Int, _ help: String) {
    let result = lintWithData(blockSpec(generator: use))
    let hits = result.diagnostics.filter { $0.id.rawValue == id }
    #expect(hits.count >= 1, "\(name): expected \(id), got \(result.diagnostics.map { "\($0.id.rawValue) \($0.message)" })")
    #expect(hits.first?.location?.line == line && hits.first?.location?.column == column, "\(name): at \(String(describing: hits.first?.location))")
    let text = (hits.first?.help ?? "") + " " + (hits.first.map(\.message) ?? "")
    #expect(text.contains(help), "\(name): \(text)")
    #expect(result.hasErrors)
  }

  @Test("an error inside a block notes the use; a recursive block and a duplicate name are errors, reported once")
  func definitions() throws {
    let bad = lintWithData(blockSpec(generator: "<use block=\"up\" filters=\"0\" id=\"u1\"/>"))
    let zero = try #require(bad.diagnostics.first { $0.id == .invalidInteger || $0.id == .outOfRange })
    #expect(zero.location?.line == 8)
    #expect(zero.notes.contains { $0.message.contains("block 'up'") && $0.location?.line == 19 })

    let recursive = """
          <block name="a"><dense units="4"/><use block="b"/></block>
          <block name="b"><use block="a"/></block>
      """
    let r = lintWithData(blockSpec(blocks: recursive, generator: "<use block=\"a\"/><use block=\"b\"/>"))
    let cycles = r.diagnostics.filter { $0.id == .blockRecursive }
    #expect(cycles.count >= 1 && cycles.count <= 2, "\(cycles)")
    #expect(cycles.allSatisfy { ($0.help ?? "").contains("cannot contain a use of itself") })

    let twice = residualBlock + residualBlock
    let d = lintWithData(blockSpec(blocks: twice, generator: "<use block=\"up\" filters=\"8\"/>"))
    let duplicate = try #require(d.diagnostics.first { $0.id == .blockDuplicate })
    #expect(duplicate.notes.first?.location?.line == 3)

    let undeclared = residualBlock.replacingOccurrences(of: "kernel=\"1\"", with: "kernel=\"$k\"")
    let u = lintWithData(blockSpec(blocks: undeclared, generator: "<use block=\"up\" filters=\"8\"/><use block=\"up\" filters=\"8\"/>"))
    #expect(u.diagnostics.filter { $0.id == .blockParameter && $0.message.contains("'$k'") }.count == 1)
  }

  @Test("the XSD accepts $parameters inside blocks and <use> with parameters anywhere layers go")
  func schema() throws {
    let result = lintWithData(blockSpec(generator: "<use block=\"up\" filters=\"8\"/>"))
    #expect(!result.diagnostics.contains { $0.id == .schemaInvalid }, "\(result.diagnostics)")
    let xsd = XSDWriter.xsd()
    #expect(xsd.contains("<xs:group name=\"blockLayer\">"))
    #expect(xsd.contains("<xs:anyAttribute processContents=\"skip\"/>"))
  }
}
