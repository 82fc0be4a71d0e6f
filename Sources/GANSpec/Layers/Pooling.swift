import GANDiagnostics
import GANIR

/// `<avgpool>`: the mean over non-overlapping `size` x `size` windows of a
/// C H W input (PyTorch's `avg_pool2d(x, size)`), or with `global="true"` over
/// all of H and W (a ResNet discriminator's last pooling), giving C values.
enum AveragePoolLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "avgpool",
      attributes: SpecSchema.layerCommon + [
        .init("size", .count, default: "2", "window height and width (and stride); H and W must divide by it"),
        .init("global", .boolean, default: "false", "the mean over all of H and W: C H W to C"),
      ], children: .empty, summary: "average pooling of a C H W input")
  ]

  static let sizeAttribute = "size"

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    if r.bool("global") { reader.ignored(r, "size", because: "with global=\"true\"") }
    return .avgpool(size: r.int("size"), global: r.bool("global"))
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .avgpool(let size, let global) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    guard inference.needImage(layer, input) else { return nil }
    let flops = Checked.product(input) ?? 0
    if global { return inference.make(layer, [input[0]], flops: flops) }
    guard input[1] % size == 0, input[2] % size == 0 else {
      inference.error(
        .shapeMismatch, "average pooling by \(size) needs H and W that divide by \(size), but the input is \(input.shapeText)", at: layer.location(of: "size"),
        help: "use a size that divides \(input[1]) and \(input[2]), or change the previous layer")
      return nil
    }
    return inference.make(layer, [input[0], input[1] / size, input[2] / size], flops: flops)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .avgpool(let size, let global) = entry.layer.op else { throw IRError("not an average pooling layer") }
    let s = c.graph.shape(c.x)
    if global {
      let total = c.graph.sum(c.x, axes: [2, 3])
      return c.graph.scale(c.graph.reshape(total, c.outShape), 1 / Double(s[2] * s[3]))
    }
    // Each window as two axes of its own, summed away.
    let windows = c.graph.reshape(c.x, [s[0], s[1], s[2] / size, size, s[3] / size, size])
    let total = c.graph.sum(windows, axes: [3, 5])
    return c.graph.scale(c.graph.reshape(total, c.outShape), 1 / Double(size * size))
  }
}
