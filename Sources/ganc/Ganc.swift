import ArgumentParser
import Foundation

/// The `ganc` command: a compiler and trainer for GANs described in XML.
struct Ganc: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ganc",
    abstract: "A compiler and trainer for generative adversarial networks described in XML.",
    discussion: """
      Describe the data, the noise, the generator, the discriminator and the
      training game in one XML file (see `ganc schema` and the README), then:
        ganc lint specs/ring.xml      check it and print a summary
      Exit codes: 0 success (warnings allowed), 1 errors in a spec, 2 usage or I/O errors.
      """,
    version: GancVersion.string,
    subcommands: [Lint.self, Compile.self, Train.self, Sample.self, Eval.self, Bench.self, Schema.self])
}

enum GancVersion {
  static let string = "0.1.0"
}

@main
enum Main {
  static func main() {
    do {
      var command = try Ganc.parseAsRoot()
      try command.run()
    } catch {
      // Usage errors exit with 2 (ArgumentParser's default is 64).
      let code = Ganc.exitCode(for: error)
      if code == .validationFailure {
        FileHandle.standardError.write(Data((Ganc.fullMessage(for: error) + "\n").utf8))
        exit(2)
      }
      Ganc.exit(withError: error)
    }
  }
}
