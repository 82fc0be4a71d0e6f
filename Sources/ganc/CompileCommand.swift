import ArgumentParser
import Foundation
import GANCompiler
import GANDiagnostics
import GANIR
import GANSpec

/// Lints a spec and prints its diagnostics to standard error; exits 1 or 2 on errors.
func checkedSpec(_ path: String, colour: ColourChoice, options: LintOptions) throws -> CheckedSpec {
  let sources = SourceStore()
  let result = Linter.lint(path, sources: sources, options: options)
  let renderer = DiagnosticRenderer(colour: colour.enabled(for: STDERR_FILENO))
  for d in result.diagnostics { Out.error(renderer.render(d, sources: sources)) }
  if result.unreadable { throw ExitCode(2) }
  guard let checked = result.checked else {
    let errors = result.diagnostics.filter { $0.severity == .error }.count
    Out.error(renderer.summary(errors: errors, warnings: result.diagnostics.count - errors).map { $0 + "\n" } ?? "")
    throw ExitCode(1)
  }
  return checked
}

/// `ganc compile`: lowers a spec to the IR, builds the training steps, runs
/// the passes and plans memory, then shows what it did.
struct Compile: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Compile a spec: graph IR, D-step and G-step with autodiff and optimizers, fusion, a static memory plan.",
    discussion: "Prints a summary by default; --emit shows the IR, a Graphviz graph, the memory plan or JSON.")

  enum Emit: String, ExpressibleByArgument, CaseIterable { case summary, ir, dot, plan, json }

  @Argument(help: "The spec to compile.", completion: .file(extensions: ["xml"]))
  var spec: String

  @Option(help: "What to print: summary, ir, dot, plan or json.")
  var emit: Emit = .summary

  @Option(help: "Print the IR of every program after this pass: \(Compiler.passNames.joined(separator: ", ")).")
  var dumpIrAfter: String?

  @OptionGroup var passes: PassSwitches

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  func validate() throws {
    if let pass = dumpIrAfter, !Compiler.passNames.contains(pass) {
      throw ValidationError("unknown pass '\(pass)'; the passes are \(Compiler.passNames.joined(separator: ", "))")
    }
  }

  func run() throws {
    let checked = try checkedSpec(spec, colour: color, options: LintOptions(allowedFolders: includes.allowInclude))
    var options = passes.options
    options.dumpAfter = dumpIrAfter
    let model: CompiledModel
    do {
      model = try Compiler.compile(checked, options: options)
    } catch {
      Out.error("ganc: error: compiling \(spec) failed: \(error)\n")
      throw ExitCode(1)
    }
    if dumpIrAfter != nil {
      for (program, text) in model.dumps { Out.print("// \(program) after \(dumpIrAfter!)\n\(text)\n") }
      return
    }
    switch emit {
    case .summary: Out.print(CompileReport.summary(model))
    case .ir: for p in model.programs { Out.print("// program \(p.name)\n\(p.graph.text)\n") }
    case .dot: Out.print(CompileReport.dot(model))
    case .plan: Out.print(CompileReport.plan(model))
    case .json: Out.print(CompileReport.json(model) + "\n")
    }
  }
}
