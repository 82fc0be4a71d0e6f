import Foundation
import GANIR
import GANSpec

/// Switches that make each stage of compilation visible.
public struct CompileOptions: Sendable {
  public var fuse = true
  public var plan = true
  /// Keep convolution activations in oneDNN's blocked layout between convolutions.
  public var layouts = true
  /// Keep the text of every program after this pass (`--dump-ir-after`).
  public var dumpAfter: String? = nil
  /// Samples the sampling program makes per run.
  public var sampleBatch = Compiler.sampleBatch
  /// Samples a judging net's inference program reads per run.
  public var inferenceBatch = 200
  /// Data-parallel ranks (`mpirun -np N ganc train`): the spec's batch is then
  /// each rank's share, and the steps end at the gradients (see `ProgramKind.update`).
  public var ranks = 1
  public init() {}
}

/// Everything compilation produced.
public struct CompiledModel: Sendable {
  public var spec: CheckedSpec
  /// Persistent tensors: net parameters, optimizer state, running statistics, EMA weights.
  public var persistent: [ParameterInfo]
  /// D-step, G-step, then the samplers.
  public var programs: [Program]
  public var plan: MemoryPlan
  /// Program texts captured after the pass named in the options.
  public var dumps: [(program: String, text: String)]
  public var seconds: Double

  public func program(_ kind: ProgramKind) -> Program? { programs.first { $0.kind == kind } }
}

/// The pipeline from a checked spec to planned programs.
public enum Compiler {
  /// The passes, in order, by name.
  public static let passNames = ["lower", Simplify.name, CommonSubexpressions.name, DeadCodeElimination.name, Fusion.name, LayoutAssignment.name, MemoryPlanner.name]

  /// The batch of the sampling program.
  public static let sampleBatch = 64

  /// The generator's inference program at `batch` (EMA weights when `ema`),
  /// or a classifier's (logits and features), lowered and simplified but not
  /// fused, laid out or planned: the portable form `ganc export` translates.
  public static func exportedProgram(_ spec: CheckedSpec, batch: Int, ema: Bool) throws -> Program {
    var builder = TrainingGraphBuilder(spec: spec)
    var program = spec.spec.kind == .classifier ? try builder.inference(batch: batch) : try builder.sampler(batch: batch, ema: ema)
    for pass in [Simplify.run, CommonSubexpressions.run, DeadCodeElimination.run] {
      program.graph = pass(program.graph)
      try program.graph.verify()
    }
    return program
  }

  public static func compile(_ spec: CheckedSpec, options: CompileOptions = CompileOptions()) throws -> CompiledModel {
    let clock = ContinuousClock.now
    var builder = TrainingGraphBuilder(spec: spec, ranks: options.ranks)
    var programs: [Program]
    if spec.spec.kind == .classifier {
      programs = [try builder.classifierStep(), try builder.inference(batch: options.inferenceBatch)]
      if options.ranks > 1 { programs.append(try builder.updateStep(.classifier)) }
    } else {
      // Lazy regularisation: a second D-step with the penalties, lowered from
      // the same starting point so its dropout layers draw the same streams.
      let lazy = spec.spec.training.penalizesGradients && spec.spec.training.regularizeEvery > 1
      var regularized = builder
      programs = [try builder.discriminatorStep(regularized: !lazy), try builder.generatorStep(), try builder.sampler(batch: options.sampleBatch)]
      if lazy { programs.append(try regularized.discriminatorStep(regularized: true)) }
      if spec.spec.training.ema != nil { programs.append(try builder.sampler(batch: options.sampleBatch, ema: true)) }
      if options.ranks > 1 { programs += [try builder.updateStep(.discriminator), try builder.updateStep(.generator)] }
      // A semi-supervised D is also a classifier, scored on held-out data.
      if spec.spec.training.loss == .semiSupervised { programs.append(try builder.inference(batch: options.inferenceBatch)) }
    }
    var dumps: [(String, String)] = []
    func capture(_ pass: String) {
      guard options.dumpAfter == pass else { return }
      for p in programs { dumps.append((p.name, p.graph.text)) }
    }
    capture("lower")
    let passes: [(String, (Graph) -> Graph)] =
      [
        (Simplify.name, Simplify.run),
        (CommonSubexpressions.name, CommonSubexpressions.run),
        (DeadCodeElimination.name, DeadCodeElimination.run),
      ] + (options.fuse ? [(Fusion.name, Fusion.run), ("dce-after-fuse", DeadCodeElimination.run)] : [])
      + (options.layouts ? [(LayoutAssignment.name, LayoutAssignment.run)] : [])
    for (name, pass) in passes {
      for i in programs.indices {
        programs[i].graph = pass(programs[i].graph)
        try programs[i].graph.verify()
      }
      if name == DeadCodeElimination.name {
        for i in programs.indices { programs[i].kernelsBeforeFusion = programs[i].graph.kernelCount }
      }
      capture(name == "dce-after-fuse" ? Fusion.name : name)
    }
    let persistent = builder.persistent
    let plan = MemoryPlanner.plan(
      persistent: persistent.map { ($0.name, $0.shape.reduce(1, *)) }, programs: programs, reuse: options.plan)
    capture(MemoryPlanner.name)
    let elapsed = ContinuousClock.now - clock
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
    return CompiledModel(spec: spec, persistent: persistent, programs: programs, plan: plan, dumps: dumps, seconds: seconds)
  }
}
