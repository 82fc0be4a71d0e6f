import GANIR
import GANSpec

/// Whether a forward pass trains (batch statistics, dropout) or samples.
public typealias Mode = LayerMode

/// The persistent tensors of one net: weights, biases and running statistics,
/// named and laid out as PyTorch names and lays them out.
public struct ParameterInfo: Hashable, Sendable {
  public var name: String
  public var shape: [Int]
  /// Learned (updated by the optimizer) or a buffer (running statistics).
  public var trainable: Bool
  /// How to fill it before training.
  public var initialization: ParameterInit
  /// The net it belongs to (for optimizer state and averages: their parameter's net).
  public var net: NetworkRole
  /// What it is to training.
  public var role: ParameterRole

  public init(name: String, shape: [Int], trainable: Bool, initialization: ParameterInit, net: NetworkRole, role: ParameterRole = .network) {
    self.name = name
    self.shape = shape
    self.trainable = trainable
    self.initialization = initialization
    self.net = net
    self.role = role
  }
}

/// What a persistent tensor is to training, so that nothing parses names.
public enum ParameterRole: Hashable, Sendable {
  /// A layer's weight, bias or running statistic.
  case network
  /// Optimizer state `slot` (PyTorch's name: exp_avg, square_avg, ...) of the parameter `of`.
  case optimizerState(of: String, slot: String)
  /// The generator's exponential moving average of the parameter `of`.
  case average(of: String)
  /// Data-parallel training: the gradient of the parameter `of`, summed
  /// across ranks between the step and the update (not checkpointed).
  case gradient(of: String)
}

/// Lowers checked networks into IR, one layer at a time.
public struct Lowering {
  public let spec: CheckedSpec
  /// Every persistent tensor, in a stable order (G's, then D's).
  public private(set) var parameters: [ParameterInfo] = []
  /// Dropout and other random streams get fresh ids.
  private var nextStream = 0
  /// Ranks batch norm's statistics span (synchronised batch norm).
  public var statisticRanks = 1
  /// The op stream of the gradient penalty's interpolation weights; dropout
  /// layers take the streams below it, in lowering order.
  public static let penaltyStream = RunRandom.opStreams - 1

  public init(spec: CheckedSpec) {
    self.spec = spec
    for net in [spec.generator, spec.discriminator] { parameters += Self.parameters(of: net) }
  }

  public static func prefix(_ role: NetworkRole) -> String { role.rawValue }

  /// The parameters of a net in layer order; names are `generator.3.weight`
  /// (each layer family says its own, as PyTorch names them).
  public static func parameters(of net: CheckedNetwork) -> [ParameterInfo] {
    net.layers.enumerated().flatMap { i, entry in
      LayerFamilies.parameters(of: entry).map { p in
        ParameterInfo(
          name: "\(prefix(net.role)).\(i).\(p.suffix)", shape: p.shape, trainable: p.trainable, initialization: p.initialization, net: net.role)
      }
    }
  }

  /// The running statistics a forward pass wants written back (name -> value).
  public typealias StatisticUpdates = [String: ValueID]

  /// Appends the forward pass of `net` to `g`, reading `input` (and `label`)
  /// and the net's parameters; returns the output value. Training-mode batch
  /// normalisation chains its running-statistic updates through `updates`.
  public mutating func forward(
    _ net: CheckedNetwork, input: ValueID, label: ValueID?, mode: Mode, in g: inout Graph,
    parameterValues: inout [String: ValueID], updates: inout StatisticUpdates
  ) throws -> ValueID {
    try forwardLayers(net, input: input, label: label, mode: mode, in: &g, parameterValues: &parameterValues, updates: &updates).last!
  }

  /// As `forward`, returning every layer's output in layer order (feature
  /// matching and a judge's features read inner layers).
  public mutating func forwardLayers(
    _ net: CheckedNetwork, input: ValueID, label: ValueID?, mode: Mode, in g: inout Graph,
    parameterValues: inout [String: ValueID], updates: inout StatisticUpdates
  ) throws -> [ValueID] {
    let batch = g.shape(input)[0]
    var outputs: [ValueID] = []
    // A critic whose input gradient is differentiated again (the gradient
    // penalty) needs every path exact to second order.
    let secondOrder = net.role == .discriminator && (spec.spec.training.loss == .wassersteinGP || spec.spec.training.penalizesGradients)
    // The graph moves into the context for the whole net (no copy per append) and back.
    var context = LayerLowering(
      graph: g, mode: mode, secondOrder: secondOrder, parameterValues: parameterValues, updates: updates, nextStream: nextStream,
      streamLimit: Self.penaltyStream)
    context.statisticRanks = statisticRanks
    g = Graph()
    defer {
      g = context.graph
      parameterValues = context.parameterValues
      updates = context.updates
      nextStream = context.nextStream
    }
    for (i, entry) in net.layers.enumerated() {
      let sources: [ValueID] = entry.inputs.map { ref in
        switch ref {
        case .input(let n): return n == "label" ? label! : input
        case .layer(let j): return outputs[j]
        }
      }
      let name = "\(Self.prefix(net.role)).\(i)"
      outputs.append(try LayerFamilies.lower(entry, name: name, sources: sources.isEmpty ? [input] : sources, outShape: [batch] + entry.outputShape, &context))
    }
    return outputs
  }
}
