import ArgumentParser

/// Where layer files named by `src=` may come from besides the spec's own folder tree.
struct IncludeOptions: ParsableArguments {
  @Option(
    name: .customLong("allow-include"),
    help: ArgumentHelp(
      "Also read layer files (src=) from this folder and below (repeatable); by default only the spec's own folder tree.",
      valueName: "dir"))
  var allowInclude: [String] = []
}
