import Foundation
import GANTestSupport
import Testing

@Suite("The ganc command")
struct CLITests {
  let ring = packageRoot.appendingPathComponent("specs/ring.xml").path

  @Test("a clean spec exits 0 with a summary")
  func clean() {
    let (code, out, _) = runGanc(["lint", ring])
    #expect(code == 0)
    #expect(out.contains("ring.xml: ok"))
    #expect(out.contains("generator"))
    #expect(out.contains("parameters"))
  }

  @Test("several files in one call; the worst result sets the exit code")
  func severalFiles() {
    let folder = temporaryFolder()
    let bad = write(baseSpec.replacingOccurrences(of: "units=\"16\"", with: "unit=\"16\""), to: "bad.xml", in: folder)
    let (code, out, _) = runGanc(["lint", ring, bad])
    #expect(code == 1)
    #expect(out.contains("ring.xml: ok"))
    #expect(out.contains("bad.xml:6:12: error:"))
  }

  @Test("--format json prints machine-readable diagnostics")
  func json() throws {
    let folder = temporaryFolder()
    let bad = write(baseSpec.replacingOccurrences(of: "units=\"16\"", with: "unit=\"16\""), to: "bad.xml", in: folder)
    let (code, out, _) = runGanc(["lint", "--format", "json", bad, ring])
    #expect(code == 1)
    let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
    let diagnostics = try #require(object["diagnostics"] as? [[String: Any]])
    #expect(diagnostics.contains { $0["id"] as? String == "GAN0102" && $0["line"] as? Int == 6 && $0["column"] as? Int == 12 })
    let files = try #require(object["files"] as? [[String: Any]])
    #expect(files.count == 2)
    #expect((files[1]["summary"] as? [String: String])?["generator.output"] == "2")
  }

  @Test("no colour in a pipe, colour when forced, none under NO_COLOR")
  func colour() {
    let folder = temporaryFolder()
    let bad = write(baseSpec.replacingOccurrences(of: "units=\"16\"", with: "unit=\"16\""), to: "bad.xml", in: folder)
    #expect(!runGanc(["lint", bad]).out.contains("\u{1B}["))
    #expect(runGanc(["lint", "--color", "always", bad]).out.contains("\u{1B}["))
    #expect(!runGanc(["lint", bad], environment: ["NO_COLOR": "1"]).out.contains("\u{1B}["))
  }

  @Test("usage errors exit 2; I/O errors exit 2")
  func usage() {
    #expect(runGanc(["lint"]).code == 2)
    #expect(runGanc(["lint", "--format", "yaml", ring]).code == 2)
    #expect(runGanc(["frobnicate"]).code == 2)
    #expect(runGanc(["lint", "/no/such/spec.xml"]).code == 2)
    #expect(runGanc(["--help"]).code == 0)
  }

  @Test("ganc schema prints the XSD")
  func schema() {
    let (code, out, _) = runGanc(["schema"])
    #expect(code == 0)
    #expect(out == (try? String(contentsOfFile: packageRoot.appendingPathComponent("specs/ganc.xsd").path, encoding: .utf8)))
    #expect(out.contains("<xs:element name=\"deconv2d\">"))
  }
}

@Suite("ganc compile")
struct CompileCLITests {
  let ring = packageRoot.appendingPathComponent("specs/ring.xml").path

  @Test("the summary names layers, kernels and the arena")
  func summary() {
    let (code, out, _) = runGanc(["compile", ring])
    #expect(code == 0)
    for word in ["generator", "discriminator", "d-step", "g-step", "kernels", "arena", "without reuse", "per training iteration"] {
      #expect(out.contains(word), "missing '\(word)'")
    }
  }

  @Test("every --emit form", arguments: ["ir", "dot", "plan", "json"])
  func emit(_ form: String) throws {
    let (code, out, _) = runGanc(["compile", ring, "--emit", form])
    #expect(code == 0)
    switch form {
    case "ir": #expect(out.contains("// program d-step") && out.contains("fused matmul"))
    case "dot": #expect(out.hasPrefix("digraph ganc {"))
    case "plan": #expect(out.contains("persistent region") && out.contains("memory reduced from"))
    default: #expect((try? JSONSerialization.jsonObject(with: Data(out.utf8))) != nil)
    }
  }

  @Test("--no-fuse and --no-plan change the figures")
  func switches() {
    func kernels(_ extra: [String]) -> Int {
      let out = runGanc(["compile", ring, "--emit", "json"] + extra).out
      let object = (try? JSONSerialization.jsonObject(with: Data(out.utf8))) as? [String: Any]
      let programs = object?["programs"] as? [[String: Any]] ?? []
      return programs.reduce(0) { $0 + ($1["kernelsAfterFusion"] as? Int ?? 0) }
    }
    #expect(kernels(["--no-fuse"]) > kernels([]))
    let planned = runGanc(["compile", ring, "--emit", "json"]).out, unplanned = runGanc(["compile", ring, "--emit", "json", "--no-plan"]).out
    func arena(_ s: String) -> Int { ((try? JSONSerialization.jsonObject(with: Data(s.utf8))) as? [String: Any])?["arenaBytes"] as? Int ?? 0 }
    #expect(arena(planned) < arena(unplanned))
  }

  @Test("a broken spec stops compile with its diagnostics and exit code 1")
  func broken() {
    let folder = temporaryFolder()
    let bad = write(baseSpec.replacingOccurrences(of: "units=\"16\"", with: "unit=\"16\""), to: "bad.xml", in: folder)
    let (code, _, err) = runGanc(["compile", bad])
    #expect(code == 1)
    #expect(err.contains("[GAN0102]"))
    #expect(runGanc(["compile", ring, "--dump-ir-after", "nonsense"]).code == 2)
  }
}
