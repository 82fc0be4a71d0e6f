// An example of ganc as a library: open a trained run (its spec and
// checkpoint), compile the spec, load the weights, and generate samples,
// printed as CSV in the data's original units.
//
//   swift run -c release GenerateSamples runs/ring 10
import Foundation
import GANDiagnostics
import GANSpec
import GANTrainer

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
  FileHandle.standardError.write(Data("usage: GenerateSamples RUN [COUNT]\n".utf8))
  exit(2)
}
let run = arguments[1]
let count = arguments.count > 2 ? Int(arguments[2]) ?? 10 : 10

do {
  // 1. Open the run: its spec copy, checked like `ganc lint` does and read with
  //    the batch and seed it was trained with, compiled, with the checkpoint's weights.
  let sources = SourceStore()
  let model: Trainer
  do {
    model = try Trainer.open(run: run, sources: sources)
  } catch OpenRunError.invalidSpec(let lint) {
    let renderer = DiagnosticRenderer(colour: false)
    for d in lint.diagnostics { FileHandle.standardError.write(Data(renderer.render(d, sources: sources).utf8)) }
    exit(1)
  }
  // 2. Generate (from EMA weights when the run kept them) and map back to the data's units.
  let samples = model.dataset.toOriginalUnits(try model.generate(count: count, noiseSeed: 42))
  let size = model.dataset.sampleSize
  for i in 0..<count {
    print((0..<size).map { String(samples[i * size + $0]) }.joined(separator: ","))
  }
} catch {
  FileHandle.standardError.write(Data("GenerateSamples: \(error)\n".utf8))
  exit(1)
}
