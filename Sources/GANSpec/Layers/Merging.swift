import GANDiagnostics
import GANIR

extension SpecReader {
  /// The `inputs` of `<concat>` and `<add>`: at least two ids, and no `input`.
  mutating func readInputs(_ element: String, _ r: AttributeReader) -> [String] {
    let inputs = r.names("inputs")
    if r.raw("inputs") != nil && inputs.count < 2 {
      error(.outOfRange, "<\(element)> needs at least two ids in 'inputs'", at: r.location("inputs"), help: "list the ids to join, such as inputs=\"a b\"")
    }
    if r.has("input") {
      error(.attributeNotApplicable, "<\(element)> reads 'inputs', not 'input'", at: r.location("input"), help: "list every id in inputs=\"...\"")
    }
    return inputs
  }
}

/// `<concat>`: joins outputs along one feature axis (skip connections).
enum ConcatLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "concat",
      attributes: SpecSchema.layerCommon + [
        .init("inputs", .names, required: true, "the ids to join, space-separated"),
        .init("axis", .integer, default: "0", "feature axis (0 = first; negative counts from the end)"),
      ], children: .empty, summary: "joins outputs along one feature axis")
  ]

  static let referenceAttribute = "inputs"

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let inputs = reader.readInputs(element, r)
    return .concat(inputs: inputs, axis: r.int("axis"))
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .concat(let names, let axis) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    let rank = input.count
    guard shapes.allSatisfy({ $0.count == rank }) else {
      inference.error(
        .rankMismatch, "<concat> joins inputs of different ranks: " + shapes.map { "(\($0.shapeText))" }.joined(separator: ", "),
        at: layer.location(of: "inputs"), help: "flatten or reshape the inputs to the same rank first")
      return nil
    }
    guard axis >= -rank && axis < rank else {
      inference.error(
        .outOfRange, "axis \(axis) is outside the \(rank) feature axes of the inputs", at: layer.location(of: "axis"),
        help: "use an axis from 0 to \(rank - 1) (or -\(rank) to -1)")
      return nil
    }
    let a = axis < 0 ? axis + rank : axis
    for (k, s) in shapes.enumerated() {
      for d in 0..<rank where d != a && s[d] != input[d] {
        inference.error(
          .shapeMismatch,
          "<concat> along axis \(a) needs the other axes to match, but '\(names[k])' has shape \(s.shapeText) and '\(names[0])' has \(input.shapeText)",
          at: layer.location(of: "inputs"), help: "reshape the inputs so every axis but \(a) matches")
        return nil
      }
    }
    var out = input
    out[a] = shapes.reduce(0) { $0 + $1[a] }
    return inference.make(layer, out, flops: 0)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .concat(_, let axis) = entry.layer.op else { throw IRError("not a concat layer") }
    let rank = c.graph.shape(c.sources[0]).count
    return try c.graph.add(.concat(axis: axis < 0 ? axis + rank : axis + 1), c.sources)
  }
}

/// `<add>`: the sum of outputs of equal shape (residual connections).
enum AddLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "add",
      attributes: SpecSchema.layerCommon + [.init("inputs", .names, required: true, "the ids to add, space-separated")],
      children: .empty, summary: "adds outputs of equal shape")
  ]

  static let referenceAttribute = "inputs"

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .add(inputs: reader.readInputs(element, r))
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .add(let names) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    for (k, s) in shapes.enumerated() where s != input {
      inference.error(
        .shapeMismatch, "<add> needs equal shapes, but '\(names[k])' has shape \(s.shapeText) and '\(names[0])' has \(input.shapeText)",
        at: layer.location(of: "inputs"), help: "add outputs of the same shape")
      return nil
    }
    return inference.make(layer, input, flops: (Checked.product(input) ?? 0) * (shapes.count - 1))
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    let sources = c.sources
    return sources.dropFirst().reduce(sources[0]) { c.graph.addv($0, $1) }
  }
}

/// `<dot>`: the inner product of two outputs of equal shape, per sample: one
/// value (a projection discriminator's <embed(y), phi(x)>, Miyato and Koyama 2018).
enum DotLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "dot",
      attributes: SpecSchema.layerCommon + [.init("inputs", .names, required: true, "the two ids whose inner product is taken")],
      children: .empty, summary: "the per-sample inner product of two outputs of equal shape")
  ]

  static let referenceAttribute = "inputs"

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let inputs = reader.readInputs(element, r)
    if inputs.count > 2 {
      reader.error(.outOfRange, "<dot> takes two ids in 'inputs', not \(inputs.count)", at: r.location("inputs"), help: "name the two outputs, such as inputs=\"embedded features\"")
    }
    return .dot(inputs: inputs)
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .dot(let names) = layer.op, shapes.count == 2 else { return nil }
    guard shapes[0] == shapes[1] else {
      inference.error(
        .shapeMismatch, "<dot> needs equal shapes, but '\(names[0])' has shape \(shapes[0].shapeText) and '\(names[1])' has \(shapes[1].shapeText)",
        at: layer.location(of: "inputs"), help: "give the embedding as many dimensions as the features, such as dim=\"\(Checked.product(shapes[1]) ?? 1)\"")
      return nil
    }
    return inference.make(layer, [1], flops: 2 * (Checked.product(shapes[0]) ?? 0))
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    let (a, b) = (c.sources[0], c.sources[1])
    let s = c.graph.shape(a)
    let product = c.graph.reshape(c.graph.mul(a, b), [s[0], s[1...].reduce(1, *)])
    return c.graph.sum(product, axes: [1])
  }
}
