import GANDiagnostics
import GANIR

/// `<activation>`: an elementwise function.
enum ActivationLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "activation",
      attributes: SpecSchema.layerCommon + [
        .init("kind", .choice(SpecSchema.activations), required: true, "the function"),
        .init("slope", .real, default: "0.2", "negative slope of leaky-relu"),
      ], children: .empty, summary: "an elementwise activation")
  ]

  static let keepsShape = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .activation(reader.readActivation(r, key: "kind") ?? .relu)
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    inference.make(layer, shapes.first ?? [1])
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .activation(let a) = entry.layer.op else { throw IRError("not an activation layer") }
    return a.lower(c.x, &c.graph)
  }
}

/// `<dropout>`: zeroes each value with probability `rate` while training,
/// scaling the rest by 1 / (1 - rate); the identity when sampling.
enum DropoutLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "dropout",
      attributes: SpecSchema.layerCommon + [.init("rate", .real, required: true, "drop probability, 0 <= rate < 1")],
      children: .empty, summary: "dropout, active in training only")
  ]

  static let keepsShape = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let rate = r.real("rate")
    reader.require(rate >= 0 && rate < 1, r, "rate", "'rate' must be at least 0 and below 1, not \(rate)", help: "use a drop probability such as 0.3")
    return .dropout(rate: rate)
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    inference.make(layer, shapes.first ?? [1])
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .dropout(let rate) = entry.layer.op else { throw IRError("not a dropout layer") }
    guard c.mode == .training && rate > 0 else { return c.x }
    // Each dropout layer of a step draws its own op stream, in lowering order.
    guard c.nextStream < c.streamLimit else {
      throw IRError("more than \(c.streamLimit) dropout layers in one step; ganc numbers each one's random stream")
    }
    let noise = try c.graph.add(.random(stream: c.nextStream), [], shape: c.graph.shape(c.x))
    c.nextStream += 1
    let keep = c.graph.unary(.step, c.graph.sub(noise, c.graph.constant(rate)))
    return c.graph.mul(c.graph.mul(c.x, keep), c.graph.constant(1 / (1 - rate)))
  }
}
