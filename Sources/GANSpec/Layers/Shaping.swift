import GANDiagnostics
import GANIR

/// `<reshape>`: a new feature shape with the same element count.
enum ReshapeLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "reshape",
      attributes: SpecSchema.layerCommon + [.init("shape", .shape, required: true, "the new feature shape")],
      children: .empty, summary: "changes the shape, keeping the element count")
  ]

  static let sizeAttribute = "shape"
  static let onlyMovesValues = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp { .reshape(r.shape("shape")) }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .reshape(let shape) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    let inCount = Checked.product(input) ?? 0
    let count = Checked.product(shape)
    guard count == inCount else {
      inference.error(
        .reshapeCount,
        "cannot reshape \(input.shapeText) (\(inCount) elements) to \(shape.shapeText) (\(count.map(String.init) ?? "too many") elements)",
        at: layer.location(of: "shape"), help: "the new shape must hold the same number of elements, \(inCount)")
      return nil
    }
    return inference.make(layer, shape, flops: 0)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID { c.graph.reshape(c.x, c.outShape) }
}

/// `<flatten>`: the features as one vector.
enum FlattenLayer: LayerFamily {
  static let elements = [ElementDefinition(name: "flatten", attributes: SpecSchema.layerCommon, children: .empty, summary: "reshapes to a vector")]

  static let onlyMovesValues = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp { .flatten }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    inference.make(layer, [Checked.product(shapes.first ?? [1]) ?? 0], flops: 0)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID { c.graph.reshape(c.x, c.outShape) }
}

/// `<upsample>`: nearest-neighbour upsampling of a C H W input.
enum UpsampleLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "upsample",
      attributes: SpecSchema.layerCommon + [
        .init("scale", .count, default: "2", "integer scale factor"),
        .init("mode", .choice(["nearest"]), default: "nearest", "interpolation"),
      ], children: .empty, summary: "nearest-neighbour upsampling of a C H W input")
  ]

  static let sizeAttribute = "scale"

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp { .upsample(scale: r.int("scale")) }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .upsample(let scale) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    guard inference.needImage(layer, input) else { return nil }
    guard let h = Checked.multiply(input[1], scale), let w = Checked.multiply(input[2], scale) else {
      inference.error(.tooLarge, "upsampling by \(scale) overflows", at: layer.location(of: "scale"), help: "use a small scale such as 2")
      return nil
    }
    return inference.make(layer, [input[0], h, w])
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .upsample(let scale) = entry.layer.op else { throw IRError("not an upsample layer") }
    let s = c.graph.shape(c.x)
    let spread = c.graph.broadcast(c.graph.reshape(c.x, [s[0], s[1], s[2], 1, s[3], 1]), [s[0], s[1], s[2], scale, s[3], scale])
    return c.graph.reshape(spread, c.outShape)
  }
}
