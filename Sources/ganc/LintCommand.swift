import ArgumentParser
import Foundation
import GANDiagnostics
import GANSpec

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case text, json
}

/// `ganc lint`: checks specs against the schema and every semantic rule.
struct Lint: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Check specs: XML, the schema, shapes through every layer, and every rule of the language.",
    discussion: "Exit code 0 when every spec is clean (warnings allowed), 1 when a spec has errors, 2 when a file cannot be read.")

  @Argument(help: "Spec files to check.", completion: .file(extensions: ["xml"]))
  var specs: [String]

  @Option(help: "Output format: text (for people) or json (for tools).")
  var format: OutputFormat = .text

  @Option(help: "Colour: auto (on a terminal, unless NO_COLOR is set), always or never.")
  var color: ColourChoice = .auto

  @Flag(name: .shortAndLong, help: "Print only diagnostics, no summary.")
  var quiet = false

  @OptionGroup var includes: IncludeOptions

  @Flag(help: "Treat warnings as errors.")
  var warningsAsErrors = false

  func validate() throws {
    if specs.isEmpty { throw ValidationError("name at least one spec file") }
  }

  func run() throws {
    let sources = SourceStore()
    let results = specs.map { Linter.lint($0, sources: sources, options: LintOptions(allowedFolders: includes.allowInclude)) }
    var all = results.flatMap(\.diagnostics)
    if warningsAsErrors {
      all = all.map { d in
        var d = d; if d.severity == .warning { d.severity = .error }; return d
      }
    }
    switch format {
    case .json:
      let reports = results.map {
        DiagnosticJSON.FileReport(file: $0.file, summary: $0.checked.map(LintSummary.fields))
      }
      Out.print(DiagnosticJSON.encode(all, files: reports) + "\n")
    case .text:
      let renderer = DiagnosticRenderer(colour: color.enabled(for: STDOUT_FILENO))
      var text = ""
      for d in all { text += renderer.render(d, sources: sources) }
      if !quiet {
        for r in results { if let c = r.checked, !(warningsAsErrors && r.diagnostics.contains { $0.severity == .warning }) { text += LintSummary.text(c) } }
      }
      let errors = all.filter { $0.severity == .error }.count
      let warnings = all.filter { $0.severity == .warning }.count
      if let line = renderer.summary(errors: errors, warnings: warnings) { text += line + "\n" }
      Out.print(text)
    }
    if results.contains(where: \.unreadable) { throw ExitCode(2) }
    if all.hasErrors { throw ExitCode(1) }
  }
}

/// `ganc schema`: prints the XSD of the spec language.
struct Schema: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print the XSD of the spec language (for editors and validators).")

  enum Format: String, ExpressibleByArgument, CaseIterable { case xsd, markdown }

  @Option(help: "xsd (for validators and editors) or markdown (the language reference).")
  var format: Format = .xsd

  func run() throws {
    Out.print(format == .xsd ? XSDWriter.xsd() : ReferenceWriter.markdown())
  }
}
