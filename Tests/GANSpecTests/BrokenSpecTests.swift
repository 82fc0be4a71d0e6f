import Foundation
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec

/// A broken variant of `baseSpec` and the diagnostic it must produce.
struct BrokenSpec: CustomTestStringConvertible, Sendable {
  let name: String
  let edits: [(String, String)]
  let id: String
  let line: Int
  let column: Int
  let exit: Int32
  init(_ name: String, _ edits: [(String, String)], _ id: String, _ line: Int, _ column: Int, exit: Int32) {
    self.name = name
    self.edits = edits
    self.id = id
    self.line = line
    self.column = column
    self.exit = exit
  }
  var testDescription: String { name }

  var text: String {
    var text = baseSpec
    for (old, new) in edits {
      guard let range = text.range(of: old) else { return "edit not applicable: \(old)" }
      text.replaceSubrange(range, with: new)
    }
    return text
  }
}

/// Support files the cases may name.
let caseFiles = [
  "junk.idx": "this is not an idx file at all, no", "t.csv": "a,b\n1,2\n3,4\n",
  "words.csv": "a,b\n1,two\n", "g.xml": "<network><dense units=\"2\"/></network>",
]

let brokenSpecs: [BrokenSpec] = [
  BrokenSpec("unknown-attribute", [("units=\"16\" activation=\"relu\"", "unit=\"16\" activation=\"relu\"")], "GAN0102", 6, 12, exit: 1),
  BrokenSpec("missing-required-attribute", [("<dense units=\"2\"/>", "<dense/>")], "GAN0103", 7, 6, exit: 1),
  BrokenSpec("unknown-activation", [("activation=\"relu\"", "activation=\"rlu\"")], "GAN0109", 6, 23, exit: 1),
  BrokenSpec("integer-malformed", [("units=\"16\" activation=\"relu\"", "units=\"sixteen\" activation=\"relu\"")], "GAN0107", 6, 12, exit: 1),
  BrokenSpec("count-zero", [("units=\"16\" activation=\"relu\"", "units=\"0\" activation=\"relu\"")], "GAN0112", 6, 12, exit: 1),
  BrokenSpec("count-absurd", [("units=\"16\" activation=\"relu\"", "units=\"99999999999999\" activation=\"relu\"")], "GAN0306", 6, 12, exit: 1),
  BrokenSpec("count-overflows-int64", [("<latent size=\"8\"/>", "<latent size=\"999999999999999999999999\"/>")], "GAN0306", 4, 11, exit: 1),
  BrokenSpec("count-negative", [("units=\"16\" activation=\"relu\"", "units=\"-4\" activation=\"relu\"")], "GAN0112", 6, 12, exit: 1),
  BrokenSpec("real-malformed", [("net=\"generator\" lr=\"1e-3\"", "net=\"generator\" lr=\"fast\"")], "GAN0108", 14, 32, exit: 1),
  BrokenSpec("real-nan", [("net=\"generator\" lr=\"1e-3\"", "net=\"generator\" lr=\"NaN\"")], "GAN0108", 14, 32, exit: 1),
  BrokenSpec("lr-negative", [("net=\"generator\" lr=\"1e-3\"", "net=\"generator\" lr=\"-0.1\"")], "GAN0112", 14, 32, exit: 1),
  BrokenSpec("beta1-out-of-range", [("net=\"generator\" lr=\"1e-3\"", "net=\"generator\" lr=\"1e-3\" beta1=\"1.5\"")], "GAN0112", 14, 42, exit: 1),
  BrokenSpec("unknown-layer", [("<dense units=\"2\"/>", "<dense units=\"2\"/>\n    <denze units=\"2\"/>")], "GAN0101", 8, 6, exit: 1),
  BrokenSpec("unknown-top-element", [("<latent size=\"8\"/>", "<latent size=\"8\"/>\n  <outptu dir=\"x\"/>")], "GAN0101", 5, 4, exit: 1),
  BrokenSpec("duplicate-element", [("<latent size=\"8\"/>", "<latent size=\"8\"/>\n  <latent size=\"4\"/>")], "GAN0105", 5, 4, exit: 1),
  BrokenSpec("missing-element", [("  <latent size=\"8\"/>\n", "")], "GAN0104", 2, 2, exit: 1),
  BrokenSpec("wrong-root", [("<gan name=\"t\" version=\"1\">", "<model name=\"t\" version=\"1\">"), ("</gan>", "</model>")], "GAN0100", 2, 2, exit: 1),
  BrokenSpec("unsupported-version", [("version=\"1\"", "version=\"2\"")], "GAN0109", 2, 15, exit: 1),
  BrokenSpec("missing-optimizer", [("    <optimizer net=\"discriminator\" lr=\"1e-3\"/>\n", "")], "GAN0500", 13, 4, exit: 1),
  BrokenSpec("duplicate-optimizer", [("<optimizer net=\"discriminator\" lr=\"1e-3\"/>", "<optimizer net=\"generator\" lr=\"1e-3\"/>")], "GAN0501", 15, 6, exit: 1),
  BrokenSpec("unknown-loss", [("<training steps=\"10\"", "<training loss=\"hinged\" steps=\"10\"")], "GAN0109", 13, 13, exit: 1),
  BrokenSpec("generator-output-mismatch", [("<dense units=\"2\"/>", "<dense units=\"3\"/>")], "GAN0304", 7, 6, exit: 1),
  BrokenSpec("discriminator-output-not-one", [("<dense units=\"1\"/>", "<dense units=\"2\"/>")], "GAN0305", 11, 6, exit: 1),
  BrokenSpec(
    "sigmoid-with-hinge", [("<dense units=\"1\"/>", "<dense units=\"1\" activation=\"sigmoid\"/>"), ("<training steps=\"10\"", "<training loss=\"hinge\" steps=\"10\"")], "GAN0502", 11, 6, exit: 1),
  BrokenSpec("warning-sigmoid-with-logit-loss", [("<dense units=\"1\"/>", "<dense units=\"1\" activation=\"sigmoid\"/>")], "GAN0503", 11, 6, exit: 0),
  BrokenSpec("warning-bias-before-batchnorm", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\"/>\n    <batchnorm/>\n    <activation kind=\"relu\"/>")], "GAN0504", 6, 6, exit: 0),
  BrokenSpec("unknown-reference", [("<dense units=\"2\"/>", "<dense units=\"2\" input=\"nope\"/>")], "GAN0205", 7, 22, exit: 1),
  BrokenSpec(
    "forward-reference", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" activation=\"relu\" input=\"out\"/>"), ("<dense units=\"2\"/>", "<dense units=\"2\" id=\"out\"/>")],
    "GAN0206", 6, 41, exit: 1),
  BrokenSpec(
    "duplicate-id", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" activation=\"relu\" id=\"h\"/>"), ("<dense units=\"2\"/>", "<dense units=\"2\" id=\"h\"/>")], "GAN0204", 7, 22,
    exit: 1),
  BrokenSpec("reserved-id", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" activation=\"relu\" id=\"z\"/>")], "GAN0210", 6, 41, exit: 1),
  BrokenSpec("label-without-conditional", [("<dense units=\"16\" activation=\"relu\"/>", "<embedding classes=\"10\" dim=\"4\"/>\n    <dense units=\"16\" input=\"z\"/>")], "GAN0208", 6, 6, exit: 1),
  BrokenSpec("conditional-without-labels", [("<training steps=\"10\"", "<training conditional=\"true\" steps=\"10\"")], "GAN0505", 13, 13, exit: 1),
  BrokenSpec("conv-on-vector", [("<dense units=\"2\"/>", "<conv2d filters=\"2\" kernel=\"3\"/>")], "GAN0301", 7, 6, exit: 1),
  BrokenSpec("reshape-count", [("<dense units=\"2\"/>", "<reshape shape=\"3 3\"/>")], "GAN0303", 7, 14, exit: 1),
  BrokenSpec(
    "concat-mismatch",
    [
      (
        "<dense units=\"16\" activation=\"relu\"/>",
        "<dense units=\"16\" id=\"a\"/>\n    <reshape shape=\"4 4\" id=\"b\"/>\n    <reshape shape=\"2 8\" input=\"a\" id=\"c\"/>\n    <concat inputs=\"b c\" axis=\"0\"/>"
      )
    ], "GAN0300", 9, 13, exit: 1),
  BrokenSpec(
    "add-mismatch", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" id=\"a\"/>\n    <dense units=\"8\" id=\"b\"/>\n    <add inputs=\"a b\"/>")], "GAN0300", 8, 10, exit: 1),
  BrokenSpec(
    "concat-axis-out-of-range", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" id=\"a\"/>\n    <dense units=\"8\" id=\"b\"/>\n    <concat inputs=\"a b\" axis=\"3\"/>")],
    "GAN0112", 8, 26, exit: 1),
  BrokenSpec(
    "kernel-too-large", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\"/>\n    <reshape shape=\"1 4 4\"/>\n    <conv2d filters=\"1\" kernel=\"5\"/>\n    <flatten/>")], "GAN0302",
    8, 25, exit: 1),
  BrokenSpec("attribute-not-for-source", [("std=\"0.01\"/>", "std=\"0.01\" images=\"a.gz\"/>")], "GAN0115", 3, 55, exit: 1),
  BrokenSpec("idx-file-missing", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"idx\" images=\"missing.gz\"/>")], "GAN0400", 3, 22, exit: 1),
  BrokenSpec("idx-not-idx", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"idx\" images=\"junk.idx\"/>")], "GAN0401", 3, 22, exit: 1),
  BrokenSpec("csv-unknown-column", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"csv\" path=\"t.csv\" columns=\"a bb\"/>")], "GAN0403", 3, 35, exit: 1),
  BrokenSpec("csv-not-numeric", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"csv\" path=\"words.csv\"/>")], "GAN0401", 3, 22, exit: 1),
  BrokenSpec("npy-not-npy", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"npy\" path=\"junk.idx\"/>")], "GAN0401", 3, 22, exit: 1),
  BrokenSpec("dropout-rate-one", [("<dense units=\"2\"/>", "<dropout rate=\"1\"/>\n    <dense units=\"2\"/>")], "GAN0112", 7, 14, exit: 1),
  BrokenSpec("text-content", [("<latent size=\"8\"/>", "<latent size=\"8\">eight</latent>")], "GAN0106", 4, 4, exit: 1),
  BrokenSpec("label-smoothing-zero", [("<training steps=\"10\"", "<training label-smoothing=\"0\" steps=\"10\"")], "GAN0112", 13, 13, exit: 1),
  BrokenSpec("tensor-too-large", [("batch=\"4\"", "batch=\"2000000000\"")], "GAN0306", 6, 12, exit: 1),
  BrokenSpec("empty-generator", [("    <dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"2\"/>\n", "")], "GAN0207", 5, 4, exit: 1),
  BrokenSpec("src-and-inline", [("<generator>", "<generator src=\"g.xml\">")], "GAN0202", 5, 14, exit: 1),
  BrokenSpec(
    "src-missing", [("<generator>\n    <dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"2\"/>\n  </generator>", "<generator src=\"nets/none.xml\"/>")], "GAN0200", 5, 14, exit: 1),
  BrokenSpec("invalid-boolean", [("<dense units=\"2\"/>", "<dense units=\"2\" bias=\"yes\"/>")], "GAN0110", 7, 22, exit: 1),
  BrokenSpec("invalid-kernel", [("<dense units=\"2\"/>", "<conv2d filters=\"2\" kernel=\"4y3\"/>")], "GAN0111", 7, 25, exit: 1),
  BrokenSpec(
    "output-padding-too-large",
    [
      (
        "<dense units=\"16\" activation=\"relu\"/>",
        "<dense units=\"16\"/>\n    <reshape shape=\"1 4 4\"/>\n    <deconv2d filters=\"1\" kernel=\"4\" stride=\"2\" output-padding=\"2\"/>\n    <flatten/>"
      )
    ], "GAN0112", 8, 49, exit: 1),
  BrokenSpec(
    "warning-unused-output", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\" activation=\"relu\"/>\n    <dense units=\"5\"/>\n    <dense units=\"2\" input=\"z\"/>")], "GAN0209", 7,
    6, exit: 0),
  BrokenSpec("warning-option-ignored", [("<training steps=\"10\"", "<training clip=\"0.1\" steps=\"10\"")], "GAN0506", 13, 13, exit: 0),
  BrokenSpec(
    "warning-final-tanh-range", [("<data source=\"ring\" modes=\"8\" radius=\"1\" std=\"0.01\"/>", "<data source=\"grid\"/>"), ("<dense units=\"2\"/>", "<dense units=\"2\" activation=\"tanh\"/>")],
    "GAN0404", 7, 6, exit: 0),
  BrokenSpec(
    "warning-batchnorm-with-penalty",
    [
      ("<dense units=\"16\" activation=\"leaky-relu\"/>", "<dense units=\"16\"/>\n    <batchnorm/>\n    <activation kind=\"leaky-relu\"/>"),
      ("<training steps=\"10\"", "<training loss=\"wasserstein-gp\" steps=\"10\""),
    ], "GAN0507", 11, 6, exit: 0),
  BrokenSpec("updates-beyond-count", [("<training steps=\"10\"", "<training d-steps=\"1000\" steps=\"2000000000\"")], "GAN0306", 13, 28, exit: 1),
  BrokenSpec("doctype", [("<gan name=\"t\"", "<!DOCTYPE gan>\n<gan name=\"t\"")], "GAN0005", 2, 1, exit: 1),
  BrokenSpec("malformed", [("<latent size=\"8\"/>", "<latent size=\"8\">")], "GAN0004", 17, 7, exit: 1),
  BrokenSpec(
    "deconv-same-small-kernel",
    [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"16\"/>\n    <reshape shape=\"1 4 4\"/>\n    <deconv2d filters=\"1\" kernel=\"1\" stride=\"2\" padding=\"same\"/>\n    <flatten/>")],
    "GAN0112", 8, 49, exit: 1),
  BrokenSpec("semi-supervised-without-labels", [("<training steps=\"10\"", "<training loss=\"semi-supervised\" steps=\"10\"")], "GAN0511", 13, 13, exit: 1),
  BrokenSpec("feature-matching-unknown-id", [("<training steps=\"10\"", "<training feature-matching=\"feat\" steps=\"10\"")], "GAN0512", 13, 13, exit: 1),
  BrokenSpec("classifier-optimizer-in-gan", [("<optimizer net=\"generator\"", "<optimizer net=\"classifier\"")], "GAN0509", 14, 6, exit: 1),
  BrokenSpec("labels-per-class-on-ring", [("std=\"0.01\"/>", "std=\"0.01\" labels-per-class=\"5\"/>")], "GAN0115", 3, 55, exit: 1),
  BrokenSpec("cross-entropy-in-gan", [("<training steps=\"10\"", "<training loss=\"cross-entropy\" steps=\"10\"")], "GAN0112", 13, 13, exit: 1),
  BrokenSpec("warmup-longer-than-training", [("<optimizer net=\"generator\" lr=\"1e-3\"/>", "<optimizer net=\"generator\" lr=\"1e-3\" warmup=\"10\"/>")], "GAN0112", 14, 42, exit: 1),
  BrokenSpec(
    "avgpool-not-dividing", [("<dense units=\"16\" activation=\"relu\"/>", "<dense units=\"18\"/>\n    <reshape shape=\"2 3 3\"/>\n    <avgpool size=\"2\"/>\n    <flatten/>")],
    "GAN0300", 8, 14, exit: 1),
  BrokenSpec("negative-r1", [("<training steps=\"10\"", "<training r1=\"-1\" steps=\"10\"")], "GAN0112", 13, 13, exit: 1),
  BrokenSpec("regularize-every-without-penalty", [("<training steps=\"10\"", "<training regularize-every=\"4\" steps=\"10\"")], "GAN0506", 13, 13, exit: 0),
  BrokenSpec(
    "dot-shapes", [("<dense units=\"1\"/>\n  </discriminator>", "<dense units=\"3\" id=\"a\"/>\n    <dense units=\"2\" id=\"b\" input=\"a\"/>\n    <dot inputs=\"a b\"/>\n  </discriminator>")],
    "GAN0300", 13, 10, exit: 1),
  BrokenSpec(
    "spectral-norm-without-weights", [("<dense units=\"2\"/>", "<dense units=\"2\"/>\n    <activation kind=\"tanh\" spectral-norm=\"true\"/>")], "GAN0102", 8, 29,
    exit: 1),
  BrokenSpec(
    "power-iterations-without-spectral-norm", [("<dense units=\"16\" activation=\"relu\"", "<dense units=\"16\" power-iterations=\"2\" activation=\"relu\"")],
    "GAN0506", 6, 23, exit: 0),
  BrokenSpec(
    "conditional-batchnorm-without-labels", [("<dense units=\"2\"/>", "<batchnorm classes=\"3\"/>\n    <dense units=\"2\"/>")], "GAN0208", 7, 16, exit: 1),
  BrokenSpec(
    "bias-before-batchnorm-through-a-sum",
    [("<dense units=\"2\"/>", "<dense units=\"16\" id=\"p\"/>\n    <dense units=\"16\" input=\"p\" id=\"q\"/>\n    <add inputs=\"p q\"/>\n    <batchnorm/>\n    <dense units=\"2\"/>")],
    "GAN0504", 7, 6, exit: 0),
  BrokenSpec("eval-every-without-judge", [("</gan>", "<output eval-every=\"10\"/>\n</gan>")], "GAN0103", 17, 9, exit: 1),
]

/// A classifier spec (4x4 images in 3 classes) and an edit of it.
let classifierBase = """
  <classifier name="c" version="1">
    <data source="idx" images="img.idx" labels="lab.idx"/>
    <network>
      <flatten/>
      <dense units="3"/>
    </network>
    <training steps="5" batch="2">
      <optimizer net="classifier" lr="1e-3"/>
    </training>
  </classifier>
  """

@Suite("Broken classifier specs")
struct BrokenClassifierTests {
  func lintClassifier(_ edits: [(String, String)]) -> LintResult {
    let folder = temporaryFolder()
    var images = Data([0, 0, 8, 3, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0, 4])
    images += Data((0..<96).map { UInt8($0 * 7 % 256) })
    try? images.write(to: folder.appendingPathComponent("img.idx"))
    try? Data([0, 0, 8, 1, 0, 0, 0, 6, 0, 1, 2, 0, 1, 2]).write(to: folder.appendingPathComponent("lab.idx"))
    var text = classifierBase
    for (old, new) in edits { text = text.replacingOccurrences(of: old, with: new) }
    return lint(text, folder: folder)
  }

  @Test("the base classifier is clean")
  func clean() {
    let result = lintClassifier([])
    #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    #expect(result.checked?.spec.kind == .classifier)
    #expect(result.checked?.spec.training.loss == .crossEntropy)
  }

  @Test(
    "each mistake reports its id at its line and column",
    arguments: [
      ("one logit per class", [("<dense units=\"3\"/>", "<dense units=\"4\"/>")], "GAN0510", 5, 6),
      ("no labels", [(" labels=\"lab.idx\"", "")], "GAN0402", 2, 4),
      ("a GAN's optimizer", [("net=\"classifier\"", "net=\"discriminator\"")], "GAN0509", 8, 6),
      ("a GAN's loss", [("<training steps", "<training loss=\"hinge\" steps")], "GAN0112", 7, 13),
      ("a GAN's element", [("<network>", "<latent size=\"3\"/>\n  <network>")], "GAN0101", 3, 4),
      ("more labels per class than images", [("lab.idx\"", "lab.idx\" labels-per-class=\"3\"")], "GAN0112", 2, 56),
    ])
  func reports(_ name: String, _ edits: [(String, String)], _ id: String, _ line: Int, _ column: Int) {
    let result = lintClassifier(edits)
    let hit = result.diagnostics.first { $0.id.rawValue == id }
    #expect(hit != nil, "\(name): expected \(id), got \(result.diagnostics.map { "\($0.id.rawValue) \($0.message)" })")
    #expect(hit?.location?.line == line && hit?.location?.column == column, "\(name): at \(String(describing: hit?.location))")
    #expect(result.hasErrors)
  }
}

@Suite("Broken specs")
struct BrokenSpecTests {
  @Test("the base spec is clean")
  func baseIsClean() {
    let result = lint(baseSpec)
    #expect(result.diagnostics.isEmpty, "\(result.diagnostics)")
    #expect(result.checked != nil)
  }

  @Test("each broken spec reports its id at its line and column", arguments: brokenSpecs)
  func reports(_ c: BrokenSpec) {
    let folder = temporaryFolder()
    for (name, text) in caseFiles { write(text, to: name, in: folder) }
    let result = lint(c.text, folder: folder)
    let hit = result.diagnostics.first { $0.id.rawValue == c.id }
    #expect(hit != nil, "expected \(c.id), got \(result.diagnostics.map { "\($0.id.rawValue) \($0.message)" })")
    #expect(hit?.location?.line == c.line)
    #expect(hit?.location?.column == c.column)
    #expect(hit?.location?.file.hasSuffix("spec.xml") == true)
    #expect(result.hasErrors == (c.exit == 1))
    if c.exit == 0 { #expect(hit?.severity == .warning) }
    // Every diagnostic says how to fix it.
    for d in result.diagnostics where d.severity == .error { #expect(d.help != nil, "\(d.id.rawValue) has no help line") }
  }

  @Test(
    "the exit code of ganc lint matches",
    arguments: brokenSpecs.filter { ["unknown-attribute", "warning-unused-output", "generator-output-mismatch", "doctype", "idx-file-missing"].contains($0.name) })
  func exitCode(_ c: BrokenSpec) {
    let folder = temporaryFolder()
    for (name, text) in caseFiles { write(text, to: name, in: folder) }
    let path = write(c.text, to: "spec.xml", in: folder)
    let (code, out, _) = runGanc(["lint", path])
    #expect(code == c.exit)
    #expect(out.contains("[\(c.id)]"))
    #expect(out.contains("spec.xml:\(c.line):\(c.column): "))
  }
}
