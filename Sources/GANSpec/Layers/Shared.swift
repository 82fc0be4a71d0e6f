import GANDiagnostics
import GANIR

// What several families share: learned weights with an optional bias, and
// an activation applied to a layer's output.

extension SpecSchema {
  static let weightAttributes: [AttributeDefinition] =
    [
      .init("bias", .boolean, default: "true", "adds a learned bias"),
      .init("init", .choice(inits), default: "default", "weight initialisation"),
      .init("init-std", .real, default: "0.02", "standard deviation for init=\"normal\""),
    ] + spectralNormAttributes

  /// Spectral normalisation, on every layer with a weight matrix.
  static let spectralNormAttributes: [AttributeDefinition] = [
    .init("spectral-norm", .boolean, default: "false", "divides the weight by its largest singular value (torch.nn.utils.spectral_norm)"),
    .init("power-iterations", .count, default: "1", "power iterations per training forward pass, for spectral-norm"),
  ]

  static let fusedActivation: [AttributeDefinition] = [
    .init("activation", .choice(activations), "an activation applied to the output"),
    .init("slope", .real, default: "0.2", "negative slope of leaky-relu"),
  ]
}

extension SpecReader {
  /// `bias`, `init` and `init-std`.
  mutating func readWeights(_ r: AttributeReader) -> WeightOptions {
    let initializer: Initializer
    switch r.string("init") ?? "default" {
    case "normal":
      let std = r.real("init-std")
      require(std > 0, r, "init-std", "'init-std' must be positive", help: "use a value such as 0.02")
      initializer = .normal(std: std)
    case "xavier": initializer = .xavier
    case "kaiming": initializer = .kaiming
    default: initializer = .default
    }
    if r.string("init") != "normal" { ignored(r, "init-std", because: "unless init=\"normal\"") }
    return WeightOptions(bias: r.bool("bias"), initializer: initializer)
  }

  /// The activation named by attribute `key` (with `slope` for leaky-relu).
  mutating func readActivation(_ r: AttributeReader, key: String) -> Activation? {
    guard let name = r.raw(key) else {
      if key == "activation" { ignored(r, "slope", because: "without activation=\"leaky-relu\"") }
      return nil
    }
    let slope = r.real("slope")
    if name != "leaky-relu" { ignored(r, "slope", because: "unless the activation is leaky-relu") }
    switch name {
    case "relu": return .relu
    case "leaky-relu": return .leakyRelu(slope: slope)
    case "tanh": return .tanh
    case "sigmoid": return .sigmoid
    case "elu": return .elu
    case "gelu": return .gelu
    case "silu": return .silu
    default: return .softplus
    }
  }
}

/// A weight of shape `shape` and its bias, initialised as PyTorch does
/// (kaiming_uniform(a=sqrt(5)) reduces to U(+-1/sqrt(fan_in)), for the bias too).
func weightParameters(_ shape: [Int], fanIn: Int, fanOut: Int, _ w: WeightOptions, biasSize: Int) -> [LayerParameter] {
  let bound = 1 / Double(max(fanIn, 1)).squareRoot()
  let initialization: ParameterInit
  switch w.initializer {
  case .default: initialization = .uniform(bound: bound)
  case .normal(let std): initialization = .normal(std: std)
  case .xavier: initialization = .uniform(bound: (6 / Double(fanIn + fanOut)).squareRoot())
  case .kaiming: initialization = .normal(std: (2 / Double(max(fanIn, 1))).squareRoot())
  }
  var out = [LayerParameter("weight", shape, initialization)]
  if w.bias {
    let biasInit: ParameterInit = if case .normal = w.initializer { .constant(0) } else { .uniform(bound: bound) }
    out.append(LayerParameter("bias", [biasSize], biasInit))
  }
  return out
}

extension Activation {
  /// The activation written in the IR's primitive ops.
  public func lower(_ x: ValueID, _ g: inout Graph) -> ValueID {
    switch self {
    case .relu: return g.unary(.leakyRelu(slope: 0), x)
    case .leakyRelu(let slope) where slope >= 0:
      return g.unary(.leakyRelu(slope: slope), x)
    case .leakyRelu(let slope):
      // A negative slope is not monotone: x * (slope + (1 - slope) * step(x)).
      return g.mul(x, g.addv(g.scale(g.unary(.step, x), 1 - slope), g.constant(slope)))
    case .tanh: return g.unary(.tanh, x)
    case .sigmoid: return g.unary(.sigmoid, x)
    case .softplus: return g.unary(.softplus, x)
    case .elu: return g.unary(.elu, x)
    case .gelu:
      let cdf = g.addv(g.unary(.erf, g.scale(x, 1 / 2.0.squareRoot())), g.constant(1))
      return g.mul(g.scale(x, 0.5), cdf)
    case .silu: return g.mul(x, g.unary(.sigmoid, x))
    }
  }
}

extension LayerLowering {
  /// `y` with the layer's bias (when it has one) and activation applied.
  mutating func finish(_ y: ValueID, bias: Int, _ w: WeightOptions, _ activation: Activation?) -> ValueID {
    var y = y
    if w.bias { y = addBias(y, parameter("bias", [bias])) }
    if let a = activation { y = a.lower(y, &graph) }
    return y
  }
}
