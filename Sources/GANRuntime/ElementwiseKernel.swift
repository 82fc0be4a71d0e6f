import CKernels
import Foundation
import GANIR

/// How one operand of an elementwise kernel is read.
enum LoadPattern {
  /// The same shape as the output: read in place.
  case contiguous
  /// One value for every element.
  case scalar
  /// Repeated along size-1 axes: element i reads offset sum(index_d * stride_d),
  /// over the output's axes with neighbours of the same kind merged (a
  /// per-channel operand of [N C H W] reads as [N, C, H*W] with strides [0, 1, 0]).
  case broadcast(shape: [Int], strides: [Int])
  /// A per-channel operand [1 C 1 1] of a kernel running in nChw16c: element
  /// i belongs to channel 16 * ((i / (16 * hw)) % blocks) + i % 16.
  case blockedChannels(hw: Int, blocks: Int)
}

/// An elementwise program (a fused kernel's epilogue, or a whole kernel)
/// run over tiles of the output, one instruction at a time across the tile,
/// so each instruction is a simple loop; the loops are C compiled for several
/// vector widths (CKernels), chosen when the program loads.
struct ElementwiseKernel {
  static let tile = 256

  var code: [Instruction]
  var output: UnsafeMutablePointer<Float>
  var count: Int
  /// The same program for the C loops (each register's scratch slot set),
  /// where the registers set from memory read, and the registers also
  /// written out element for element (a kernel's stores).
  var compiled: [ganc_ew_instruction]
  var sources: [ganc_ew_source]
  var cStores: [ganc_ew_store]
  /// A sum closing the kernel: each element adds into output index
  /// (i / after) % kept, or into its channel of an nChw16c domain (blocked_hw > 0).
  var summing: ganc_ew_sum?
  /// How many scratch slots (tile floats each) the registers share.
  var slotCount: Int

  init(
    code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]], output: UnsafeMutablePointer<Float>, shape: [Int],
    stores: [(register: Int, into: UnsafeMutablePointer<Float>)] = [], layout: Layout = .plain, sum: KernelReduction? = nil
  ) {
    summing = sum.map { sum in
      let kept = (0..<shape.count).filter { !sum.axes.contains($0) }
      let after = kept.last.map { shape[($0 + 1)...].reduce(1, *) } ?? 1
      return ganc_ew_sum(
        kept: Int64(kept.reduce(1) { $0 * shape[$1] }), after: Int64(after), blocked_hw: Int64(layout == .nChw16c ? shape[2] * shape[3] : 0))
    }
    self.code = code
    self.output = output
    count = shape.reduce(1, *)
    let patterns = operandShapes.map { s -> LoadPattern in
      if s == shape { return .contiguous }
      if s.reduce(1, *) == 1 { return .scalar }
      if layout == .nChw16c { return .blockedChannels(hw: shape[2] * shape[3], blocks: shape[1] / 16) }
      var strides = [Int](repeating: 0, count: shape.count)
      var step = 1
      for d in (0..<s.count).reversed() {
        strides[d] = s[d] == 1 ? 0 : step
        step *= s[d]
      }
      return Self.collapsed(shape: shape, strides: strides)
    }
    // Broadcast operands are gathered into a slot; per-channel nChw16c ones
    // keep theirs for the whole program, since the C loop reuses a gathered
    // tile while the channel block is the same.
    var gathered = [Bool](repeating: false, count: code.count)
    var keep = Set(stores.map(\.register))
    for (r, instruction) in code.enumerated() {
      guard case .load(let j) = instruction else { continue }
      switch patterns[j] {
      case .contiguous, .scalar: break
      case .broadcast: gathered[r] = true
      case .blockedChannels: gathered[r] = true; keep.insert(r)
      }
    }
    let slots: [Int]
    (slots, slotCount) = Self.assignSlots(code, gathered: gathered, keep: keep)
    var compiled = Self.compile(code)
    for r in compiled.indices { compiled[r].slot = Int32(max(slots[r], 0)) }
    self.compiled = compiled
    sources = code.indices.compactMap { r in Self.source(register: r, code[r], patterns: patterns, operands: operands) }
    cStores = stores.map { ganc_ew_store(reg: Int32($0.register), into: $0.into) }
  }

  /// Where register `r`, set by `instruction`, reads each tile (nil for computed registers).
  static func source(register r: Int, _ instruction: Instruction, patterns: [LoadPattern], operands: [UnsafeMutablePointer<Float>]) -> ganc_ew_source? {
    var s = ganc_ew_source()
    s.reg = Int32(r)
    switch instruction {
    case .unary, .binary:
      return nil
    case .head:
      s.kind = Int32(GANC_SRC_HEAD)
    case .constant(let c):
      s.kind = Int32(GANC_SRC_CONSTANT)
      s.value = Float(c)
    case .load(let j):
      s.ptr = UnsafePointer(operands[j])
      switch patterns[j] {
      case .contiguous:
        s.kind = Int32(GANC_SRC_CONTIGUOUS)
      case .scalar:
        s.kind = Int32(GANC_SRC_SCALAR)
      case .broadcast(let shape, let strides):
        precondition(shape.count <= Int(GANC_MAX_RANK), "a broadcast of rank \(shape.count)")
        s.kind = Int32(GANC_SRC_BROADCAST)
        s.rank = Int32(shape.count)
        withUnsafeMutableBytes(of: &s.shape) { b in for (d, n) in shape.enumerated() { b.storeBytes(of: Int64(n), toByteOffset: d * 8, as: Int64.self) } }
        withUnsafeMutableBytes(of: &s.strides) { b in for (d, n) in strides.enumerated() { b.storeBytes(of: Int64(n), toByteOffset: d * 8, as: Int64.self) } }
      case .blockedChannels(let hw, let blocks):
        s.kind = Int32(GANC_SRC_BLOCKED)
        s.hw = Int64(hw)
        s.blocks = Int64(blocks)
      }
    }
    return s
  }

  /// Scratch slots for the registers, so a tile's working set is a few
  /// slots rather than one per instruction (a 27-instruction Adam update
  /// touched 27 KiB a tile, most of L1).
  /// A gathered load has its slot from the start of the tile; a computed
  /// register takes a free slot and gives it back after its last reader;
  /// stored registers keep theirs to the end of the tile. An instruction never
  /// writes a slot one of its operands is in: an in-place loop fails the C
  /// compilers' overlap check and runs unvectorised. The last register goes
  /// to the output and takes none (slot -1, as do registers read in place).
  static func assignSlots(_ code: [Instruction], gathered: [Bool], keep: Set<Int>) -> (slots: [Int], count: Int) {
    var lastUse = Array(code.indices)
    for (i, instruction) in code.enumerated() {
      for r in instruction.reads { lastUse[r] = max(lastUse[r], i) }
    }
    for r in keep { lastUse[r] = code.count }
    var slots = [Int](repeating: -1, count: code.count)
    var free: [Int] = [], count = 0
    func take() -> Int {
      if let slot = free.popLast() { return slot }
      count += 1
      return count - 1
    }
    for r in code.indices where gathered[r] { slots[r] = take() }
    for (i, instruction) in code.enumerated() {
      if !instruction.reads.isEmpty && i != code.count - 1 { slots[i] = take() }
      for r in Set(instruction.reads + [i]) where lastUse[r] == i && slots[r] >= 0 {
        free.append(slots[r])
      }
    }
    return (slots, count)
  }

  /// Runs elements `range` using `scratch` (at least registerCount * tile
  /// floats), the whole tile loop in C (see ganc_ew_run).
  func run(_ range: Range<Int>, scratch: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Double>? = nil) {
    compiled.withUnsafeBufferPointer { code in
      sources.withUnsafeBufferPointer { sources in
        cStores.withUnsafeBufferPointer { stores in
          withUnsafePointer(to: summing ?? ganc_ew_sum()) { summed in
            ganc_ew_run(
              code.baseAddress, Int32(code.count), sources.baseAddress, Int32(sources.count), stores.baseAddress, Int32(stores.count),
              summing == nil ? nil : summed, sums, output, Int64(range.lowerBound), Int64(range.upperBound), scratch, Int64(Self.tile),
              Int32(slotCount))
          }
        }
      }
    }
  }

  /// The program for the C loops.
  static func compile(_ code: [Instruction]) -> [ganc_ew_instruction] {
    code.map { instruction in
      var c = ganc_ew_instruction()
      switch instruction {
      case .head, .load, .constant:
        c.kind = Int32(GANC_EW_SET)
      case .unary(let f, let a):
        c.kind = Int32(GANC_EW_UNARY)
        c.a = Int32(a)
        switch f {
        case .neg: c.fn = Int32(GANC_NEG)
        case .exp: c.fn = Int32(GANC_EXP)
        case .log: c.fn = Int32(GANC_LOG)
        case .sqrt: c.fn = Int32(GANC_SQRT)
        case .rsqrt: c.fn = Int32(GANC_RSQRT)
        case .tanh: c.fn = Int32(GANC_TANH)
        case .sigmoid: c.fn = Int32(GANC_SIGMOID)
        case .softplus: c.fn = Int32(GANC_SOFTPLUS)
        case .erf: c.fn = Int32(GANC_ERF)
        case .abs: c.fn = Int32(GANC_ABS)
        case .square: c.fn = Int32(GANC_SQUARE)
        case .recip: c.fn = Int32(GANC_RECIP)
        case .step: c.fn = Int32(GANC_STEP)
        case .elu: c.fn = Int32(GANC_ELU)
        case .leakyRelu(let slope):
          c.fn = Int32(GANC_LEAKY_RELU)
          c.param = Float(slope)
        }
      case .binary(let f, let a, let b):
        c.kind = Int32(GANC_EW_BINARY)
        c.a = Int32(a)
        c.b = Int32(b)
        switch f {
        case .add: c.fn = Int32(GANC_ADD)
        case .sub: c.fn = Int32(GANC_SUB)
        case .mul: c.fn = Int32(GANC_MUL)
        case .div: c.fn = Int32(GANC_DIV)
        case .max: c.fn = Int32(GANC_MAX)
        case .min: c.fn = Int32(GANC_MIN)
        case .equal: c.fn = Int32(GANC_EQUAL)
        }
      }
      return c
    }
  }

  /// A broadcast read with size-1 axes dropped and neighbouring axes merged
  /// where one stride continues the other (so long runs stay long).
  static func collapsed(shape: [Int], strides: [Int]) -> LoadPattern {
    var dims: [(size: Int, stride: Int)] = []
    for (size, stride) in zip(shape, strides) where size != 1 {
      if let last = dims.last, last.stride == stride * size {
        dims[dims.count - 1] = (last.size * size, stride)
      } else {
        dims.append((size, stride))
      }
    }
    if dims.isEmpty { dims = [(1, 0)] }
    return .broadcast(shape: dims.map(\.size), strides: dims.map(\.stride))
  }
}
