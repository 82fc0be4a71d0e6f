import GANDiagnostics
import GANIR

/// `<dense>`: a fully connected layer (PyTorch's Linear), flattening its input.
enum DenseLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "dense",
      attributes: SpecSchema.layerCommon + [.init("units", .count, required: true, "output features")]
        + SpecSchema.fusedActivation + SpecSchema.weightAttributes,
      children: .empty, summary: "a fully connected layer; flattens its input")
  ]

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .dense(units: r.int("units"), activation: reader.readActivation(r, key: "activation"), weights: reader.readWeights(r))
  }

  static let sizeAttribute = "units"

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .dense(let units, _, let w) = layer.op else { return nil }
    let inCount = Checked.product(shapes.first ?? [1]) ?? 0
    let weights = Checked.multiply(inCount, units).flatMap { Checked.add($0, units * (w.bias ? 1 : 0)) } ?? -1
    return inference.make(layer, [units], params: weights, flops: weights > 0 ? 2 * weights : 0)
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard case .dense(let units, _, let w) = entry.layer.op else { return [] }
    let fanIn = (entry.inputShapes.first ?? []).reduce(1, *)
    return weightParameters([units, fanIn], fanIn: fanIn, fanOut: units, w, biasSize: units)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .dense(let units, let activation, let w) = entry.layer.op else { throw IRError("not a dense layer") }
    let batch = c.outShape[0]
    let flat = c.graph.reshape(c.x, [batch, c.graph.shape(c.x).dropFirst().reduce(1, *)])
    let weight = c.parameter("weight", [units, c.graph.shape(flat)[1]])
    let y = try c.graph.add(.matmul(transposeA: false, transposeB: true), [flat, weight])
    return c.finish(y, bias: units, w, activation)
  }
}

/// `<maxout>`: dense to units x pieces, then the largest of each unit's pieces.
enum MaxoutLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "maxout",
      attributes: SpecSchema.layerCommon + [
        .init("units", .count, required: true, "output features"),
        .init("pieces", .count, required: true, "linear pieces per unit"),
      ] + SpecSchema.weightAttributes,
      children: .empty, summary: "dense to units*pieces, then the max of each group of pieces")
  ]

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .maxout(units: r.int("units"), pieces: r.int("pieces"), weights: reader.readWeights(r))
  }

  static let sizeAttribute = "units"

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .maxout(let units, let pieces, let w) = layer.op else { return nil }
    let inCount = Checked.product(shapes.first ?? [1]) ?? 0
    guard let outs = Checked.multiply(units, pieces) else {
      inference.error(.tooLarge, "units x pieces overflows", at: layer.location(of: "pieces"), help: "use fewer units or pieces")
      return nil
    }
    let weights = Checked.multiply(inCount, outs).flatMap { Checked.add($0, outs * (w.bias ? 1 : 0)) } ?? -1
    return inference.make(layer, [units], params: weights, flops: weights > 0 ? 2 * weights : 0)
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard case .maxout(let units, let pieces, let w) = entry.layer.op else { return [] }
    let fanIn = (entry.inputShapes.first ?? []).reduce(1, *)
    return weightParameters([units * pieces, fanIn], fanIn: fanIn, fanOut: units * pieces, w, biasSize: units * pieces)
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .maxout(let units, let pieces, let w) = entry.layer.op else { throw IRError("not a maxout layer") }
    let batch = c.outShape[0]
    let flat = c.graph.reshape(c.x, [batch, c.graph.shape(c.x).dropFirst().reduce(1, *)])
    let weight = c.parameter("weight", [units * pieces, c.graph.shape(flat)[1]])
    var y = try c.graph.add(.matmul(transposeA: false, transposeB: true), [flat, weight])
    y = c.finish(y, bias: units * pieces, w, nil)
    let grouped = c.graph.reshape(y, [batch, units, pieces])
    return c.graph.reshape(try c.graph.add(.reduceMax(axes: [2]), [grouped]), [batch, units])
  }
}
