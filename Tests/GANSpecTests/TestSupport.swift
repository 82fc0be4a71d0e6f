import Foundation
import GANTestSupport
import GANDiagnostics
@testable import GANSpec

/// Lints `text` as a file named `name` in a fresh folder.
func lint(_ text: String, name: String = "spec.xml", folder: URL? = nil) -> LintResult {
  let folder = folder ?? temporaryFolder()
  let path = write(text, to: name, in: folder)
  return Linter.lint(path, sources: SourceStore())
}
