import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("Golden IR of the shipped specs")
struct GoldenIRTests {
  @Test("compiled IR matches the golden dump", arguments: ["ring", "grid", "fashion-mlp", "fashion-dcgan"])
  func golden(_ name: String) throws {
    let path = packageRoot.appendingPathComponent("specs/\(name).xml").path
    let model = try Compiler.compile(try checked(try String(contentsOfFile: path, encoding: .utf8)))
    var text = ""
    for p in model.programs { text += "// program \(p.name)\n" + p.graph.text }
    assertSnapshot(text, named: "\(name).ir", in: "GANCompilerTests")
  }
}
