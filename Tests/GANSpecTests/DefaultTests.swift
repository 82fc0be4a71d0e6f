import Foundation
import GANTestSupport
import Testing
@testable import GANSpec

/// Defaults live in the schema table only: the reader, the XSD and the
/// reference all take them from there.
@Suite("Defaults")
struct DefaultTests {
  func optimizers(_ generator: String, _ discriminator: String) throws -> TrainingSpec {
    let text =
      baseSpec
      .replacingOccurrences(of: #"<optimizer net="generator" lr="1e-3"/>"#, with: #"<optimizer net="generator" lr="1e-3" \#(generator)/>"#)
      .replacingOccurrences(of: #"<optimizer net="discriminator" lr="1e-3"/>"#, with: #"<optimizer net="discriminator" lr="1e-3" \#(discriminator)/>"#)
    let result = lint(text)
    return try #require(result.checked?.spec.training, "\(result.diagnostics)")
  }

  @Test("rmsprop's beta2 defaults to 0.99 (PyTorch's alpha), adam's to 0.999, a given beta2 wins")
  func rmspropBeta2() throws {
    let t = try optimizers(#"kind="rmsprop""#, #"kind="adam""#)
    #expect(t.generatorOptimizer.beta2 == 0.99)
    #expect(t.discriminatorOptimizer.beta2 == 0.999)
    let given = try optimizers(#"kind="rmsprop" beta2="0.9""#, "")
    #expect(given.generatorOptimizer.beta2 == 0.9)
    #expect(given.discriminatorOptimizer.beta2 == 0.999)
  }

  @Test("the XSD and the reference state rmsprop's beta2 default")
  func documented() {
    let beta2 = SpecSchema.optimizer.attribute("beta2")!
    #expect(beta2.documentedDefault == #"0.999; 0.99 with kind="rmsprop""#)
    #expect(XSDWriter.xsd().contains("(default 0.999; 0.99 with kind=&quot;rmsprop&quot;)"))
    #expect(ReferenceWriter.markdown().contains(#"`0.999; 0.99 with kind="rmsprop"`"#))
  }

  @Test("a spec without <output> gets the schema's <output> defaults")
  func outputDefaults() throws {
    let spec = try #require(lint(baseSpec).checked?.spec)
    let schema = SpecSchema.output
    #expect(spec.output.samplesEvery == Int(schema.attribute("samples-every")!.defaultValue!))
    #expect(spec.output.checkpointEvery == Int(schema.attribute("checkpoint-every")!.defaultValue!))
    #expect(spec.output.sampleCount == Int(schema.attribute("sample-count")!.defaultValue!))
    #expect(spec.output.dir == "runs/t")
    let empty = try #require(lint(baseSpec.replacingOccurrences(of: "</training>", with: "</training>\n  <output/>")).checked?.spec)
    #expect(empty.output == spec.output)
  }

  @Test("learning-rate schedules: warm-up, then constant or a linear decay to zero after the last update")
  func schedules() throws {
    let result = lint(baseSpec.replacingOccurrences(of: "<optimizer net=\"generator\" lr=\"1e-3\"/>", with: "<optimizer net=\"generator\" lr=\"1e-3\" schedule=\"linear\" warmup=\"2\"/>"))
    let training = try #require(result.checked?.spec.training)
    let g = training.generatorOptimizer, d = training.discriminatorOptimizer
    #expect(g.schedule == .linear && g.warmup == 2)
    #expect(d.schedule == .constant && d.warmup == 0)
    // 10 updates: warm-up 1/2, 2/2; then (10 - t) / 8 for t = 2 ... 9.
    let rates = (0..<10).map { g.learningRate(update: $0, of: training.updates(of: .generator)) / 1e-3 }
    let expected = [0.5, 1.0] + (2..<10).map { Double(10 - $0) / 8 }
    #expect(zip(rates, expected).allSatisfy { abs($0 - $1) < 1e-12 }, "\(rates)")
    #expect((0..<10).allSatisfy { d.learningRate(update: $0, of: 10) == 1e-3 })
  }
}
