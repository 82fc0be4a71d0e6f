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

/// Which of a run's checkpoints a command opens: the latest, a kept step, or a file.
struct CheckpointChoice: ParsableArguments {
  @Option(help: "A checkpoint file (default: the run's checkpoint.safetensors).")
  var checkpoint: String?

  @Option(help: "The kept checkpoint of this step (<output keep=\"N\">), instead of the latest.")
  var step: Int?
}
