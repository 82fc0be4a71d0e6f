import GANDiagnostics
import GANIR

/// `<batchnorm>`: batch normalisation over channels (C H W) or features, with
/// PyTorch's running statistics (momentum, unbiased variance).
enum BatchNormLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "batchnorm",
      attributes: SpecSchema.layerCommon + [
        .init("momentum", .real, default: "0.1", "running statistics update rate"),
        .init("epsilon", .real, default: "1e-5", "added to the variance"),
        .init("affine", .boolean, default: "true", "learns a scale and shift"),
        .init(
          "classes", .count,
          "conditional batch norm: a learned scale and shift per class (classes x channels), looked up by `label`"),
      ], children: .empty, summary: "batch normalisation over channels (C H W) or features")
  ]

  static func readsLabelToo(_ layer: Layer) -> Bool {
    if case .conditionalBatchnorm = layer.op { return true }
    return false
  }

  static func check(_ entry: CheckedLayer, classes: Int?, into diagnostics: inout [Diagnostic]) {
    guard let classes, case .conditionalBatchnorm(let n, _, _) = entry.layer.op, n < classes else { return }
    diagnostics.append(
      .error(
        .dataLabels, "the conditional batch norm has \(n) classes, but the labels go up to \(classes - 1)",
        at: entry.layer.location(of: "classes"), help: "use classes=\"\(classes)\""))
  }

  static let keepsShape = true
  static let mixesSamples = true
  static let cancelsPrecedingBias = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let momentum = r.real("momentum"), epsilon = r.real("epsilon")
    reader.require((0...1).contains(momentum), r, "momentum", "'momentum' must be between 0 and 1, not \(momentum)", help: "PyTorch's default is 0.1")
    reader.require(epsilon > 0, r, "epsilon", "'epsilon' must be positive", help: "use a small value such as 1e-5")
    if r.has("classes") {
      if r.has("affine") && !r.bool("affine") {
        reader.error(
          .attributeNotApplicable, "a conditional batch norm always learns its per-class scale and shift", at: r.location("affine"),
          help: "delete affine=\"false\", or delete classes=\"...\" for plain batch norm")
      }
      return .conditionalBatchnorm(classes: r.int("classes"), momentum: momentum, epsilon: epsilon)
    }
    return .batchnorm(momentum: momentum, epsilon: epsilon, affine: r.bool("affine"))
  }

  /// (classes when conditional, momentum, epsilon, affine).
  static func options(_ op: LayerOp) -> (classes: Int?, momentum: Double, epsilon: Double, affine: Bool)? {
    switch op {
    case .batchnorm(let m, let e, let a): return (nil, m, e, a)
    case .conditionalBatchnorm(let c, let m, let e): return (c, m, e, true)
    default: return nil
    }
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard let o = options(layer.op) else { return nil }
    let input = shapes.first ?? [1]
    guard let tables = Checked.multiply(o.classes ?? 1, 2 * input[0]) else {
      inference.error(.tooLarge, "classes x channels overflows", at: layer.location(of: "classes"), help: "use fewer classes")
      return nil
    }
    return inference.make(layer, input, params: o.affine ? tables : 0, flops: 4 * (Checked.product(input) ?? 0))
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard let o = options(entry.layer.op) else { return [] }
    let channels = (entry.inputShapes.first ?? [1])[0]
    var out: [LayerParameter] = []
    if let classes = o.classes {
      // One scale (ones) and shift (zeros) per class, as an embedding of the label.
      out += [LayerParameter("weight", [classes, channels], .constant(1)), LayerParameter("bias", [classes, channels], .constant(0))]
    } else if o.affine {
      out += [LayerParameter("weight", [channels], .constant(1)), LayerParameter("bias", [channels], .constant(0))]
    }
    out.append(LayerParameter("running_mean", [channels], trainable: false, .constant(0)))
    out.append(LayerParameter("running_var", [channels], trainable: false, .constant(1)))
    return out
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard let (classes, momentum, epsilon, affineOption) = options(entry.layer.op) else { throw IRError("not a batchnorm layer") }
    let affine = affineOption && classes == nil
    let x = c.x
    let shape = c.graph.shape(x)
    let channels = shape[1]
    let axes = [0] + Array(2..<shape.count)
    let statShape = [1, channels] + [Int](repeating: 1, count: shape.count - 2)
    let meanName = "\(c.name).running_mean", varName = "\(c.name).running_var"
    var mean: ValueID, variance: ValueID
    switch c.mode {
    case .training:
      // Synchronised: the sums over every rank's share (an all_reduce each).
      let ranks = c.statisticRanks
      func total(_ v: ValueID, _ g: inout Graph) throws -> ValueID { ranks > 1 ? try g.add(.allReduce, [g.sum(v, axes: axes)]) : g.sum(v, axes: axes) }
      let count = Double(shape.reduce(1, *) / channels * ranks)
      mean = c.graph.scale(try total(x, &c.graph), 1 / count)
      // The variance's derivative in the mean is -2/N * sum(x - mean) = 0,
      // so no gradient need flow that way (as in every batch-norm
      // backward): one full-size gradient term and one sum fewer.
      let centre = c.secondOrder ? mean : try c.graph.add(.stopGradient, [mean])
      let centred = c.graph.sub(x, c.graph.broadcast(centre, shape))
      variance = c.graph.scale(try total(c.graph.unary(.square, centred), &c.graph), 1 / count)
      // Running statistics: PyTorch's update, with the unbiased variance.
      let rm = c.updates[meanName] ?? c.parameter("running_mean", [channels])
      let rv = c.updates[varName] ?? c.parameter("running_var", [channels])
      c.updates[meanName] = c.graph.addv(c.graph.scale(rm, 1 - momentum), c.graph.scale(c.graph.reshape(mean, [channels]), momentum))
      let unbiased = count > 1 ? count / (count - 1) : 1
      c.updates[varName] = c.graph.addv(c.graph.scale(rv, 1 - momentum), c.graph.scale(c.graph.reshape(variance, [channels]), momentum * unbiased))
    case .inference:
      mean = c.graph.reshape(c.parameter("running_mean", [channels]), statShape)
      variance = c.graph.reshape(c.parameter("running_var", [channels]), statShape)
    }
    // y = (x - mean) * rstd * gamma + beta as one per-channel affine map of
    // x: the centred tensor is then read only by the variance's sum (so
    // it is never stored), and y takes one pass over x.
    var scale = c.graph.unary(.rsqrt, c.graph.addv(variance, c.graph.constant(epsilon)))
    if affine { scale = c.graph.mul(scale, c.graph.reshape(c.parameter("weight", [channels]), statShape)) }
    var shift = c.graph.unary(.neg, c.graph.mul(mean, scale))
    if affine { shift = c.graph.addv(shift, c.graph.reshape(c.parameter("bias", [channels]), statShape)) }
    let normalized = c.graph.addv(c.graph.mul(x, c.graph.broadcast(scale, shape)), c.graph.broadcast(shift, shape))
    guard let classes else { return normalized }
    // Conditional: each sample's class picks its scale and shift (de Vries et al. 2017).
    let sampleShape = [shape[0], channels] + [Int](repeating: 1, count: shape.count - 2)
    var perSample: [ValueID] = []
    for name in ["weight", "bias"] {
      let table = c.parameter(name, [classes, channels])
      perSample.append(c.graph.broadcast(c.graph.reshape(try c.graph.add(.gather, [table, c.sources[1]]), sampleShape), shape))
    }
    return c.graph.addv(c.graph.mul(normalized, perSample[0]), perSample[1])
  }
}

/// `<layernorm>`: normalisation over all feature axes of each sample.
enum LayerNormLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "layernorm",
      attributes: SpecSchema.layerCommon + [
        .init("epsilon", .real, default: "1e-5", "added to the variance"),
        .init("affine", .boolean, default: "true", "learns a scale and shift"),
      ], children: .empty, summary: "layer normalisation over all feature axes")
  ]

  static let keepsShape = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let epsilon = r.real("epsilon")
    reader.require(epsilon > 0, r, "epsilon", "'epsilon' must be positive", help: "use a small value such as 1e-5")
    return .layernorm(epsilon: epsilon, affine: r.bool("affine"))
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .layernorm(_, let affine) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    let inCount = Checked.product(input) ?? 0
    return inference.make(layer, input, params: affine ? 2 * inCount : 0, flops: 5 * inCount)
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard case .layernorm(_, let affine) = entry.layer.op, affine else { return [] }
    let inShape = entry.inputShapes.first ?? []
    return [LayerParameter("weight", inShape, .constant(1)), LayerParameter("bias", inShape, .constant(0))]
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .layernorm(let epsilon, let affine) = entry.layer.op else { throw IRError("not a layernorm layer") }
    let x = c.x
    let shape = c.graph.shape(x)
    let axes = Array(1..<shape.count)
    let count = Double(shape.dropFirst().reduce(1, *))
    let mean = c.graph.scale(c.graph.sum(x, axes: axes), 1 / count)
    let centred = c.graph.sub(x, c.graph.broadcast(mean, shape))
    let variance = c.graph.scale(c.graph.sum(c.graph.unary(.square, centred), axes: axes), 1 / count)
    var y = c.graph.mul(centred, c.graph.broadcast(c.graph.unary(.rsqrt, c.graph.addv(variance, c.graph.constant(epsilon))), shape))
    if affine {
      let features = Array(shape.dropFirst())
      y = c.graph.mul(y, c.graph.broadcast(c.graph.reshape(c.parameter("weight", features), [1] + features), shape))
      y = c.graph.addv(y, c.graph.broadcast(c.graph.reshape(c.parameter("bias", features), [1] + features), shape))
    }
    return y
  }
}
