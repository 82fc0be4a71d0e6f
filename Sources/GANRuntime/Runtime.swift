import CDNNL
import CKernels
import Foundation
import GANCompiler
import GANIR

/// Compiled programs bound to one arena and run on a thread pool: no
/// allocation, lookup or dispatch per element while training runs.
public final class Runtime: @unchecked Sendable {
  public let plan: MemoryPlan
  public let programList: [Program]
  public let persistentInfo: [ParameterInfo]
  public let pool: ThreadPool
  /// The planned arena plus the scratch region (oneDNN scratchpads and reorders, kernel registers).
  public let arenaBytes: Int
  public let scratchBytes: Int
  let base: UnsafeMutableRawPointer
  let scratch: UnsafeMutableRawPointer
  let registerBytesPerThread: Int
  var programs: [ProgramKind: BoundProgram] = [:]
  /// Time spent per kernel kind and shape while `profiling` is on (kind -> seconds, calls).
  public var profile: [String: (seconds: Double, calls: Int)] = [:]
  public var profiling = false
  /// Sums `count` floats across the ranks of a data-parallel job, in place
  /// (the `all_reduce` op of synchronised batch norm); nil in one process.
  public var allReduce: ((UnsafeMutablePointer<Float>, Int) -> Void)? = nil
  /// oneDNN's choice per product, for reports.
  public private(set) var implementations: [String] = []

  /// Binds a compiled model's programs to a new arena.
  public convenience init(model: CompiledModel, threads: Int) throws {
    try self.init(programs: model.programs, persistent: model.persistent, plan: model.plan, threads: threads)
  }

  /// Binds `programs` (planned by `plan`) to a new arena.
  public init(programs: [Program], persistent: [ParameterInfo], plan: MemoryPlan, threads: Int) throws {
    self.plan = plan
    programList = programs
    persistentInfo = persistent
    pool = ThreadPool(threads: threads)
    ganc_dnnl_set_threads(Int32(threads))
    // Sizes first: oneDNN ops and kernel registers need scratch space.
    var products: [(ProgramKind, Int, DNNLPrimitive)] = []
    var maxScratch = 0, maxRegisters = 4  // a lone binary op: two loads, its result, a spare
    for p in programs {
      for (i, node) in p.graph.nodes.enumerated() {
        if let op = try Self.makeProduct(node, in: p.graph) {
          products.append((p.kind, i, op))
          maxScratch = max(maxScratch, op.scratchBytes)
        }
        // A kernel's registers share at most one slot per instruction, plus a spare for a summed tile.
        if case .fused(let k) = node.op { maxRegisters = max(maxRegisters, k.code.count + 1) }
      }
    }
    registerBytesPerThread = maxRegisters * ElementwiseKernel.tile * 4
    let scratchStart = (plan.arenaBytes + 63) / 64 * 64
    scratchBytes = (maxScratch + 63) / 64 * 64 + registerBytesPerThread * pool.threads
    arenaBytes = scratchStart + scratchBytes
    guard let memory = aligned_alloc(64, (arenaBytes + 63) / 64 * 64) else {
      throw RuntimeError("cannot allocate the \(arenaBytes >> 20) MiB arena")
    }
    memset(memory, 0, arenaBytes)
    base = memory
    scratch = memory + scratchStart
    var productOf: [ProgramKind: [Int: DNNLPrimitive]] = [:]
    for (program, i, op) in products {
      productOf[program, default: [:]][i] = op
      implementations.append(op.implementation)
    }
    for p in programs { self.programs[p.kind] = try bind(p, products: productOf[p.kind] ?? [:]) }
  }

  deinit {
    free(base)
  }

  /// A pointer to value `v` of `program`.
  func pointer(_ v: ValueID, _ program: ProgramKind) -> UnsafeMutablePointer<Float> {
    (base + plan.offset(of: v, in: program)).assumingMemoryBound(to: Float.self)
  }

  /// The persistent tensor `name` (a parameter, optimizer state or statistic).
  public func persistent(_ name: String) -> UnsafeMutableBufferPointer<Float>? {
    guard let offset = plan.persistentOffsets[name], let info = persistentInfo.first(where: { $0.name == name }) else { return nil }
    return UnsafeMutableBufferPointer(start: (base + offset).assumingMemoryBound(to: Float.self), count: info.shape.reduce(1, *))
  }

  /// The persistent region (parameters, optimizer state, statistics) as bytes,
  /// for snapshots that a divergence guard can roll back to.
  public var persistentRegion: UnsafeMutableRawBufferPointer {
    UnsafeMutableRawBufferPointer(start: base, count: plan.persistentBytes)
  }

  /// `kind` bound to this arena, if the model has it.
  public func program(_ kind: ProgramKind) -> BoundProgram? { programs[kind] }

  /// The buffer to fill for input `name` of `program`.
  public func input(_ name: String, of program: ProgramKind) -> UnsafeMutableBufferPointer<Float>? {
    programs[program]?.input(name)
  }

  /// The value of output `name` after `program` ran.
  public func output(_ name: String, of program: ProgramKind) -> UnsafeMutableBufferPointer<Float>? {
    programs[program]?.outputs[name]
  }

}
