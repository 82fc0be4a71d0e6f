import Foundation
import GANTestSupport
import Testing

/// The package's shape as the issue tracker promised it: checked on the
/// sources, so a change that breaks a promise fails here.
@Suite("The package")
struct PackageTests {
  func sources(_ folder: String) throws -> [(path: String, text: String)] {
    let root = packageRoot.appendingPathComponent(folder)
    let files = FileManager.default.enumerator(atPath: root.path)?.compactMap { $0 as? String }.filter { $0.hasSuffix(".swift") } ?? []
    return try files.map { ($0, try String(contentsOf: root.appendingPathComponent($0), encoding: .utf8)) }
  }

  @Test("no target uses unsafe build flags: SwiftPM refuses them in a package others depend on by version")
  func noUnsafeFlags() throws {
    let manifest = try String(contentsOf: packageRoot.appendingPathComponent("Package.swift"), encoding: .utf8)
    #expect(!manifest.contains(".unsafeFlags("))
  }

  @Test("only GANData imports zlib; the runtime imports nothing of the spec front end")
  func imports() throws {
    for (path, text) in try sources("Sources") {
      if text.contains("import CZlib") { #expect(path.hasPrefix("GANData/"), "\(path) imports zlib") }
      if path.hasPrefix("GANRuntime/") { #expect(!text.contains("import GANSpec"), "\(path) imports GANSpec") }
    }
  }

  @Test("every file of GANSpec/Layers (but the protocol and the shared helpers) holds a layer family")
  func layerFamilies() throws {
    let files = try sources("Sources/GANSpec/Layers").filter { $0.path != "LayerFamily.swift" && $0.path != "Shared.swift" }
    #expect(files.count >= 7)
    for (path, text) in files { #expect(text.contains(": LayerFamily {"), "\(path) holds no layer family") }
  }
}
