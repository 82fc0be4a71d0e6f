import GANDiagnostics
import GANIR

/// Everything about one family of layer elements in one file: its elements
/// and attributes (the schema, XSD and reference are made from them), how an
/// element is read and checked, its output shape and size, its parameters
/// (with PyTorch's names) and its lowering to the IR.
///
/// Adding a layer kind is a case of `LayerOp` (the AST), a file conforming to
/// this protocol and a line in `LayerRegistry.families`, plus its tests.
protocol LayerFamily {
  /// The elements this family reads, in the order of the reference table.
  static var elements: [ElementDefinition] { get }
  /// The layer `element` means, reporting bad values into `reader`.
  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp
  /// The output shape (and parameter count and FLOPs) from the input shapes,
  /// or nil after reporting why not into `inference`.
  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer?
  /// The attribute a too-large error points at ("" for the element).
  static var sizeAttribute: String { get }
  /// The persistent tensors of one layer, in PyTorch's order and names.
  static func parameters(_ entry: CheckedLayer) -> [LayerParameter]
  /// Appends the layer's forward pass to `lowering`'s graph.
  static func lower(_ entry: CheckedLayer, _ lowering: inout LayerLowering) throws -> ValueID

  /// The layer only moves values (reshape, flatten): checks look through it.
  static var onlyMovesValues: Bool { get }
  /// Summaries skip it: it keeps the shape (activations, dropout, norms).
  static var keepsShape: Bool { get }
  /// It mixes the samples of a batch (batch statistics).
  static var mixesSamples: Bool { get }
  /// It removes any per-channel constant of its input (so a bias before it is wasted).
  static var cancelsPrecedingBias: Bool { get }
  /// It reads `label` when no input is named (an embedding of class ids).
  static var readsLabelByDefault: Bool { get }
  /// The attribute naming the ids a layer reads ("input" or "inputs").
  static var referenceAttribute: String { get }
  /// The layer reads `label` besides its input (conditional batch norm).
  static func readsLabelToo(_ layer: Layer) -> Bool
  /// Spec-level checks against the data (an embedding's classes against the labels).
  static func check(_ entry: CheckedLayer, classes: Int?, into diagnostics: inout [Diagnostic])
  /// The weight's output axis for spectral norm (PyTorch's `dim`: 1 for a
  /// transposed convolution, whose weight is in x out x kh x kw).
  static func spectralDimension(_ layer: Layer) -> Int
}

extension LayerFamily {
  static var sizeAttribute: String { "" }
  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] { [] }
  static var onlyMovesValues: Bool { false }
  static var keepsShape: Bool { false }
  static var mixesSamples: Bool { false }
  static var cancelsPrecedingBias: Bool { false }
  static var readsLabelByDefault: Bool { false }
  static var referenceAttribute: String { "input" }
  static func readsLabelToo(_ layer: Layer) -> Bool { false }
  static func check(_ entry: CheckedLayer, classes: Int?, into diagnostics: inout [Diagnostic]) {}
  static func spectralDimension(_ layer: Layer) -> Int { 0 }
}

/// Every layer family, in the order of the reference table.
enum LayerRegistry {
  static let families: [any LayerFamily.Type] = [
    DenseLayer.self, ConvolutionLayer.self, BatchNormLayer.self, LayerNormLayer.self, ActivationLayer.self,
    DropoutLayer.self, MaxoutLayer.self, ReshapeLayer.self, FlattenLayer.self, UpsampleLayer.self, AveragePoolLayer.self,
    ConcatLayer.self, AddLayer.self, DotLayer.self, EmbeddingLayer.self, AttentionLayer.self,
  ]

  /// The family of each element name.
  static let byElement: [String: any LayerFamily.Type] = {
    var out: [String: any LayerFamily.Type] = [:]
    for family in families { for e in family.elements { out[e.name] = family } }
    return out
  }()

  static func family(_ element: String) -> any LayerFamily.Type {
    guard let family = byElement[element] else { preconditionFailure("no layer family reads <\(element)>") }
    return family
  }
}

extension Layer {
  /// The family this layer's element belongs to.
  var family: any LayerFamily.Type { LayerRegistry.family(element) }

  /// The layer only moves values (reshape, flatten).
  public var onlyMovesValues: Bool { family.onlyMovesValues }
  /// Summaries skip it: it keeps the shape.
  public var keepsShape: Bool { family.keepsShape }
  /// It mixes the samples of a batch (batch normalisation).
  public var mixesSamples: Bool { family.mixesSamples }
  /// It removes any per-channel constant of its input (batch normalisation).
  public var cancelsPrecedingBias: Bool { family.cancelsPrecedingBias }
}

/// One persistent tensor of a layer: `generator.3.` + `suffix`.
public struct LayerParameter: Hashable, Sendable {
  public var suffix: String
  public var shape: [Int]
  /// Learned (updated by the optimizer) or a buffer (running statistics).
  public var trainable: Bool
  public var initialization: ParameterInit

  public init(_ suffix: String, _ shape: [Int], trainable: Bool = true, _ initialization: ParameterInit) {
    self.suffix = suffix
    self.shape = shape
    self.trainable = trainable
    self.initialization = initialization
  }
}

/// Whether a forward pass trains (batch statistics, dropout) or samples.
public enum LayerMode: Sendable {
  case training
  case inference
}

/// What lowering one layer needs: the graph being built, the layer's inputs
/// and name, its parameters' values, and the running statistics to write back.
public struct LayerLowering {
  /// The graph being built (moved in for the whole net, so appends never copy it).
  public var graph: Graph
  public let mode: LayerMode
  /// A critic whose input gradient is differentiated again (the gradient
  /// penalty) needs every path exact to second order.
  public let secondOrder: Bool
  /// The values the layer reads, first the main one.
  public internal(set) var sources: [ValueID] = []
  /// `generator.3`.
  public internal(set) var name = ""
  /// The output shape, batch included.
  public internal(set) var outShape: [Int] = []
  /// Parameter values by full name (shared by the passes of one step).
  public var parameterValues: [String: ValueID]
  /// Running statistics to assign after the step (full name -> new value).
  public var updates: [String: ValueID]
  /// The next free random op stream (dropout layers number theirs in order).
  public var nextStream: Int
  /// Streams from this one up are taken (the gradient penalty's).
  public let streamLimit: Int
  /// Data-parallel ranks whose batches batch norm's statistics span
  /// (synchronised batch norm); 1 = this process's batch alone.
  public var statisticRanks = 1

  public init(
    graph: Graph, mode: LayerMode, secondOrder: Bool, parameterValues: [String: ValueID], updates: [String: ValueID], nextStream: Int,
    streamLimit: Int
  ) {
    self.graph = graph
    self.mode = mode
    self.secondOrder = secondOrder
    self.parameterValues = parameterValues
    self.updates = updates
    self.nextStream = nextStream
    self.streamLimit = streamLimit
  }

  /// The layer's spectral norm: power iterations and the weight's output axis.
  public internal(set) var spectralNorm: (iterations: Int, dimension: Int)? = nil

  /// The value of this layer's parameter `suffix` (read once per step); a
  /// spectrally normalised weight is weight_orig / sigma, computed per pass.
  public mutating func parameter(_ suffix: String, _ shape: [Int]) -> ValueID {
    if let sn = spectralNorm, Self.isSpectralWeight(suffix) { return spectrallyNormalized(suffix, shape, sn.iterations, sn.dimension) }
    let full = name + "." + suffix
    if let v = parameterValues[full] { return v }
    let v = graph.parameter(full, shape)
    parameterValues[full] = v
    return v
  }

  /// The main input.
  public var x: ValueID { sources[0] }

  /// y + bias broadcast along axis 1.
  mutating func addBias(_ y: ValueID, _ bias: ValueID) -> ValueID {
    let shape = graph.shape(y)
    var b = [Int](repeating: 1, count: shape.count)
    b[1] = shape[1]
    return graph.addv(y, graph.broadcast(graph.reshape(bias, b), shape))
  }
}

/// The public face of the families for the compiler.
public enum LayerFamilies {
  /// The persistent tensors of `entry`.
  public static func parameters(of entry: CheckedLayer) -> [LayerParameter] {
    var out = entry.layer.family.parameters(entry)
    guard entry.layer.spectralNorm != nil else { return out }
    // As torch.nn.utils.spectral_norm on each weight (an attention layer has
    // three): the learned weight_orig, then the buffers u (output axis) and
    // v (the rest), random unit vectors.
    let dim = entry.layer.family.spectralDimension(entry.layer)
    var buffers: [LayerParameter] = []
    for i in out.indices where LayerLowering.isSpectralWeight(out[i].suffix) {
      let (name, shape) = (out[i].suffix, out[i].shape)
      out[i].suffix = name + "_orig"
      buffers.append(LayerParameter(name + "_u", [shape[dim]], trainable: false, .unitNormal))
      buffers.append(LayerParameter(name + "_v", [shape.reduce(1, *) / max(shape[dim], 1)], trainable: false, .unitNormal))
    }
    return out + buffers
  }

  /// Lowers `entry` reading `sources` as layer `name` with output shape `outShape`.
  public static func lower(_ entry: CheckedLayer, name: String, sources: [ValueID], outShape: [Int], _ lowering: inout LayerLowering) throws -> ValueID {
    lowering.name = name
    lowering.sources = sources
    lowering.outShape = outShape
    lowering.spectralNorm = entry.layer.spectralNorm.map { ($0, entry.layer.family.spectralDimension(entry.layer)) }
    return try entry.layer.family.lower(entry, &lowering)
  }

  /// Every layer element, in the order of the reference table.
  public static var elements: [ElementDefinition] { LayerRegistry.families.flatMap { $0.elements } }
}

extension LayerLowering {
  /// weight_orig / sigma, sigma = u . (W v) (Miyato et al. 2018), as
  /// torch.nn.utils.spectral_norm computes it: in training each pass first
  /// runs the power iteration from the stored u (v = W^T u / |W^T u|,
  /// u = W v / |W v|, without gradient) and writes u and v back; in
  /// inference the stored u and v are used as they are. The gradient flows
  /// through sigma into weight_orig. W is the weight viewed as a matrix with
  /// axis `dimension` as its rows, computed by broadcasting (no transposes).
  /// The parameters spectral norm divides: `weight`, or a part's (`key_conv.weight`).
  static func isSpectralWeight(_ suffix: String) -> Bool { suffix == "weight" || suffix.hasSuffix(".weight") }

  mutating func spectrallyNormalized(_ suffix: String, _ shape: [Int], _ iterations: Int, _ dimension: Int) -> ValueID {
    let weight = parameter(suffix + "_orig", shape)
    let rows = shape[dimension], columns = shape.reduce(1, *) / max(rows, 1)
    var rowShape = [Int](repeating: 1, count: shape.count)
    rowShape[dimension] = rows
    var columnShape = shape
    columnShape[dimension] = 1
    let otherAxes = (0..<shape.count).filter { $0 != dimension }
    let uName = name + "." + suffix + "_u", vName = name + "." + suffix + "_v"
    var u = updates[uName] ?? parameter(suffix + "_u", [rows])
    var v = updates[vName] ?? parameter(suffix + "_v", [columns])
    // W v as a vector of `rows`, and W^T u as one of `columns`.
    func times(_ w: ValueID, _ v: ValueID, _ g: inout Graph) -> ValueID {
      g.reshape(g.sum(g.mul(w, g.broadcast(g.reshape(v, columnShape), shape)), axes: otherAxes), [rows])
    }
    func transposedTimes(_ w: ValueID, _ u: ValueID, _ g: inout Graph) -> ValueID {
      g.reshape(g.sum(g.mul(w, g.broadcast(g.reshape(u, rowShape), shape)), axes: [dimension]), [columns])
    }
    // x / max(|x|, 1e-12), PyTorch's F.normalize.
    func normalized(_ x: ValueID, _ g: inout Graph) -> ValueID {
      let norm = g.unary(.sqrt, g.sumAll(g.unary(.square, x)))
      return g.div(x, g.broadcast(g.binary(.max, norm, g.constant(1e-12)), g.shape(x)))
    }
    if mode == .training {
      let w = try! graph.add(.stopGradient, [weight])
      for _ in 0..<iterations {
        v = normalized(transposedTimes(w, u, &graph), &graph)
        u = normalized(times(w, v, &graph), &graph)
      }
      u = try! graph.add(.stopGradient, [u])
      v = try! graph.add(.stopGradient, [v])
      updates[uName] = u
      updates[vName] = v
    }
    let sigma = graph.sumAll(graph.mul(u, times(weight, v, &graph)))
    return graph.div(weight, graph.broadcast(sigma, shape))
  }
}
