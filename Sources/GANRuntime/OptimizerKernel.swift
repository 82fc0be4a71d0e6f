import CKernels
import Foundation
import GANCompiler
import GANIR

/// A whole optimizer update run as one C loop instead of the interpreter:
/// Adam, RMSprop (with or without momentum) or SGD with momentum, each with
/// weight decay and WGAN clipping as the rule says.
///
/// The rule is stated once (`OptimizerRule` in GANCompiler): it writes the
/// update into the IR, and the program records which parameter each update
/// belongs to. The kernel assigned to a parameter takes the loop with the
/// rule's own constants; nothing re-recognises the code. The interpreter
/// runs a program one instruction at a time across a tile, so the 14 steps of
/// Adam are 14 passes over L1 with the four cold streams read in bursts
/// between them: measured on fashion-mlp's [784, 1024] weight it ran at about
/// half the speed of this loop, which reads every stream each iteration and
/// does the same operations in the same order (the same bits; `checked`
/// confirms it on a sample before the loop is used).
struct OptimizerKernel {
  /// Everything but the scalars fed each step.
  var update: ganc_update
  /// Those scalars (Adam's bias corrections, the learning rate), read when the kernel runs.
  var bias1, bias2: UnsafeMutablePointer<Float>?
  var lr: UnsafeMutablePointer<Float>
  var count: Int

  /// "adam", "rmsprop" or "sgd", for profiles.
  var name: String {
    switch update.kind {
    case Int32(GANC_UPDATE_ADAM): return "adam"
    case Int32(GANC_UPDATE_RMSPROP): return "rmsprop"
    default: return "sgd"
    }
  }

  /// Runs elements `range`.
  func run(_ range: Range<Int>) {
    var u = update
    u.bias1 = bias1?[0] ?? 1
    u.bias2 = bias2?[0] ?? 1
    u.lr = lr[0]
    ganc_optimizer_update(&u, Int64(range.lowerBound), Int64(range.count))
  }

  /// The C loop for the fused kernel that computes `update` of parameter
  /// `target` (the program says which kernel that is: the one whose result is
  /// assigned to `target`), with operands told apart by what they read: the
  /// parameter, its optimizer state, the fed scalars, and the one other
  /// operand, the gradient. The loop is taken only when it gives the
  /// interpreter's bits on a sample (`agrees`): a kernel that fused anything
  /// more into the update (a gradient's last elementwise op, the EMA) stays
  /// interpreted.
  init?(
    _ update: ParameterUpdate, target: String, reads: [Op], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]],
    stores: [(name: String, register: Int, into: UnsafeMutablePointer<Float>)], output: UnsafeMutablePointer<Float>, shape: [Int],
    decayInKernel: Bool = true
  ) {
    let rule = update.rule
    let slots = rule.slots
    guard rule.kind != .sgd || rule.momentum > 0 else { return nil }  // plain SGD has no state: the interpreter is as fast
    var p: Int? = nil, lr: Int? = nil, gradient: [Int] = []
    var state: [String: Int] = [:], bias: [String: Int] = [:]
    for (j, op) in reads.enumerated() {
      switch op {
      case .parameter(let name) where name == target: p = j
      case .parameter(let name) where name.hasPrefix(target + ".") && slots.contains(String(name.dropFirst(target.count + 1))):
        state[String(name.dropFirst(target.count + 1))] = j
      case .input(let name) where name == update.learningRate: lr = j
      case .input(let name) where update.biasCorrections.contains(name): bias[name] = j
      default: gradient.append(j)
      }
    }
    let outs = slots.map { slot in stores.first { $0.name == target + "." + slot } }
    guard let p, let lr, gradient.count == 1, let g = gradient.first, state.count == slots.count, stores.count == slots.count,
      outs.allSatisfy({ $0 != nil }), bias.count == update.biasCorrections.count,
      [p, g].allSatisfy({ operandShapes[$0] == shape }), state.values.allSatisfy({ operandShapes[$0] == shape }),
      ([lr] + bias.values).allSatisfy({ operandShapes[$0].reduce(1, *) == 1 })
    else { return nil }
    var u = ganc_update()
    switch rule.kind {
    case .adam: u.kind = Int32(GANC_UPDATE_ADAM)
    case .rmsprop: u.kind = Int32(GANC_UPDATE_RMSPROP)
    case .sgd: u.kind = Int32(GANC_UPDATE_SGD)
    }
    u.momentum = rule.kind != .adam && rule.momentum > 0 ? 1 : 0
    // Weight decay belongs to the gradient: fusion may have computed it in the gradient's own kernel.
    u.decay = rule.weightDecay > 0 && decayInKernel ? 1 : 0
    u.clip = rule.clip == nil ? 0 : 1
    // The constants the IR holds (Double, rounded to float where the interpreter reads them).
    (u.b1, u.c1, u.b2, u.c2) = (Float(rule.beta1), Float(1 - rule.beta1), Float(rule.beta2), Float(1 - rule.beta2))
    (u.eps, u.mu, u.wd) = (Float(rule.epsilon), Float(rule.momentum), Float(rule.weightDecay))
    (u.clip_hi, u.clip_lo) = (Float(rule.clip ?? 0), Float(-(rule.clip ?? 0)))
    u.g = UnsafePointer(operands[g])
    u.p = UnsafePointer(operands[p])
    u.s1 = UnsafePointer(operands[state[slots[0]]!])
    u.s1_out = outs[0]!.into
    if slots.count > 1 {
      u.s2 = UnsafePointer(operands[state[slots[1]]!])
      u.s2_out = outs[1]!.into
    }
    u.p_out = output
    let names = update.biasCorrections
    self.init(
      update: u, bias1: names.first.map { operands[bias[$0]!] }, bias2: names.dropFirst().first.map { operands[bias[$0]!] },
      lr: operands[lr], count: shape.reduce(1, *))
  }

  init(update: ganc_update, bias1: UnsafeMutablePointer<Float>?, bias2: UnsafeMutablePointer<Float>?, lr: UnsafeMutablePointer<Float>, count: Int) {
    self.update = update
    self.bias1 = bias1
    self.bias2 = bias2
    self.lr = lr
    self.count = count
  }

  /// The loop for `update` of `target` (see `init?`), taken only when it and
  /// the interpreter running `code` give the same bits on 61 sample elements
  /// (odd, so vector tails are covered): magnitudes from 1e-7 to 10, so that
  /// epsilon and tiny moments matter, half of them negative.
  static func checked(
    _ update: ParameterUpdate, target: String, reads: [Op], code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]],
    stores: [(name: String, register: Int, into: UnsafeMutablePointer<Float>)], output: UnsafeMutablePointer<Float>, shape: [Int]
  ) -> OptimizerKernel? {
    // Weight decay (g + p wd) is in this kernel, or fused into the gradient's product before it.
    for decayInKernel in update.rule.weightDecay > 0 ? [true, false] : [true] {
      if let loop = checked(
        update, target: target, reads: reads, code: code, operands: operands, operandShapes: operandShapes, stores: stores,
        output: output, shape: shape, decayInKernel: decayInKernel)
      {
        return loop
      }
    }
    return nil
  }

  private static func checked(
    _ update: ParameterUpdate, target: String, reads: [Op], code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]],
    stores: [(name: String, register: Int, into: UnsafeMutablePointer<Float>)], output: UnsafeMutablePointer<Float>, shape: [Int],
    decayInKernel: Bool
  ) -> OptimizerKernel? {
    guard
      let real = OptimizerKernel(
        update, target: target, reads: reads, operands: operands, operandShapes: operandShapes, stores: stores, output: output, shape: shape,
        decayInKernel: decayInKernel)
    else { return nil }
    let n = 61
    let sampleShapes = operandShapes.map { $0 == shape ? [n] : $0 }
    var buffers: [UnsafeMutablePointer<Float>] = []
    defer { for b in buffers { b.deallocate() } }
    func buffer(_ count: Int, _ value: (Int) -> Float) -> UnsafeMutablePointer<Float> {
      let b = UnsafeMutablePointer<Float>.allocate(capacity: count)
      for i in 0..<count { b[i] = value(i) }
      buffers.append(b)
      return b
    }
    // One sample buffer per distinct operand: a tensor read twice (the parameter under weight decay) reads the same values.
    var sampleOf: [UnsafeMutablePointer<Float>: UnsafeMutablePointer<Float>] = [:]
    let inputs = sampleShapes.enumerated().map { j, s in
      if let seen = sampleOf[operands[j]] { return seen }
      let made = buffer(s.reduce(1, *)) { i in
        let magnitude = Foundation.pow(10, -7 + 8 * CounterRandom.uniform(seed: 5, stream: j, index: i))
        return Float(i % 2 == 1 ? -magnitude : magnitude)
      }
      sampleOf[operands[j]] = made
      return made
    }
    // [0]: the interpreter's output and stores, [1]: the loop's.
    let results = (0..<2).map { _ in (0...stores.count).map { _ in buffer(n) { _ in 0 } } }
    let scratch = buffer((code.count + 1) * ElementwiseKernel.tile) { _ in .nan }
    ElementwiseKernel(
      code: code, operands: inputs, operandShapes: sampleShapes, output: results[0][0], shape: [n],
      stores: stores.enumerated().map { (register: $0.element.register, into: results[0][$0.offset + 1]) }
    ).run(0..<n, scratch: scratch)
    let sampleStores = stores.enumerated().map { (name: $0.element.name, register: $0.element.register, into: results[1][$0.offset + 1]) }
    guard
      let sample = OptimizerKernel(
        update, target: target, reads: reads, operands: inputs, operandShapes: sampleShapes, stores: sampleStores, output: results[1][0], shape: [n],
        decayInKernel: decayInKernel)
    else { return nil }
    sample.run(0..<n)
    for (a, b) in zip(results[0], results[1]) {
      for i in 0..<n where a[i].bitPattern != b[i].bitPattern { return nil }
    }
    return real
  }
}
