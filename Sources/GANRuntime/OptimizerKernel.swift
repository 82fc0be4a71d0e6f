import CKernels
import GANIR

/// A whole optimizer update recognised in a fused elementwise program and run
/// as one C loop instead of the interpreter: Adam, RMSprop (with or without
/// momentum) or SGD with momentum, each optionally clipped (a WGAN critic).
///
/// The interpreter runs a program one instruction at a time across a tile, so
/// the 14 arithmetic steps of Adam are 14 passes over L1, and the four cold
/// streams (gradient, two moments, parameter) are read in bursts between them:
/// measured on fashion-mlp's [784, 1024] weight it ran at about half the speed
/// of a single loop that reads every stream each iteration. The recognised
/// update does the same operations in the same order (the same bits); any
/// program that is not exactly one of the patterns stays on the interpreter.
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

  /// The updates `TrainingGraph` lowers the optimizers to, with the moment
  /// stores each makes (by captured name, in the order of s1 and s2), for a
  /// gradient read as it is or with weight decay added (g + p*wd).
  static let patterns: [(kind: Int32, momentum: Bool, decay: Bool, stores: [String], pattern: ProgramPattern)] = {
    var all: [(kind: Int32, momentum: Bool, decay: Bool, stores: [String], pattern: ProgramPattern)] = []
    for decay in [false, true] {
      let g: ProgramPattern = decay ? .add(.operand("g"), .mul(.operand("p"), .constant("wd"))) : .operand("g")
      func step(_ x: ProgramPattern) -> ProgramPattern { .binary(.sub, .operand("p"), .mul(x, .operand("lr"))) }
      // Adam: m' = m*b1 + g*c1; v' = v*b2 + square(g)*c2; p' = p - ((m'*bias1) / (sqrt(v'*bias2) + eps)) * lr.
      let m = ProgramPattern.captured("s1'", .add(.mul(.operand("s1"), .constant("b1")), .mul(g, .constant("c1"))))
      let v = ProgramPattern.captured("s2'", .add(.mul(.operand("s2"), .constant("b2")), .mul(.unary(.square, g), .constant("c2"))))
      let adam = step(.binary(.div, .mul(m, .operand("bias1")), .add(.unary(.sqrt, .mul(v, .operand("bias2"))), .constant("eps"))))
      // RMSprop: v' = v*b2 + square(g)*c2; step = g / (sqrt(v') + eps); optionally buf' = buf*mu + step.
      let square = ProgramPattern.captured("s1'", .add(.mul(.operand("s1"), .constant("b2")), .mul(.unary(.square, g), .constant("c2"))))
      let rmsStep = ProgramPattern.binary(.div, g, .add(.unary(.sqrt, square), .constant("eps")))
      let rmspropMomentum = step(.captured("s2'", .add(.mul(.operand("s2"), .constant("mu")), rmsStep)))
      // SGD with momentum: buf' = buf*mu + g.
      let sgd = step(.captured("s1'", .add(.mul(.operand("s1"), .constant("mu")), g)))
      all += [
        (Int32(GANC_UPDATE_ADAM), false, decay, ["s1'", "s2'"], adam),
        (Int32(GANC_UPDATE_RMSPROP), false, decay, ["s1'"], step(rmsStep)),
        (Int32(GANC_UPDATE_RMSPROP), true, decay, ["s1'", "s2'"], rmspropMomentum),
        (Int32(GANC_UPDATE_SGD), false, decay, ["s1'"], sgd),
      ]
    }
    return all
  }()

  /// The optimizer update `code` computes, or nil when it computes anything
  /// else. `operands` are the kernel's operand pointers and shapes, `stores`
  /// its moment stores, `output` the updated parameter.
  static func recognise(
    _ code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]],
    stores: [(register: Int, into: UnsafeMutablePointer<Float>)], output: UnsafeMutablePointer<Float>, shape: [Int]
  ) -> OptimizerKernel? {
    guard let last = code.indices.last else { return nil }
    let count = shape.reduce(1, *)
    for candidate in patterns where candidate.stores.count == stores.count {
      // The update itself, or clipped into [lo, hi] after it.
      for clipped in [false, true] {
        let pattern = clipped ? .binary(.max, .binary(.min, candidate.pattern, .constant("hi")), .constant("lo")) : candidate.pattern
        guard let match = pattern.match(register: last, in: code) else { continue }
        func tensor(_ name: String) -> UnsafeMutablePointer<Float>? {
          guard let j = match.operands[name], operandShapes[j] == shape else { return nil }
          return operands[j]
        }
        func scalar(_ name: String) -> UnsafeMutablePointer<Float>? {
          guard let j = match.operands[name], operandShapes[j].reduce(1, *) == 1 else { return nil }
          return operands[j]
        }
        func store(_ name: String) -> UnsafeMutablePointer<Float>? {
          stores.first { $0.register == match.registers[name] }?.into
        }
        func constant(_ name: String) -> Float { Float(match.constants[name] ?? 0) }
        let outs = candidate.stores.map(store)
        guard let g = tensor("g"), let p = tensor("p"), let s1 = tensor("s1"), let lr = scalar("lr"),
          outs.allSatisfy({ $0 != nil }), Set(outs.map { $0! }).count == outs.count
        else { continue }
        var u = ganc_update()
        u.kind = candidate.kind
        u.momentum = candidate.momentum ? 1 : 0
        u.decay = candidate.decay ? 1 : 0
        u.clip = clipped ? 1 : 0
        u.g = UnsafePointer(g)
        u.p = UnsafePointer(p)
        u.s1 = UnsafePointer(s1)
        u.s1_out = outs[0]
        u.p_out = output
        if outs.count > 1 {
          guard let s2 = tensor("s2") else { continue }
          u.s2 = UnsafePointer(s2)
          u.s2_out = outs[1]
        }
        (u.b1, u.c1, u.b2, u.c2, u.eps, u.mu) = (constant("b1"), constant("c1"), constant("b2"), constant("c2"), constant("eps"), constant("mu"))
        (u.clip_hi, u.clip_lo, u.wd) = (constant("hi"), constant("lo"), constant("wd"))
        var bias1: UnsafeMutablePointer<Float>? = nil, bias2: UnsafeMutablePointer<Float>? = nil
        if candidate.kind == Int32(GANC_UPDATE_ADAM) {
          guard let b1 = scalar("bias1"), let b2 = scalar("bias2") else { continue }
          (bias1, bias2) = (b1, b2)
        }
        return OptimizerKernel(update: u, bias1: bias1, bias2: bias2, lr: lr, count: count)
      }
    }
    return nil
  }
}

/// A tree pattern over a fused kernel's elementwise program: named operands
/// and constants bind on first sight and must agree after; `add` and `mul`
/// also match with their arguments swapped (the same bits either way).
indirect enum ProgramPattern: Sendable {
  case operand(String)
  case constant(String)
  case unary(UnaryFunction, ProgramPattern)
  case binary(BinaryFunction, ProgramPattern, ProgramPattern)
  /// Matches `pattern` and names the register that matched it.
  case captured(String, ProgramPattern)

  static func add(_ a: ProgramPattern, _ b: ProgramPattern) -> ProgramPattern { .binary(.add, a, b) }
  static func mul(_ a: ProgramPattern, _ b: ProgramPattern) -> ProgramPattern { .binary(.mul, a, b) }

  struct Match {
    var operands: [String: Int] = [:]
    var constants: [String: Double] = [:]
    var registers: [String: Int] = [:]
  }

  /// The bindings under which register `r` of `code` computes this pattern.
  func match(register r: Int, in code: [Instruction]) -> Match? {
    matches(register: r, in: code, Match()).first
  }

  /// Every way to bind: a swapped match may bind names that only a later
  /// part of the pattern refutes, so both orders are carried forward.
  private func matches(register r: Int, in code: [Instruction], _ bound: Match) -> [Match] {
    var bound = bound
    switch (self, code[r]) {
    case (.captured(let name, let inner), _):
      return inner.matches(register: r, in: code, bound).compactMap { m in
        var m = m
        if let seen = m.registers[name], seen != r { return nil }
        m.registers[name] = r
        return m
      }
    case (.operand(let name), .load(let j)):
      if let seen = bound.operands[name] { return seen == j ? [bound] : [] }
      guard !bound.operands.values.contains(j) else { return [] }
      bound.operands[name] = j
      return [bound]
    case (.constant(let name), .constant(let c)):
      if let seen = bound.constants[name] { return seen == c ? [bound] : [] }
      bound.constants[name] = c
      return [bound]
    case (.unary(let f, let a), .unary(let g, let x)) where f == g:
      return a.matches(register: x, in: code, bound)
    case (.binary(let f, let a, let b), .binary(let g, let x, let y)) where f == g:
      var found = a.matches(register: x, in: code, bound).flatMap { b.matches(register: y, in: code, $0) }
      if f == .add || f == .mul {
        found += a.matches(register: y, in: code, bound).flatMap { b.matches(register: x, in: code, $0) }
      }
      return found
    default:
      return []
    }
  }
}
