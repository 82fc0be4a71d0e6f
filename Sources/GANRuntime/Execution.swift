import CDNNL
import CKernels
import Foundation
import GANCompiler
import GANIR

/// Running bound programs: every step on the thread pool, optionally profiled.
extension Runtime {

  static func describe(_ step: Step, _ node: Node?) -> String {
    let shape = node.map { "[" + $0.shape.map(String.init).joined(separator: ",") + "]" } ?? ""
    switch step {
    case .product(_, _, _, _, _, let epilogue):
      return "product "
        + (node.map { n -> String in
          if case .fused(let k) = n.op { return (k.head?.mnemonic ?? "") + "+epilogue(\(k.code.count))" + (epilogue == nil ? " in oneDNN" : "") }
          return n.op.mnemonic
        } ?? "") + " " + shape
    case .elementwise(let k): return "elementwise(\(k.code.count)) " + shape
    case .optimizer(let k): return k.name + " update " + shape
    case .reduce(let r): return "reduce axes=\(r.axes) of [" + r.shape.map(String.init).joined(separator: ",") + "]"
    case .broadcast: return "broadcast " + shape
    case .fill: return "fill"
    case .random: return "random"
    case .block: return "copy block"
    case .gather: return "gather"
    case .scatterAdd: return "scatter_add"
    case .copy: return "copy " + shape
    case .allReduce: return "all_reduce " + shape
    case .narrowMatmul(_, _, _, _, let epilogue): return "narrow matmul" + (epilogue == nil ? " " : "+epilogue ") + shape
    case .convert(_, _, _, _, _, let toBlocked): return (toBlocked ? "convert to nChw16c " : "convert to NCHW ") + shape
    case .channelReduce: return "channel reduce of nChw16c " + (node.map { "[" + $0.shape.map(String.init).joined(separator: ",") + "]" } ?? "")
    }
  }

  /// Runs `program` once, its random ops (dropout, the gradient penalty's
  /// interpolation) reading `RunRandom(seed: seed)`, as a `ReferenceEvaluator`
  /// made with the same seed does.
  public func run(_ program: ProgramKind, seed: UInt64) throws {
    guard let p = programs[program] else { throw RuntimeError("no program '\(program.name)'") }
    try run(p, random: RunRandom(seed: seed))
  }

  /// Runs a bound program once; `random` says which random numbers its ops read.
  public func run(_ p: BoundProgram, random: RunRandom) throws {
    let program = p.kind.name
    if profiling {
      let clock = ContinuousClock()
      for (k, step) in p.steps.enumerated() {
        let t = try clock.measure { try execute(step, program: program, random: random) }
        let key = "\(program) " + Self.describe(step, p.nodes[k])
        let seconds = Double(t.components.attoseconds) * 1e-18 + Double(t.components.seconds)
        profile[key, default: (0, 0)].seconds += seconds
        profile[key, default: (0, 0)].calls += 1
      }
      return
    }
    for step in p.steps { try execute(step, program: program, random: random) }
  }

  @inline(__always)
  func execute(_ step: Step, program: String, random: RunRandom) throws {
    let registers = (scratch + (scratchBytes - registerBytesPerThread * pool.threads)).assumingMemoryBound(to: Float.self)
    let perThread = registerBytesPerThread / 4
    let pool = self.pool
    func elementwise(_ k: ElementwiseKernel) {
      guard let kept = k.summing.map({ Int($0.kept) }) else {
        pool.parallelParts(count: k.count, granularity: ElementwiseKernel.tile) { part, range in
          k.run(range, scratch: registers + part * perThread)
        }
        return
      }
      // Each part sums into its own row; rows are added in part order, so the
      // result depends only on the thread count.
      let parts = pool.parts(count: k.count, minimumPerThread: 16384)
      withUnsafeTemporaryAllocation(of: Double.self, capacity: parts * kept) { partial in
        partial.initialize(repeating: 0)
        pool.parallelParts(count: k.count, minimumPerThread: 16384, granularity: ElementwiseKernel.tile) { part, range in
          k.run(range, scratch: registers + part * perThread, sums: partial.baseAddress! + part * kept)
        }
        for c in 0..<kept {
          var total = 0.0
          for p in 0..<parts { total += partial[p * kept + c] }
          k.output[c] = Float(total)
        }
      }
    }
    do {
      switch step {
      case .product(let op, let a, let b, let bias, let out, let epilogue):
        try op.execute(a, b, bias: bias, out: out, scratch: scratch, program: program)
        if let epilogue { elementwise(epilogue) }
      case .elementwise(let k):
        elementwise(k)
      case .optimizer(let k):
        pool.parallel(count: k.count, granularity: 16) { range in k.run(range) }
      case .narrowMatmul(let a, let b, let out, let p, let epilogue):
        let (m, n, k) = (Int64(p.m), Int64(p.n), Int64(p.k))
        pool.parallel(count: p.m, minimumPerThread: max(1, 65536 / max(p.n * p.k, 1)), granularity: p.transA ? 16 : 1) { rows in
          if p.transA {
            ganc_narrow_matmul_ta_rows(Int64(rows.lowerBound), Int64(rows.upperBound), m, n, k, a, b, out)
          } else {
            ganc_narrow_matmul_rows(Int64(rows.lowerBound), Int64(rows.upperBound), n, k, p.transB ? 1 : 0, a, b, out)
          }
        }
        if let epilogue { elementwise(epilogue) }
      case .reduce(let r):
        r.run(pool)
      case .broadcast(let input, let from, let to, let out):
        CopyKernels.broadcast(input, from: from, to: to, out, pool: pool)
      case .fill(let out, let count, let value):
        out.update(repeating: value, count: count)
      case .random(let out, let count, let stream):
        let id = random.stream(stream), seed = random.seed, first = random.rank * count
        pool.parallel(count: count) { range in
          for i in range { out[i] = Float(CounterRandom.uniform(seed: seed, stream: id, index: first + i)) }
        }
      case .block(let input, let out, let small, let large, let axis, let offset, let intoLarge, let zeroFirst):
        if zeroFirst > 0 { out.update(repeating: 0, count: zeroFirst) }
        CopyKernels.block(input, out, small: small, large: large, axis: axis, offset: offset, intoLarge: intoLarge)
      case .gather(let table, let ids, let out, let rows, let dim, let count):
        for n in 0..<count {
          let r = Int(ids[n])
          guard r >= 0 && r < rows else { throw RuntimeError("class id \(r) is outside 0..<\(rows)") }
          (out + n * dim).update(from: table + r * dim, count: dim)
        }
      case .scatterAdd(let g, let ids, let out, let rows, let dim, let count):
        out.update(repeating: 0, count: rows * dim)
        for n in 0..<count {
          let r = Int(ids[n])
          guard r >= 0 && r < rows else { throw RuntimeError("class id \(r) is outside 0..<\(rows)") }
          let dst = out + r * dim, src = g + n * dim
          for j in 0..<dim { dst[j] += src[j] }
        }
      case .copy(let input, let out, let count):
        out.update(from: input, count: count)
      case .allReduce(let input, let out, let count):
        if out != input { out.update(from: input, count: count) }
        allReduce?(out, count)
      case .convert(let input, let out, let n, let c, let hw, let toBlocked):
        pool.parallel(count: n * c / 16, minimumPerThread: max(1, 8192 / (16 * hw)), granularity: 1) { blocks in
          ganc_nchw_blocks(input, out, Int64(c), Int64(hw), Int64(blocks.lowerBound), Int64(blocks.count), toBlocked ? 1 : 0)
        }
      case .channelReduce(let input, let out, let n, let c, let hw, let isMax):
        pool.parallel(count: c / 16, minimumPerThread: 1, granularity: 1) { blocks in
          ganc_blocked_channel_reduce(input, out, Int64(n), Int64(c), Int64(hw), Int64(blocks.lowerBound), Int64(blocks.count), isMax ? 1 : 0)
        }
      }
    }
  }
}
