import GANIR

/// Where a value lives.
public enum Storage: Hashable, Sendable {
  /// In the program's transient region, at this byte offset from the arena's start.
  case transient(offset: Int)
  /// In the persistent region: a parameter, optimizer state or running statistic.
  case persistent(name: String)
  /// Shares the storage of another value (a reshape is a view).
  case alias(ValueID)
}

/// A buffer's life in a schedule: defined at `start`, last read at `end`.
public struct Lifetime: Hashable, Sendable {
  public var value: ValueID
  public var start: Int
  public var end: Int
  public var bytes: Int
  public var offset: Int
}

/// The memory of one program.
public struct ProgramPlan: Hashable, Sendable {
  public var storage: [Storage]
  /// Every transient buffer with its lifetime and offset (relative to the transient base).
  public var buffers: [Lifetime]
  public var transientBytes: Int
  /// What the transient buffers would take with no sharing.
  public var noReuseBytes: Int
  /// Assignments made free by computing the new value in place.
  public var inPlaceAssignments: Int
  /// The decisions, for `--emit plan`.
  public var log: [String]
}

/// One arena for every program: a persistent region (parameters, optimizer
/// state, running statistics) followed by a transient region that the
/// programs share, since they never run at the same time.
public struct MemoryPlan: Hashable, Sendable {
  public var persistentOffsets: [String: Int]
  public var persistentBytes: Int
  public var programs: [ProgramKind: ProgramPlan]
  /// Byte offset where transient buffers start.
  public var transientBase: Int { persistentBytes }
  public var arenaBytes: Int { persistentBytes + (programs.values.map(\.transientBytes).max() ?? 0) }
  public var noReuseBytes: Int { persistentBytes + programs.values.reduce(0) { $0 + $1.noReuseBytes } }

  /// The absolute byte offset of value `v` of `program`.
  public func offset(of v: ValueID, in program: ProgramKind) -> Int {
    let plan = programs[program]!
    switch plan.storage[v] {
    case .transient(let o): return transientBase + o
    case .persistent(let name): return persistentOffsets[name]!
    case .alias(let w): return offset(of: w, in: program)
    }
  }
}

/// Static memory planning: lifetimes from first and last use in the
/// schedule, then greedy best-fit offsets, largest buffers first, so that
/// values whose lifetimes don't overlap share memory.
public enum MemoryPlanner {
  public static let name = "plan"
  public static let alignment = 64

  static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

  public static func plan(persistent: [(name: String, elements: Int)], programs: [Program], reuse: Bool = true) -> MemoryPlan {
    var offsets: [String: Int] = [:]
    var cursor = 0
    for p in persistent where offsets[p.name] == nil {
      offsets[p.name] = cursor
      cursor += aligned(p.elements * 4)
    }
    var plans: [ProgramKind: ProgramPlan] = [:]
    for program in programs {
      plans[program.kind] = planProgram(program.graph, reuse: reuse)
    }
    return MemoryPlan(persistentOffsets: offsets, persistentBytes: cursor, programs: plans)
  }

  static func isElementwiseKernel(_ op: Op) -> Bool {
    switch op {
    case .unary, .binary: return true
    case .fused(let k): return k.head == nil && k.reduction == nil
    default: return false
    }
  }

  static func planProgram(_ g: Graph, reuse: Bool) -> ProgramPlan {
    let n = g.nodes.count
    var storage = [Storage](repeating: .transient(offset: 0), count: n)
    var log: [String] = []
    // Persistent values, views, and new values computed straight into their parameter.
    var lastParameterRead: [String: Int] = [:]
    for (i, node) in g.nodes.enumerated() {
      for j in node.inputs { if let name = g.parameterName(viewedBy: j) { lastParameterRead[name] = i } }
    }
    var inPlace = 0
    var claimed = Set<ValueID>()
    for (i, node) in g.nodes.enumerated() {
      switch node.op {
      case .parameter(let name):
        storage[i] = .persistent(name: name)
      case .reshape, .stopGradient:
        storage[i] = .alias(node.inputs[0])
      case .assign(let name):
        let v = node.inputs[0]
        if isElementwiseKernel(g.nodes[v].op), !claimed.contains(v), !g.outputs.contains(v),
          (lastParameterRead[name] ?? -1) <= v
        {
          storage[v] = .persistent(name: name)
          claimed.insert(v)
          inPlace += 1
          log.append("%\(v) is computed in place into '\(name)' (no later reads of the old value)")
        }
        storage[i] = .persistent(name: name)
      default:
        break
      }
    }
    func root(_ v: ValueID) -> ValueID {
      if case .alias(let w) = storage[v] { return root(w) }
      return v
    }
    // Lifetimes of transient roots.
    var start = [Int](repeating: -1, count: n), end = [Int](repeating: -1, count: n)
    for (i, node) in g.nodes.enumerated() {
      let r = root(i)
      if case .transient = storage[r] {
        if start[r] < 0 { start[r] = i }
        if case .input = node.op { start[r] = 0 }
        end[r] = max(end[r], i)
      }
      for j in node.inputs {
        let rj = root(j)
        if case .transient = storage[rj] { end[rj] = max(end[rj], i) }
      }
    }
    for o in g.outputs { let r = root(o); if case .transient = storage[r] { end[r] = n } }
    var buffers: [Lifetime] = []
    for i in 0..<n where start[i] >= 0 && root(i) == i {
      if case .transient = storage[i] {
        buffers.append(Lifetime(value: i, start: start[i], end: end[i], bytes: aligned(max(g.nodes[i].elementCount, 1) * 4), offset: 0))
      }
    }
    let noReuse = buffers.reduce(0) { $0 + $1.bytes }
    var top = 0
    if reuse {
      // Largest first; each goes to the lowest gap among overlapping buffers.
      let order = buffers.indices.sorted { (buffers[$0].bytes, -buffers[$0].start) > (buffers[$1].bytes, -buffers[$1].start) }
      var placed: [Int] = []
      for b in order {
        let me = buffers[b]
        let busy = placed.map { buffers[$0] }.filter { $0.start <= me.end && me.start <= $0.end }
          .map { ($0.offset, $0.offset + $0.bytes) }.sorted { $0.0 < $1.0 }
        var offset = 0
        for (lo, hi) in busy {
          if offset + me.bytes <= lo { break }
          offset = max(offset, hi)
        }
        buffers[b].offset = offset
        placed.append(b)
        top = max(top, offset + me.bytes)
      }
    } else {
      for b in buffers.indices {
        buffers[b].offset = top
        top += buffers[b].bytes
      }
    }
    for b in buffers { storage[b.value] = .transient(offset: b.offset) }
    log.append("memory reduced from \(noReuse) to \(top) bytes over \(buffers.count) transient buffers")
    return ProgramPlan(storage: storage, buffers: buffers, transientBytes: top, noReuseBytes: noReuse, inPlaceAssignments: inPlace, log: log)
  }
}
