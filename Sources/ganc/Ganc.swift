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
    subcommands: [Lint.self, Compile.self, Train.self, Sample.self, Eval.self, Export.self, Report.self, Bench.self, Schema.self])
}

enum GancVersion {
  static let string = "0.1.0"
}

@main
enum Main {
  /// OpenMP threads spin after each parallel region for ~300,000 iterations by
  /// default; two ganc processes on the same cores then starve each other
  /// (measured: 60x slower). A spin count of 10,000 cost nothing measurable
  /// alone. libgomp reads the setting when it loads, so ganc sets it and
  /// starts itself again, unless the user chose a policy.
  static func boundOpenMPSpinning() {
    let env = ProcessInfo.processInfo.environment
    guard env["GOMP_SPINCOUNT"] == nil, env["OMP_WAIT_POLICY"] == nil, env["GANC_OPENMP_SET"] == nil else { return }
    setenv("GOMP_SPINCOUNT", "10000", 1)
    setenv("GANC_OPENMP_SET", "1", 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // If exec fails, run as we are.
  }

  static func main() {
    boundOpenMPSpinning()
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
