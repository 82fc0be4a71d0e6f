import GANIR
import GANSpec

/// One optimizer's update of one parameter, stated once. `emit` writes what
/// it computes into the IR: the float64 `ReferenceEvaluator` runs that as the
/// reference and the interpreter as the fallback, and the runtime runs the
/// same rule, with these constants, as one C loop (`ganc_optimizer_update`)
/// for the fused kernel the program says holds this parameter's update.
public struct OptimizerRule: Hashable, Sendable {
  /// The update's formula (its own enum, so the runtime needs nothing of GANSpec).
  public enum Kind: Hashable, Sendable { case adam, rmsprop, sgd }
  public var kind: Kind
  public var beta1: Double
  public var beta2: Double
  public var epsilon: Double
  public var momentum: Double
  public var weightDecay: Double
  /// WGAN's weight clipping: the critic's weights are clipped into [-clip, clip] after each step.
  public var clip: Double?

  public init(_ o: OptimizerSpec, clip: Double? = nil) {
    switch o.kind {
    case .adam: kind = .adam
    case .rmsprop: kind = .rmsprop
    case .sgd: kind = .sgd
    }
    beta1 = o.beta1
    beta2 = o.beta2
    epsilon = o.epsilon
    momentum = o.momentum
    weightDecay = o.weightDecay
    self.clip = clip
  }

  /// The state kept per parameter, with PyTorch's names, in the C loop's order (s1, s2).
  public var slots: [String] {
    switch kind {
    case .adam: return ["exp_avg", "exp_avg_sq"]
    case .sgd: return momentum > 0 ? ["momentum_buffer"] : []
    case .rmsprop: return momentum > 0 ? ["square_avg", "momentum_buffer"] : ["square_avg"]
    }
  }

  /// The per-step scalars the update reads (fed by the trainer).
  public struct Scalars: Hashable, Sendable {
    public var learningRate: ValueID
    /// Adam's 1 / (1 - beta^t) for the two moments.
    public var biasCorrections: (ValueID, ValueID)?

    public static func == (a: Scalars, b: Scalars) -> Bool {
      a.learningRate == b.learningRate && a.biasCorrections?.0 == b.biasCorrections?.0 && a.biasCorrections?.1 == b.biasCorrections?.1
    }
    public func hash(into h: inout Hasher) {
      h.combine(learningRate)
      h.combine(biasCorrections?.0)
      h.combine(biasCorrections?.1)
    }
  }

  /// Appends the update of parameter `name` (value `p`, gradient `gradient`):
  /// the new state is assigned as it is computed; returns the new value,
  /// which the caller assigns (after anything else that reads it, the EMA).
  public func emit(name: String, shape: [Int], parameter p: ValueID, gradient: ValueID, scalars: Scalars, _ g: inout Graph) -> ValueID {
    func state(_ s: String) -> ValueID { g.parameter("\(name).\(s)", shape) }
    func assign(_ s: String, _ v: ValueID) { try! g.add(.assign("\(name).\(s)"), [v]) }
    var grad = gradient
    if weightDecay > 0 { grad = g.addv(grad, g.scale(p, weightDecay)) }
    let lr = scalars.learningRate
    var newValue: ValueID
    switch kind {
    case .adam:
      // m' = m b1 + g (1 - b1); v' = v b2 + g^2 (1 - b2); p' = p - (m' bias1 / (sqrt(v' bias2) + eps)) lr.
      let (bias1, bias2) = scalars.biasCorrections!
      let m = g.addv(g.scale(state("exp_avg"), beta1), g.scale(grad, 1 - beta1))
      let v = g.addv(g.scale(state("exp_avg_sq"), beta2), g.scale(g.unary(.square, grad), 1 - beta2))
      assign("exp_avg", m)
      assign("exp_avg_sq", v)
      let denominator = g.addv(g.unary(.sqrt, g.mul(v, bias2)), g.constant(epsilon))
      newValue = g.sub(p, g.mul(g.div(g.mul(m, bias1), denominator), lr))
    case .sgd:
      // With momentum: buf' = buf mu + g; p' = p - buf' lr.
      var step = grad
      if momentum > 0 {
        step = g.addv(g.scale(state("momentum_buffer"), momentum), grad)
        assign("momentum_buffer", step)
      }
      newValue = g.sub(p, g.mul(step, lr))
    case .rmsprop:
      // v' = v b2 + g^2 (1 - b2); step = g / (sqrt(v') + eps), with momentum buf' = buf mu + step.
      let v = g.addv(g.scale(state("square_avg"), beta2), g.scale(g.unary(.square, grad), 1 - beta2))
      assign("square_avg", v)
      var step = g.div(grad, g.addv(g.unary(.sqrt, v), g.constant(epsilon)))
      if momentum > 0 {
        step = g.addv(g.scale(state("momentum_buffer"), momentum), step)
        assign("momentum_buffer", step)
      }
      newValue = g.sub(p, g.mul(step, lr))
    }
    if let clip {
      newValue = g.binary(.max, g.binary(.min, newValue, g.constant(clip)), g.constant(-clip))
    }
    return newValue
  }
}

/// Which parameter's update a program holds, by the rule and the names of
/// the scalars it reads, so the runtime knows the fused kernel that computes
/// it without reading its code.
public struct ParameterUpdate: Hashable, Sendable {
  public var rule: OptimizerRule
  /// Input names of the learning rate and Adam's bias corrections.
  public var learningRate: String
  public var biasCorrections: [String]
}
