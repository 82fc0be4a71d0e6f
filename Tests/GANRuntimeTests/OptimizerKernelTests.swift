import Foundation
import GANCompiler
import GANIR
import GANSpec
import Testing
@testable import GANRuntime

/// The fused optimizer-update kernels (those storing moments) of a compiled spec: (program, kernel, operand shapes, shape).
private func compiledUpdateKernels(_ spec: CheckedSpec) throws -> [(String, FusedKernel, [[Int]], [Int])] {
  let model = try Compiler.compile(spec)
  let moments = [".exp_avg", ".exp_avg_sq", ".square_avg", ".momentum_buffer"]
  var found: [(String, FusedKernel, [[Int]], [Int])] = []
  for program in model.programs {
    let g = program.graph
    for node in g.nodes {
      if case .fused(let k) = node.op, k.head == nil, !k.stores.isEmpty,
        k.stores.allSatisfy({ store in moments.contains { store.name.hasSuffix($0) } })
      {
        found.append((program.name, k, node.inputs.map { g.shape($0) }, node.shape))
      }
    }
  }
  return found
}

/// Runs `code` over seeded operands twice, interpreted and (if recognised) as
/// an optimizer kernel; returns the parameter and the stored moments from
/// each, or nil for the second when the program is not recognised.
private func interpretedAndKernel(_ code: [Instruction], operandShapes: [[Int]], shape: [Int], stores: [Int]) -> ([[Float]], [[Float]]?) {
  let count = shape.reduce(1, *)
  func operands(seed: UInt64) -> [[Float]] {
    operandShapes.enumerated().map { j, s in
      // Positive, so the square root of the second moment is a number, not NaN.
      values(s.reduce(1, *), seed: seed &+ UInt64(j)).map { Float(abs($0) + 0.01) }
    }
  }
  func run(adam: Bool) -> [[Float]]? {
    func buffer(_ v: [Float]) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: v.count)
      p.initialize(from: v, count: v.count)
      return p
    }
    let pointers = operands(seed: 40).map(buffer)
    let out = (0...stores.count).map { _ in buffer([Float](repeating: 0, count: count)) }
    let scratch = buffer([Float](repeating: .nan, count: (code.count + 1) * ElementwiseKernel.tile))
    defer { for p in pointers + out + [scratch] { p.deallocate() } }
    let storeTargets = stores.enumerated().map { (register: $0.element, into: out[$0.offset + 1]) }
    if adam {
      guard let k = OptimizerKernel.recognise(code, operands: pointers, operandShapes: operandShapes, stores: storeTargets, output: out[0], shape: shape)
      else { return nil }
      k.run(0..<count)
    } else {
      ElementwiseKernel(code: code, operands: pointers, operandShapes: operandShapes, output: out[0], shape: shape, stores: storeTargets)
        .run(0..<count, scratch: scratch)
    }
    return out.map { Array(UnsafeBufferPointer(start: $0, count: count)) }
  }
  return (run(adam: false)!, run(adam: true))
}

/// How many elements of two results differ in any bit.
private func differing(_ a: [Float], _ b: [Float]) -> Int {
  zip(a, b).filter { $0.bitPattern != $1.bitPattern }.count + abs(a.count - b.count)
}

@Suite("Whole optimizer updates as one loop")
struct OptimizerKernelTests {
  /// The shipped specs (Adam), then the ring variants of StepTests (RMSprop +
  /// momentum + clipping, SGD + momentum, Adam + weight decay + EMA).
  static let specNames = ["ring", "fashion-mlp", "fashion-dcgan", "ring variant 0", "ring variant 1", "ring variant 2"]
  static func spec(_ index: Int) throws -> CheckedSpec {
    index < 3 ? try shipped(specNames[index], batch: 4) : try StepTests.variant(index - 3)
  }

  @Test("every optimizer update of these specs is recognised and gives the interpreter's bits", arguments: 0..<6)
  func updates(_ index: Int) throws {
    let spec = Self.specNames[index]
    let kernels = try compiledUpdateKernels(try Self.spec(index))
    #expect(kernels.count >= 6, "\(spec): \(kernels.count) update kernels")
    var recognised = 0
    for (program, k, shapes, shape) in kernels {
      // An odd element count: not a multiple of the vector width or the tile.
      let odd = [shape.reduce(1, *) % 1000 + 37]
      let oddShapes = shapes.map { $0 == shape ? odd : $0 }
      let (interpreted, kernel) = interpretedAndKernel(k.code, operandShapes: oddShapes, shape: odd, stores: k.stores.map(\.register))
      // The EMA of the generator's weights is a third store: that update stays interpreted.
      if k.stores.contains(where: { $0.name.hasPrefix("ema.") }) { continue }
      let got = try #require(kernel, "\(spec) \(program): the update of \(shape) was not recognised")
      recognised += 1
      for (a, b) in zip(interpreted, got) {
        #expect(a.allSatisfy { $0.isFinite }, "\(spec) \(program): the test values give non-numbers")
        #expect(differing(a, b) == 0, "\(spec) \(program) \(shape): \(differing(a, b)) of \(a.count) elements differ")
      }
    }
    #expect(recognised >= 6, "\(spec): only \(recognised) updates recognised")
  }

  @Test("a program changed anywhere is either not taken for an optimizer update or computes the same bits; swapped add/mul arguments still match")
  func mutations() throws {
    let (_, k, shapes, shape) = try #require(try compiledUpdateKernels(try shipped("ring", batch: 4)).first)
    let odd = [101]
    let oddShapes = shapes.map { $0 == shape ? odd : $0 }
    let stores = k.stores.map(\.register)
    var changed = 0
    for (i, instruction) in k.code.enumerated() {
      var variants: [(Instruction, Bool)] = []  // (mutant, still Adam?)
      switch instruction {
      case .binary(let f, let a, let b):
        variants.append((.binary(f, b, a), f == .add || f == .mul || a == b))
        for other in [BinaryFunction.add, .sub, .mul, .div, .max] where other != f { variants.append((.binary(other, a, b), false)) }
      case .unary(let f, let a):
        for other in [UnaryFunction.sqrt, .square, .abs, .neg] where other != f { variants.append((.unary(other, a), false)) }
      case .load(let j):
        for other in oddShapes.indices where other != j && oddShapes[other] == oddShapes[j] { variants.append((.load(other), false)) }
      case .constant, .head:
        break
      }
      for (mutant, stillAdam) in variants {
        var code = k.code
        code[i] = mutant
        let (interpreted, adam) = interpretedAndKernel(code, operandShapes: oddShapes, shape: odd, stores: stores)
        if stillAdam { #expect(adam != nil, "instruction \(i) as \(mutant) should still be Adam") }
        // Whatever is recognised computes the interpreter's bits (with beta1 = 0.5
        // the moment and the gradient are interchangeable in m', so a mutant may
        // still be an Adam update with the roles swapped).
        if let adam {
          #expect(zip(interpreted, adam).allSatisfy { differing($0, $1) == 0 }, "instruction \(i) as \(mutant): the bits differ")
        } else {
          changed += 1
        }
      }
    }
    #expect(changed >= 30, "only \(changed) mutants rejected")
    // A kernel with its moments stored the other way round is not Adam either.
    let (_, swapped) = interpretedAndKernel(k.code, operandShapes: oddShapes, shape: odd, stores: [stores[0]])
    #expect(swapped == nil)
  }

  @Test("scratch slots: no instruction writes a slot that holds a value still to be read, over generated programs")
  func slotsNeverClobberLiveValues() throws {
    for seed in 0..<300 {
      // A random program: a few loads (some gathered), then arithmetic over earlier registers.
      let u = values(64, seed: UInt64(seed) &+ 1000).map { ($0 + 1.5) / 3 }
      var code: [Instruction] = (0..<3).map { .load($0) }
      var gathered = [u[0] < 0.5, false, u[1] < 0.3]
      let length = 4 + Int(u[2] * 20)
      for k in 0..<length {
        let a = Int(u[(3 + 2 * k) % 64] * Double(code.count)), b = Int(u[(4 + 2 * k) % 64] * Double(code.count))
        code.append(u[(5 + k) % 64] < 0.3 ? .unary(.square, a) : .binary(.add, a, b))
        gathered.append(false)
      }
      let keep: Set<Int> = u[63] < 0.5 ? [3, code.count - 2] : []
      let (slots, count) = ElementwiseKernel.assignSlots(code, gathered: gathered, keep: keep)
      #expect(count <= code.count)
      var lastUse = Array(code.indices)
      for (i, instruction) in code.enumerated() { for r in instruction.reads { lastUse[r] = max(lastUse[r], i) } }
      for r in keep { lastUse[r] = code.count }
      for (i, instruction) in code.enumerated() where !instruction.reads.isEmpty && i != code.count - 1 {
        #expect(slots[i] >= 0)
        // Every earlier register with this slot is dead by now, and none of i's operands is in it.
        for r in 0..<i where slots[r] == slots[i] {
          #expect(lastUse[r] < i, "seed \(seed): register \(i) overwrites \(r), read until \(lastUse[r])")
        }
        for r in instruction.reads where slots[r] >= 0 { #expect(slots[r] != slots[i], "seed \(seed): \(i) writes its operand's slot") }
      }
      #expect(slots.last == -1)
    }
  }
}
