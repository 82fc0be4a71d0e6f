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
  var operands: [UnsafeMutablePointer<Float>]
  var patterns: [LoadPattern]
  var output: UnsafeMutablePointer<Float>
  /// Registers also written out, element for element (a kernel's stores).
  var stores: [(register: Int, into: UnsafeMutablePointer<Float>)]
  var shape: [Int]
  var count: Int
  /// A sum closing the kernel: each element adds into output index
  /// (i / after) % kept, or into its channel of an nChw16c domain (blockedHW > 0).
  var reduction: (kept: Int, after: Int, blockedHW: Int)?
  /// The same program for the C loops, and the registers set from memory.
  var compiled: [ganc_ew_instruction]
  var setRegisters: [Int]
  /// The scratch slot (tile floats) of each register that needs one, and how many.
  var slots: [Int]
  var slotCount: Int

  init(
    code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]], output: UnsafeMutablePointer<Float>, shape: [Int],
    stores: [(register: Int, into: UnsafeMutablePointer<Float>)] = [], layout: Layout = .plain, sum: KernelReduction? = nil
  ) {
    if let sum {
      let kept = (0..<shape.count).filter { !sum.axes.contains($0) }
      let after = kept.last.map { shape[($0 + 1)...].reduce(1, *) } ?? 1
      reduction = (kept.reduce(1) { $0 * shape[$1] }, after, layout == .nChw16c ? shape[2] * shape[3] : 0)
    }
    self.code = code
    self.operands = operands
    self.output = output
    self.stores = stores
    self.shape = shape
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
    self.patterns = patterns
    let gathered = code.map { instruction -> Bool in
      guard case .load(let j) = instruction else { return false }
      switch patterns[j] {
      case .contiguous, .scalar: return false
      case .broadcast, .blockedChannels: return true
      }
    }
    (slots, slotCount) = Self.assignSlots(code, gathered: gathered, keep: Set(stores.map(\.register)))
    var compiled = Self.compile(code)
    for r in compiled.indices { compiled[r].slot = Int32(max(slots[r], 0)) }
    self.compiled = compiled
    setRegisters = code.indices.filter { compiled[$0].kind == Int32(GANC_EW_SET) }
  }

  /// Registers a thread needs (tile floats each), one more for a summed tile.
  var registerCount: Int { slotCount + 1 }

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

  /// Runs elements `range` using `scratch` (at least registerCount * tile floats):
  /// registers that read memory are set here, then the C loops compute the
  /// rest of each tile (see ckernels.h).
  func run(_ range: Range<Int>, scratch: UnsafeMutablePointer<Float>, sums: UnsafeMutablePointer<Double>? = nil) {
    let tile = Self.tile
    let count = code.count
    withUnsafeTemporaryAllocation(of: UnsafePointer<Float>?.self, capacity: count) { regs in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { scalars in
        var start = range.lowerBound
        while start < range.upperBound {
          let n = min(tile, range.upperBound - start)
          for r in setRegisters {
            switch code[r] {
            case .head:
              regs[r] = UnsafePointer(output + start)
            case .constant(let c):
              regs[r] = nil
              scalars[r] = Float(c)
            case .load(let j):
              switch patterns[j] {
              case .contiguous:
                regs[r] = UnsafePointer(operands[j] + start)
              case .scalar:
                regs[r] = nil
                scalars[r] = operands[j][0]
              case .broadcast(let shape, let strides):
                Self.gather(operands[j], shape: shape, strides: strides, start: start, n: n, into: scratch + slots[r] * tile)
                regs[r] = UnsafePointer(scratch + slots[r] * tile)
              case .blockedChannels(let hw, let blocks):
                Self.gatherBlockedChannels(operands[j], hw: hw, blocks: blocks, start: start, n: n, into: scratch + slots[r] * tile)
                regs[r] = UnsafePointer(scratch + slots[r] * tile)
              }
            case .unary, .binary:
              break
            }
          }
          // A summed tile goes to the spare register, then into the sums.
          let result = reduction == nil ? output + start : scratch + slotCount * tile
          compiled.withUnsafeBufferPointer { c in
            ganc_ew_tile(c.baseAddress, Int32(count), regs.baseAddress, scalars.baseAddress, scratch, Int64(tile), result, Int64(n))
          }
          if let (kept, after, blockedHW) = reduction, let sums {
            ganc_accumulate(result, Int64(n), Int64(start), Int64(kept), Int64(after), Int64(blockedHW), sums)
          }
          // Every register of the tile is computed: the stores may now overwrite operands.
          for (r, into) in stores {
            if let values = regs[r] {
              (into + start).update(from: values, count: n)
            } else {
              (into + start).update(repeating: scalars[r], count: n)
            }
          }
          start += n
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

  /// Reads a per-channel operand for elements start..<start+n of an nChw16c
  /// tensor: runs of 16 channels, repeated for every pixel of a block.
  static func gatherBlockedChannels(_ src: UnsafeMutablePointer<Float>, hw: Int, blocks: Int, start: Int, n: Int, into dst: UnsafeMutablePointer<Float>) {
    let span = 16 * hw
    var i = start
    while i < start + n {
      let end = Swift.min(start + n, (i / span + 1) * span)
      let channels = src + ((i / span) % blocks) * 16
      var k = i
      while k < end && k & 15 != 0 {
        dst[k - start] = channels[k & 15]
        k += 1
      }
      // Whole groups of 16 lanes: one vector of the block's 16 channels.
      let lanes = UnsafeRawPointer(channels).loadUnaligned(as: SIMD16<Float>.self)
      while k + 16 <= end {
        UnsafeMutableRawPointer(dst + (k - start)).storeBytes(of: lanes, as: SIMD16<Float>.self)
        k += 16
      }
      while k < end {
        dst[k - start] = channels[k & 15]
        k += 1
      }
      i = end
    }
  }

  /// Reads a broadcast operand `src` for output elements start..<start+n.
  static func gather(_ src: UnsafeMutablePointer<Float>, shape: [Int], strides: [Int], start: Int, n: Int, into dst: UnsafeMutablePointer<Float>) {
    let rank = shape.count
    // The common two-axis cases: a row repeated down the rows ([1 C] over
    // [N C]), or one value per row repeated along it ([N 1] over [N C]).
    if rank == 2 && strides == [0, 1] {
      let columns = shape[1]
      var k = 0, column = start % columns
      while k < n {
        let run = min(columns - column, n - k)
        (dst + k).update(from: src + column, count: run)
        k += run
        column = 0
      }
      return
    }
    if rank == 2 && strides == [1, 0] {
      let columns = shape[1]
      var k = 0
      while k < n {
        let row = (start + k) / columns
        let run = min(columns - (start + k) % columns, n - k)
        (dst + k).update(repeating: src[row], count: run)
        k += run
      }
      return
    }
    withUnsafeTemporaryAllocation(of: Int.self, capacity: rank) { index in
      var rest = start
      for d in stride(from: rank - 1, through: 0, by: -1) {
        index[d] = rest % shape[d]
        rest /= shape[d]
      }
      var offset = 0
      for d in 0..<rank { offset += index[d] * strides[d] }
      let innerStride = strides[rank - 1], innerSize = shape[rank - 1]
      var k = 0
      while k < n {
        // Run along the innermost axis, then carry.
        let run = min(innerSize - index[rank - 1], n - k)
        if innerStride == 0 {
          dst.advanced(by: k).update(repeating: src[offset], count: run)
        } else if innerStride == 1 {
          dst.advanced(by: k).update(from: src + offset, count: run)
        } else {
          for t in 0..<run { dst[k + t] = src[offset + t * innerStride] }
        }
        k += run
        offset += run * innerStride
        index[rank - 1] += run
        var d = rank - 1
        while d > 0 && index[d] == shape[d] {
          offset -= index[d] * strides[d]
          index[d] = 0
          d -= 1
          index[d] += 1
          offset += strides[d]
        }
      }
    }
  }

}
