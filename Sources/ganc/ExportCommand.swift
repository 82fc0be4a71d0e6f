import ArgumentParser
import Foundation
import GANTrainer

/// `ganc export`: the trained generator for other tools.
struct Export: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write a run's generator (or a classifier run's net) as an ONNX model (opset 17, symbolic batch) or as safetensors (its weights alone).",
    discussion: """
      ONNX: inputs z [batch, latent] float32 (and label [batch] int64 for a
      conditional generator), output samples [batch, data shape] in the data's
      units; EMA weights when the run kept them, batch norm from its running
      statistics, spectral norm applied with the stored u and v. Run it with
      onnxruntime: session.run(None, {"z": z}).
      safetensors: the generator's tensors under their own names (EMA weights
      in place of the live ones), as PyTorch's safetensors.torch.load_file reads them.
      A classifier run (a <classifier> spec, such as a judge) exports its net:
      input x [batch, data shape], outputs logits [batch, classes] and
      features (the layer a judge measures generators on).
      """)

  enum Format: String, ExpressibleByArgument, CaseIterable { case onnx, safetensors }

  @OptionGroup var chosen: RunChoice

  @Option(help: "onnx or safetensors.")
  var format: Format = .onnx

  @Option(help: "The output file (default: RUN/generator.onnx or RUN/generator.safetensors; RUN/classifier.* for a classifier run).")
  var out: String?

  func run() throws {
    let trainer = try chosen.open()
    let runFolder = chosen.runFolder
    let path = out ?? "\(runFolder)/\(trainer.isClassifier ? "classifier" : "generator").\(format.rawValue)"
    do {
      switch format {
      case .onnx:
        let (bytes, signature) = try GeneratorExport.onnx(trainer)
        try writeAtomically(Data(bytes), to: path, what: "the model")
        Out.print(
          "wrote the \(trainer.isClassifier ? "classifier" : "generator") of step \(trainer.step) (\(signature.parameters) parameters\(trainer.training.ema != nil ? ", EMA weights" : "")) to \(path)\n"
            + "  inputs: \(signature.inputs.joined(separator: ", "))\n  outputs: \(signature.output)\n")
      case .safetensors:
        let tensors = try GeneratorExport.netTensors(trainer)
        let metadata = ["ganc.spec": trainer.checked.spec.name, "ganc.step": String(trainer.step), "ganc.ema": String(trainer.training.ema != nil)]
        try writeAtomically(Checkpoint(tensors: tensors, metadata: metadata).encoded(), to: path, what: "the weights")
        Out.print(
          "wrote the \(trainer.isClassifier ? "classifier" : "generator")'s \(tensors.count) tensors (\(tensors.reduce(0) { $0 + $1.values.count }) numbers) of step \(trainer.step) to \(path)\n")
      }
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(2)
    }
  }
}

/// `ganc report`: RUN/report.html again (a run from an earlier ganc, or after new files).
struct Report: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Write RUN/report.html again: one self-contained page with the run's commands, curves, samples over time, evaluation, spec and compile summary.",
    discussion: "ganc train writes the page at the end of a run and ganc eval rewrites it; this writes it for a run made by an earlier ganc, or at a kept step.")

  @OptionGroup var chosen: RunChoice

  func run() throws {
    let trainer = try chosen.open()
    let runFolder = chosen.runFolder
    do {
      try RunReport.write(trainer)
    } catch {
      Out.error("ganc: error: \(error)\n")
      throw ExitCode(2)
    }
    Out.print("wrote \(runFolder)/report.html (step \(trainer.step))\n")
  }
}

/// A run folder and which of its checkpoints to open (export, report).
struct RunChoice: ParsableArguments {
  @Argument(help: "The run folder.")
  var runFolder: String

  @OptionGroup var which: CheckpointChoice

  @Option(help: "Colour for diagnostics: auto, always or never.")
  var color: ColourChoice = .auto

  @OptionGroup var includes: IncludeOptions

  /// The run at the chosen checkpoint, on one thread (nothing here is heavy).
  func open() throws -> Trainer {
    try openRun(runFolder, checkpoint: which.checkpoint, step: which.step, colour: color, threads: 1, includes: includes)
  }
}
