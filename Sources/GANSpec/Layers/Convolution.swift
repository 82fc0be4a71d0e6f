import GANDiagnostics
import GANIR

/// `<conv2d>` and `<deconv2d>`: 2-D convolutions over C H W inputs and their
/// transposes (PyTorch's Conv2d and ConvTranspose2d).
enum ConvolutionLayer: LayerFamily {
  static let convAttributes: [AttributeDefinition] = [
    .init("filters", .count, required: true, "output channels"),
    .init("kernel", .pair, required: true, "kernel size: `4` or `4x3` (height x width)"),
    .init("stride", .pair, default: "1", "stride: `2` or `2x1`"),
    .init("padding", .padding, default: "0", "zero padding: a number, `HxW`, `same` or `valid`"),
    .init("dilation", .pair, default: "1", "kernel dilation"),
  ]

  static let elements = [
    ElementDefinition(
      name: "conv2d", attributes: SpecSchema.layerCommon + convAttributes + SpecSchema.fusedActivation + SpecSchema.weightAttributes,
      children: .empty, summary: "a 2-D convolution over a C H W input"),
    ElementDefinition(
      name: "deconv2d",
      attributes: SpecSchema.layerCommon + convAttributes + [
        .init("output-padding", .naturalPair, default: "0", "extra rows/columns on one side of the output")
      ] + SpecSchema.fusedActivation + SpecSchema.weightAttributes,
      children: .empty, summary: "a transposed convolution (PyTorch ConvTranspose2d)"),
  ]

  static func read(_ element: String, _ r: AttributeReader, _ reader: inout SpecReader) -> LayerOp {
    let transposed = element == "deconv2d"
    let padding: Padding
    switch r.raw("padding") {
    case "same": padding = .same
    case "valid": padding = .valid
    default: padding = .explicit(r.pair("padding"))
    }
    let stride = r.pair("stride"), dilation = r.pair("dilation")
    let outputPadding = transposed ? r.pair("output-padding") : .square(0)
    if transposed, r.raw("output-padding") != nil,
      outputPadding.h >= max(stride.h, dilation.h) || outputPadding.w >= max(stride.w, dilation.w)
    {
      reader.error(
        .outOfRange, "'output-padding' (\(outputPadding)) must be smaller than the stride or the dilation",
        at: r.location("output-padding"),
        help: "use an output padding below \(max(stride.h, dilation.h)), as PyTorch requires")
    }
    let options = ConvOptions(
      filters: r.int("filters"), kernel: r.pair("kernel"), stride: stride, padding: padding,
      dilation: dilation, outputPadding: outputPadding)
    let activation = reader.readActivation(r, key: "activation"), weights = reader.readWeights(r)
    return transposed ? .deconv2d(options, activation: activation, weights: weights) : .conv2d(options, activation: activation, weights: weights)
  }

  static let sizeAttribute = "filters"

  static func infer(_ layer: Layer, _ shapes: [Shape], _ inference: inout ShapeInference) -> CheckedLayer? {
    let c: ConvOptions, w: WeightOptions
    switch layer.op {
    case .conv2d(let o, _, let wo), .deconv2d(let o, _, let wo): (c, w) = (o, wo)
    default: return nil
    }
    let input = shapes.first ?? [1]
    guard inference.needImage(layer, input) else { return nil }
    let transposed = layer.element == "deconv2d"
    guard let (out, geometry) = outputShape(layer, c, input, transposed: transposed, &inference) else { return nil }
    let perFilter = Checked.product([input[0], c.kernel.h, c.kernel.w]) ?? -1
    let weights = Checked.multiply(perFilter, c.filters).flatMap { Checked.add($0, c.filters * (w.bias ? 1 : 0)) } ?? -1
    let spatial = transposed ? input[1] * input[2] : out[1] * out[2]
    let flops = Checked.product([2, perFilter, c.filters, spatial]) ?? 0
    return inference.make(layer, out, params: weights, flops: flops, geometry: geometry)
  }

  /// The output shape of a convolution and its resolved padding.
  static func outputShape(_ layer: Layer, _ c: ConvOptions, _ input: Shape, transposed: Bool, _ inference: inout ShapeInference) -> (Shape, ConvGeometry)? {
    var out = [c.filters, 0, 0]
    var pads = [(0, 0), (0, 0)]
    let kernel = [c.kernel.h, c.kernel.w], stride = [c.stride.h, c.stride.w], dilation = [c.dilation.h, c.dilation.w]
    let extra = [c.outputPadding.h, c.outputPadding.w]
    for axis in 0..<2 {
      let size = input[axis + 1]
      guard let span = Checked.multiply(dilation[axis], kernel[axis] - 1).flatMap({ Checked.add($0, 1) }) else { return nil }
      var n: Int
      switch c.padding {
      case .explicit(let p):
        let pad = axis == 0 ? p.h : p.w
        pads[axis] = (pad, pad)
        n =
          transposed
          ? (size - 1) * stride[axis] - 2 * pad + span + extra[axis]
          : (size + 2 * pad - span) / stride[axis] + 1
        if !transposed && size + 2 * pad - span < 0 { n = 0 }
      case .valid:
        n = transposed ? (size - 1) * stride[axis] + span + extra[axis] : (size - span) / stride[axis] + 1
        if !transposed && size - span < 0 { n = 0 }
      case .same:
        if transposed {
          n = size * stride[axis]
          let total = span + extra[axis] - stride[axis]
          guard total >= 0 else {
            inference.error(
              .outOfRange, "padding=\"same\" on <deconv2d> needs a kernel at least as large as the stride", at: layer.location(of: "padding"),
              help: "use a kernel of at least \(stride[axis]), or explicit padding")
            return nil
          }
          pads[axis] = (total / 2, total - total / 2)
        } else {
          n = (size + stride[axis] - 1) / stride[axis]
          let total = max((n - 1) * stride[axis] + span - size, 0)
          pads[axis] = (total / 2, total - total / 2)
        }
      }
      guard n >= 1 else {
        let what = axis == 0 ? "height" : "width"
        inference.error(
          .nonPositiveSize,
          "<\(layer.element)> leaves no output: kernel \(c.kernel) (dilation \(c.dilation)) does not fit the input \(what) \(size) with this padding",
          at: layer.location(of: "kernel"), help: "use a smaller kernel or more padding, or remove a downsampling layer before it")
        return nil
      }
      out[axis + 1] = n
    }
    return (out, ConvGeometry(padTop: pads[0].0, padBottom: pads[0].1, padLeft: pads[1].0, padRight: pads[1].1))
  }

  static func spectralDimension(_ layer: Layer) -> Int { layer.element == "deconv2d" ? 1 : 0 }

  static func parameters(_ entry: CheckedLayer) -> [LayerParameter] {
    let inShape = entry.inputShapes.first ?? []
    switch entry.layer.op {
    case .conv2d(let c, _, let w):
      let fanIn = inShape[0] * c.kernel.h * c.kernel.w
      return weightParameters([c.filters, inShape[0], c.kernel.h, c.kernel.w], fanIn: fanIn, fanOut: c.filters * c.kernel.h * c.kernel.w, w, biasSize: c.filters)
    case .deconv2d(let c, _, let w):
      // PyTorch's ConvTranspose2d computes fan-in from weight.size(1) = out channels.
      let fanIn = c.filters * c.kernel.h * c.kernel.w
      return weightParameters([inShape[0], c.filters, c.kernel.h, c.kernel.w], fanIn: fanIn, fanOut: inShape[0] * c.kernel.h * c.kernel.w, w, biasSize: c.filters)
    default: return []
    }
  }

  static func lower(_ entry: CheckedLayer, _ c: inout LayerLowering) throws -> ValueID {
    let geometry = entry.geometry!
    let x = c.x
    switch entry.layer.op {
    case .conv2d(let o, let activation, let w):
      let attributes = ConvAttributes(
        stride: (o.stride.h, o.stride.w),
        padding: (geometry.padTop, geometry.padBottom, geometry.padLeft, geometry.padRight), dilation: (o.dilation.h, o.dilation.w))
      let weight = c.parameter("weight", [o.filters, c.graph.shape(x)[1], o.kernel.h, o.kernel.w])
      let y = try c.graph.add(.conv(attributes), [x, weight])
      return c.finish(y, bias: o.filters, w, activation)
    case .deconv2d(let o, let activation, let w):
      let inH = c.graph.shape(x)[2], inW = c.graph.shape(x)[3]
      let spanH = o.dilation.h * (o.kernel.h - 1) + 1, spanW = o.dilation.w * (o.kernel.w - 1) + 1
      // As the adjoint of a convolution from the output back to the input.
      let bottom = (inH - 1) * o.stride.h + spanH - c.outShape[2] - geometry.padTop
      let right = (inW - 1) * o.stride.w + spanW - c.outShape[3] - geometry.padLeft
      let attributes = ConvAttributes(
        stride: (o.stride.h, o.stride.w),
        padding: (geometry.padTop, bottom, geometry.padLeft, right), dilation: (o.dilation.h, o.dilation.w))
      let weight = c.parameter("weight", [c.graph.shape(x)[1], o.filters, o.kernel.h, o.kernel.w])
      let y = try c.graph.add(.convTranspose(attributes), [x, weight], shape: c.outShape)
      return c.finish(y, bias: o.filters, w, activation)
    default:
      throw IRError("not a convolution")
    }
  }
}
