import Foundation
import GANCompiler
import GANIR
import GANSpec
import Testing
@testable import GANRuntime

/// One fused kernel that a program says holds a parameter's optimizer update.
private struct UpdateKernel {
  var program: String
  var kernel: FusedKernel
  var reads: [Op]
  var operandShapes: [[Int]]
  var shape: [Int]
  var target: String
  var update: ParameterUpdate
}

/// The fused kernels assigned to a trained parameter in the compiled programs of `spec`.
private func compiledUpdateKernels(_ spec: CheckedSpec) throws -> [UpdateKernel] {
  let model = try Compiler.compile(spec)
  var found: [UpdateKernel] = []
  for program in model.programs {
    let g = program.graph
    var assigned: [ValueID: String] = [:]
    for node in g.nodes { if case .assign(let name) = node.op { assigned[node.inputs[0]] = name } }
    for (i, node) in g.nodes.enumerated() {
      guard case .fused(let k) = node.op, k.head == nil, k.reduction == nil, let target = assigned[i], let update = program.updates[target]
      else { continue }
      found.append(
        UpdateKernel(
          program: program.name, kernel: k, reads: node.inputs.map { g[$0].op }, operandShapes: node.inputs.map { g.shape($0) },
          shape: node.shape, target: target, update: update))
    }
  }
  return found
}

/// Runs `code` over seeded operands twice, interpreted and as the optimizer
/// loop the runtime would take for `u`; returns the parameter and the stored
/// state from each, or nil for the second when the loop is not taken.
private func interpretedAndKernel(_ u: UpdateKernel, code: [Instruction], operandShapes: [[Int]], shape: [Int], stores: [KernelStore]) -> ([[Float]], [[Float]]?) {
  let count = shape.reduce(1, *)
  func run(loop: Bool) -> [[Float]]? {
    func buffer(_ v: [Float]) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: v.count)
      p.initialize(from: v, count: v.count)
      return p
    }
    // Positive, so the square root of the second moment is a number, not NaN.
    let pointers = operandShapes.enumerated().map { j, s in buffer(values(s.reduce(1, *), seed: 40 &+ UInt64(j)).map { Float(abs($0) + 0.01) }) }
    let out = (0...stores.count).map { _ in buffer([Float](repeating: 0, count: count)) }
    let scratch = buffer([Float](repeating: .nan, count: (code.count + 1) * ElementwiseKernel.tile))
    defer { for p in pointers + out + [scratch] { p.deallocate() } }
    if loop {
      let targets = stores.enumerated().map { (name: $0.element.name, register: $0.element.register, into: out[$0.offset + 1]) }
      guard
        let k = OptimizerKernel.checked(
          u.update, target: u.target, reads: u.reads, code: code, operands: pointers, operandShapes: operandShapes, stores: targets,
          output: out[0], shape: shape)
      else { return nil }
      k.run(0..<count)
    } else {
      let targets = stores.enumerated().map { (register: $0.element.register, into: out[$0.offset + 1]) }
      ElementwiseKernel(code: code, operands: pointers, operandShapes: operandShapes, output: out[0], shape: shape, stores: targets)
        .run(0..<count, scratch: scratch)
    }
    return out.map { Array(UnsafeBufferPointer(start: $0, count: count)) }
  }
  return (run(loop: false)!, run(loop: true))
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

  @Test("every stateful optimizer update of these specs runs as one loop and gives the interpreter's bits", arguments: 0..<6)
  func updates(_ index: Int) throws {
    let spec = Self.specNames[index]
    let kernels = try compiledUpdateKernels(try Self.spec(index))
    #expect(kernels.count >= 6, "\(spec): \(kernels.count) update kernels")
    var looped = 0
    for u in kernels {
      // An odd element count: not a multiple of the vector width or the tile.
      let odd = [u.shape.reduce(1, *) % 1000 + 37]
      let oddShapes = u.operandShapes.map { $0 == u.shape ? odd : $0 }
      let (interpreted, kernel) = interpretedAndKernel(u, code: u.kernel.code, operandShapes: oddShapes, shape: odd, stores: u.kernel.stores)
      // The EMA of the generator's weights is a third store: that update stays interpreted.
      if u.kernel.stores.contains(where: { $0.name.hasPrefix("ema.") }) {
        #expect(kernel == nil)
        continue
      }
      let got = try #require(kernel, "\(spec) \(u.program): the update of \(u.target) \(u.shape) does not run as one loop")
      looped += 1
      for (a, b) in zip(interpreted, got) {
        #expect(a.allSatisfy { $0.isFinite }, "\(spec) \(u.program): the test values give non-numbers")
        #expect(differing(a, b) == 0, "\(spec) \(u.program) \(u.shape): \(differing(a, b)) of \(a.count) elements differ")
      }
    }
    #expect(looped >= 6, "\(spec): only \(looped) updates run as one loop")
  }

  @Test("a kernel changed anywhere is either left to the interpreter or computes its bits: the loop is checked, not assumed")
  func mutations() throws {
    let u = try #require(try compiledUpdateKernels(try shipped("ring", batch: 4)).first)
    let k = u.kernel
    let odd = [101]
    let oddShapes = u.operandShapes.map { $0 == u.shape ? odd : $0 }
    var rejected = 0
    for (i, instruction) in k.code.enumerated() {
      var variants: [(Instruction, Bool)] = []  // (mutant, still the same update?)
      switch instruction {
      case .binary(let f, let a, let b):
        variants.append((.binary(f, b, a), f == .add || f == .mul || a == b))
        for other in [BinaryFunction.add, .sub, .mul, .div, .max] where other != f { variants.append((.binary(other, a, b), false)) }
      case .unary(let f, let a):
        for other in [UnaryFunction.sqrt, .square, .abs, .neg] where other != f { variants.append((.unary(other, a), false)) }
      case .load(let j):
        for other in oddShapes.indices where other != j && oddShapes[other] == oddShapes[j] { variants.append((.load(other), false)) }
      case .constant(let c):
        variants.append((.constant(c * 1.5 + 0.25), false))
      case .head:
        break
      }
      for (mutant, same) in variants {
        var code = k.code
        code[i] = mutant
        let (interpreted, loop) = interpretedAndKernel(u, code: code, operandShapes: oddShapes, shape: odd, stores: k.stores)
        if same { #expect(loop != nil, "instruction \(i) as \(mutant) computes the same update") }
        if let loop {
          #expect(zip(interpreted, loop).allSatisfy { differing($0, $1) == 0 }, "instruction \(i) as \(mutant): the bits differ")
        } else {
          rejected += 1
        }
      }
    }
    #expect(rejected >= 30, "only \(rejected) mutants left to the interpreter")
    // Stores named the other way round are not this update either.
    let swapped = [KernelStore(name: k.stores[1].name, register: k.stores[0].register), KernelStore(name: k.stores[0].name, register: k.stores[1].register)]
    #expect(interpretedAndKernel(u, code: k.code, operandShapes: oddShapes, shape: odd, stores: swapped).1 == nil)
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
