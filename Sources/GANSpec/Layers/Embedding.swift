import GANDiagnostics
import GANIR

/// `<embedding>`: a learned vector per class id, reading `label`.
enum EmbeddingLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "embedding",
      attributes: SpecSchema.layerCommon + [
        .init("classes", .count, required: true, "number of class ids"),
        .init("dim", .count, required: true, "vector size"),
      ] + SpecSchema.spectralNormAttributes, children: .empty, summary: "a learned vector per class id; reads `label`")
  ]

  static let sizeAttribute = "dim"
  static let readsLabelByDefault = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .embedding(classes: r.int("classes"), dim: r.int("dim"))
  }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .embedding(let classes, let dim) = layer.op else { return nil }
    guard let params = Checked.multiply(classes, dim) else {
      inference.error(.tooLarge, "classes x dim overflows", at: layer.location(of: "dim"), help: "use a smaller embedding")
      return nil
    }
    return inference.make(layer, [dim], params: params, flops: 0)
  }

  static func check(_ entry: CheckedLayer, classes: Int?, into diagnostics: inout [Diagnostic]) {
    guard let classes, case .embedding(let n, _) = entry.layer.op, n < classes else { return }
    diagnostics.append(
      .error(
        .dataLabels, "the embedding has \(n) classes, but the labels go up to \(classes - 1)",
        at: entry.layer.location(of: "classes"), help: "use classes=\"\(classes)\""))
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard case .embedding(let classes, let dim) = entry.layer.op else { return [] }
    return [LayerParameter("weight", [classes, dim], .normal(std: 1))]
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .embedding(let classes, let dim) = entry.layer.op else { throw IRError("not an embedding layer") }
    let table = c.parameter("weight", [classes, dim])
    return try c.graph.add(.gather, [table, c.x])
  }
}
