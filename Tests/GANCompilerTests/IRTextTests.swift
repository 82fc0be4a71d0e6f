import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

@Suite("The IR text form")
struct IRTextTests {
  @Test("IR print -> parse -> print is stable, fused and unfused")
  func roundTrip() throws {
    var sources = generatedSpecs(10).map { try? checked($0.0, files: ["img.npy": npy([4, 1, 8, 8])]) }.compactMap { $0 }
    for name in ["ring", "fashion-dcgan"] { sources.append(try checked(try String(contentsOfFile: packageRoot.appendingPathComponent("specs/\(name).xml").path, encoding: .utf8))) }
    for spec in sources {
      for fuse in [true, false] {
        var options = CompileOptions()
        options.fuse = fuse
        for p in try Compiler.compile(spec, options: options).programs {
          let text = p.graph.text
          let parsed = try Graph(parsing: text)
          #expect(parsed.text == text)
          #expect(parsed == p.graph)
        }
      }
    }
  }

  @Test("the parser reports bad text with its line")
  func parseErrors() {
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = frobnicate %0 : [2, 3]\n") }
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = exp %5 : [2, 3]\n") }
    #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2, 3]\n%1 = matmul %0, %0 : [2, 2]\n") }
    let error = #expect(throws: IRError.self) { try Graph(parsing: "%0 = input \"z\" : [2]\n%1 = exp %0 : [3]\n") }
    #expect(error?.message.hasPrefix("line 2:") == true, "\(String(describing: error))")
  }
}
