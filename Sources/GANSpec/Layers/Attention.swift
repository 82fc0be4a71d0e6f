import GANDiagnostics
import GANIR

/// `<attention>`: self-attention over the positions of C H W feature maps
/// (SAGAN, Zhang et al. 2019): 1x1 convolutions make queries and keys of
/// C/reduction channels and values of C; each position's output is the
/// softmax-weighted sum of the values over all positions, added to the input
/// through a learned scale `gamma` that starts at 0. Parameters are named as
/// SAGAN's PyTorch code names them (query_conv, key_conv, value_conv, gamma).
enum AttentionLayer: LayerFamily {
  static let elements = [
    ElementDefinition(
      name: "attention",
      attributes: SpecSchema.layerCommon + [
        .init("reduction", .count, default: "8", "queries and keys have channels / reduction channels (at least 1)")
      ] + SpecSchema.spectralNormAttributes,
      children: .empty, summary: "self-attention over the positions of C H W maps, added to its input by a learned scale starting at 0 (SAGAN)")
  ]

  static let keepsShape = true

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    .attention(reduction: r.int("reduction"))
  }

  /// Query and key channels for `channels` input channels.
  static func keyChannels(_ channels: Int, _ reduction: Int) -> Int { max(1, channels / max(reduction, 1)) }

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    guard case .attention(let reduction) = layer.op else { return nil }
    let input = shapes.first ?? [1]
    guard inference.needImage(layer, input) else { return nil }
    let (c, n) = (input[0], input[1] * input[2])
    let k = keyChannels(c, reduction)
    // The batch's N x N attention maps must fit in a tensor, as every value must.
    guard let square = Checked.multiply(n, n), let maps = Checked.multiply(square, 4 * inference.batch), maps <= ShapeInference.maximumTensorBytes,
      let params = Checked.multiply(c, 2 * k + c).flatMap({ Checked.add($0, 2 * k + c + 1) })
    else {
      inference.error(
        .tooLarge, "attention over \(n) positions makes \(n) x \(n) maps per sample, too large for a batch of \(inference.batch)", at: layer.location,
        help: "attend over smaller feature maps (after downsampling), or use a smaller batch")
      return nil
    }
    let flops = (Checked.multiply(square, 2 * (k + c)) ?? 0) + 2 * n * c * (2 * k + c)
    return inference.make(layer, input, params: params, flops: flops)
  }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    guard case .attention(let reduction) = entry.layer.op else { return [] }
    let c = (entry.inputShapes.first ?? [1])[0], k = keyChannels(c, reduction)
    let plain = WeightOptions(bias: true, initializer: .default)
    func conv(_ name: String, _ out: Int) -> [LayerParameter] {
      weightParameters([out, c, 1, 1], fanIn: c, fanOut: out, plain, biasSize: out).map {
        LayerParameter(name + "." + $0.suffix, $0.shape, $0.initialization)
      }
    }
    return conv("query_conv", k) + conv("key_conv", k) + conv("value_conv", c) + [LayerParameter("gamma", [1], .constant(0))]
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    guard case .attention(let reduction) = entry.layer.op else { throw IRError("not an attention layer") }
    let x = c.x
    let shape = c.graph.shape(x)
    let (b, channels, n) = (shape[0], shape[1], shape[2] * shape[3])
    let k = keyChannels(channels, reduction)
    let pointwise = ConvAttributes(stride: (1, 1), padding: (0, 0, 0, 0), dilation: (1, 1))
    func project(_ name: String, _ out: Int, _ c: inout LayerLowering) throws -> ValueID {
      let weight = c.parameter(name + ".weight", [out, channels, 1, 1])
      let y = c.addBias(try c.graph.add(.conv(pointwise), [x, weight]), c.parameter(name + ".bias", [out]))
      return c.graph.reshape(y, [b, out, n])
    }
    let query = try project("query_conv", k, &c), key = try project("key_conv", k, &c), value = try project("value_conv", channels, &c)
    // energy[b, i, j] = q_i . k_j; each row's softmax (the row maximum
    // subtracted without gradient, which cancels out of the softmax).
    let energy = try c.graph.add(.matmul(transposeA: true, transposeB: false), [query, key])
    let top = try c.graph.add(.stopGradient, [try c.graph.add(.reduceMax(axes: [2]), [energy])])
    let e = c.graph.unary(.exp, c.graph.sub(energy, c.graph.broadcast(top, [b, n, n])))
    let attention = c.graph.div(e, c.graph.broadcast(c.graph.sum(e, axes: [2]), [b, n, n]))
    // out[b, c, i] = sum_j v[b, c, j] attention[b, i, j].
    let out = try c.graph.add(.matmul(transposeA: false, transposeB: true), [value, attention])
    let gamma = c.graph.broadcast(c.graph.reshape(c.parameter("gamma", [1]), [1, 1, 1, 1]), shape)
    return c.graph.addv(x, c.graph.mul(gamma, c.graph.reshape(out, shape)))
  }
}
