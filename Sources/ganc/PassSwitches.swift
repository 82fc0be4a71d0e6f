import ArgumentParser
import GANCompiler

/// The switches that turn compiler stages off, shared by `compile` and
/// `bench` so each shows what a stage buys.
struct PassSwitches: ParsableArguments {
  @Flag(help: "Skip fusion (to see what it buys).")
  var noFuse = false

  @Flag(help: "Give every value its own memory (to see what planning buys).")
  var noPlan = false

  @Flag(help: "Keep every value in plain NCHW (to see what the layout pass buys).")
  var noLayout = false

  /// Compile options with these stages switched off.
  var options: CompileOptions {
    var options = CompileOptions()
    options.fuse = !noFuse
    options.plan = !noPlan
    options.layouts = !noLayout
    return options
  }
}
