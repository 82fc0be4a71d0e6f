import CKernels
import GANIR

/// A whole optimizer update recognised in a fused elementwise program and run
/// as one C loop instead of the interpreter.
///
/// The interpreter runs a program one instruction at a time across a tile, so
/// the 14 arithmetic steps of Adam are 14 passes over L1, and the four cold
/// streams (gradient, two moments, parameter) are read in bursts between them:
/// measured on fashion-mlp's [784, 1024] weight it ran at about half the speed
/// of a single loop that reads every stream each iteration. The recognised
/// update does the same operations in the same order (the same bits); any
/// program that is not exactly the pattern stays on the interpreter.
struct AdamKernel {
  var gradient, exp_avg, exp_avg_sq, parameter: UnsafeMutablePointer<Float>
  var expAvgOut, expAvgSqOut, output: UnsafeMutablePointer<Float>
  /// Scalars fed each step (read when the kernel runs).
  var bias1, bias2, lr: UnsafeMutablePointer<Float>
  var beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon: Float
  var count: Int

  /// Runs elements `range`.
  func run(_ range: Range<Int>) {
    ganc_adam(
      gradient, exp_avg, exp_avg_sq, parameter, expAvgOut, expAvgSqOut, output, Int64(range.lowerBound), Int64(range.count),
      beta1, oneMinusBeta1, beta2, oneMinusBeta2, epsilon, bias1[0], bias2[0], lr[0])
  }

  /// The update `TrainingGraph` lowers Adam to, with its two moment stores:
  /// m' = m*b1 + g*c1; v' = v*b2 + square(g)*c2;
  /// p' = p - ((m'*bias1) / (sqrt(v'*bias2) + eps)) * lr.
  static let pattern: ProgramPattern = {
    let g = ProgramPattern.operand("g")
    let m = ProgramPattern.captured("m'", .add(.mul(.operand("m"), .constant("b1")), .mul(g, .constant("c1"))))
    let v = ProgramPattern.captured("v'", .add(.mul(.operand("v"), .constant("b2")), .mul(.unary(.square, g), .constant("c2"))))
    let denominator = ProgramPattern.add(.unary(.sqrt, .mul(v, .operand("bias2"))), .constant("eps"))
    return .binary(.sub, .operand("p"), .mul(.binary(.div, .mul(m, .operand("bias1")), denominator), .operand("lr")))
  }()

  /// The Adam update `kernel` computes, or nil when it computes anything else.
  /// `operands` are the kernel's operand pointers and shapes, `stores` its
  /// moment stores, `output` the updated parameter.
  static func recognise(
    _ code: [Instruction], operands: [UnsafeMutablePointer<Float>], operandShapes: [[Int]],
    stores: [(register: Int, into: UnsafeMutablePointer<Float>)], output: UnsafeMutablePointer<Float>, shape: [Int]
  ) -> AdamKernel? {
    guard stores.count == 2, let last = code.indices.last,
      let match = pattern.match(register: last, in: code)
    else { return nil }
    let count = shape.reduce(1, *)
    func tensor(_ name: String) -> UnsafeMutablePointer<Float>? {
      guard let j = match.operands[name], operandShapes[j].reduce(1, *) == count, operandShapes[j] == shape else { return nil }
      return operands[j]
    }
    func scalar(_ name: String) -> UnsafeMutablePointer<Float>? {
      guard let j = match.operands[name], operandShapes[j].reduce(1, *) == 1 else { return nil }
      return operands[j]
    }
    func store(_ name: String) -> UnsafeMutablePointer<Float>? {
      stores.first { $0.register == match.registers[name] }?.into
    }
    guard let g = tensor("g"), let m = tensor("m"), let v = tensor("v"), let p = tensor("p"),
      let mOut = store("m'"), let vOut = store("v'"), mOut != vOut,
      let bias1 = scalar("bias1"), let bias2 = scalar("bias2"), let lr = scalar("lr"),
      let b1 = match.constants["b1"], let c1 = match.constants["c1"], let b2 = match.constants["b2"],
      let c2 = match.constants["c2"], let eps = match.constants["eps"]
    else { return nil }
    return AdamKernel(
      gradient: g, exp_avg: m, exp_avg_sq: v, parameter: p, expAvgOut: mOut, expAvgSqOut: vOut, output: output,
      bias1: bias1, bias2: bias2, lr: lr, beta1: Float(b1), oneMinusBeta1: Float(c1), beta2: Float(b2),
      oneMinusBeta2: Float(c2), epsilon: Float(eps), count: count)
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
