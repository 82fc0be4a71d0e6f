import GANDiagnostics

/// Infers the shape of every layer of one network, resolving `id`/`input`
/// references and checking every layer's rules on the way.
struct ShapeInference {
  /// The largest tensor any value may be, batch included: 4 GiB of floats.
  static let maximumTensorBytes = 1 << 32
  /// The most learned parameters a net may hold.
  static let maximumParameters = 1 << 30

  let network: NetworkSpec
  /// The shapes of the net's inputs that exist (`z`/`x`, and `label` when conditional).
  let inputs: [String: Shape]
  /// Samples per batch this net sees, for size checks.
  let batch: Int
  var diagnostics: [Diagnostic] = []

  init(network: NetworkSpec, inputs: [String: Shape], batch: Int) {
    self.network = network
    self.inputs = inputs
    self.batch = batch
  }

  private mutating func error(_ id: DiagnosticID, _ message: String, at location: SourceLocation, notes: [DiagnosticNote] = [], help: String) {
    diagnostics.append(.error(id, message, at: location, notes: notes, help: help))
  }

  /// Runs inference; nil output shape when some layer failed.
  mutating func run() -> CheckedNetwork? {
    let layers = network.layers
    let role = network.role
    guard !layers.isEmpty else {
      error(
        .emptyNetwork, "the \(role.rawValue) has no layers", at: network.location,
        help: role == .generator ? "add layers mapping z to a sample, ending in the data's shape" : "add layers ending in <dense units=\"1\"/>")
      return nil
    }
    // Ids: unique, and not the name of an input.
    var ids: [String: Int] = [:]
    for (i, layer) in layers.enumerated() {
      guard let id = layer.id else { continue }
      if ["z", "x", "label"].contains(id) {
        error(
          .reservedID, "'\(id)' names a net input and cannot be a layer id", at: layer.location(of: "id"),
          help: "choose another id, such as '\(id)1'")
      } else if let first = ids[id] {
        error(
          .duplicateID, "the id '\(id)' is used twice in the \(role.rawValue)", at: layer.location(of: "id"),
          notes: [DiagnosticNote("first used here", at: layers[first].location(of: "id"))], help: "give each layer its own id")
      } else {
        ids[id] = i
      }
    }
    var checked: [CheckedLayer?] = []
    var consumed = Set<Int>()
    for (i, layer) in layers.enumerated() {
      // Resolve inputs.
      var refs: [NodeRef] = []
      var ok = true
      let explicit = layer.references
      let attribute = layer.element == "concat" || layer.element == "add" ? "inputs" : "input"
      if explicit.isEmpty {
        if case .embedding = layer.op {
          refs = [.input("label")]
        } else {
          refs = [i == 0 ? .input(role.inputName) : .layer(i - 1)]
        }
      }
      for name in explicit {
        if let j = ids[name] {
          if j < i {
            refs.append(.layer(j))
          } else {
            ok = false
            error(
              .forwardReference, "'\(name)' is defined by a later layer", at: layer.location(of: attribute),
              notes: [DiagnosticNote("'\(name)' is defined here", at: layers[j].location)],
              help: "layers run in document order: move this layer after '\(name)'")
          }
        } else if inputs[name] != nil {
          refs.append(.input(name))
        } else if name == "label" {
          ok = false
          error(
            .labelMisuse, "'label' is an input only when training is conditional", at: layer.location(of: attribute),
            help: "set conditional=\"true\" on <training> with a labelled data set")
        } else if name == "z" || name == "x" {
          ok = false
          let other = name == "z" ? "generator" : "discriminator"
          error(
            .unknownReference, "the \(role.rawValue) has no input '\(name)'; only the \(other) does", at: layer.location(of: attribute),
            help: "the \(role.rawValue)'s input is '\(role.inputName)'")
        } else {
          ok = false
          let candidates = Array(ids.keys) + Array(inputs.keys)
          error(
            .unknownReference, "no layer has the id '\(name)'", at: layer.location(of: attribute),
            help: Suggestion.help(for: name, in: candidates.sorted(), what: "id"))
        }
      }
      for case .layer(let j) in refs { consumed.insert(j) }
      // label is an integer: only an embedding reads it, and an embedding reads only it.
      if case .embedding = layer.op {
        if ok, refs != [.input("label")] {
          ok = false
          error(
            .labelMisuse, "<embedding> reads class ids and must read 'label'", at: layer.location(of: "input"),
            help: "delete input=\"...\" so that it reads 'label'")
        } else if inputs["label"] == nil && explicit.isEmpty {
          ok = false
          error(
            .labelMisuse, "<embedding> reads 'label', which exists only when training is conditional", at: layer.location,
            help: "set conditional=\"true\" on <training> with a labelled data set")
        }
      } else if refs.contains(.input("label")) {
        ok = false
        error(
          .labelMisuse, "<\(layer.element)> cannot read 'label' directly: it holds integer class ids", at: layer.location(of: attribute),
          help: "map the label through <embedding classes=\"10\" dim=\"16\"/> first")
      }
      var shapes: [Shape] = []
      for ref in refs {
        switch ref {
        case .input(let name): shapes.append(inputs[name] ?? [1])
        case .layer(let j):
          if let s = checked[j]?.outputShape { shapes.append(s) } else { ok = false }
        }
      }
      guard ok, let result = infer(layer, shapes) else {
        checked.append(nil)
        continue
      }
      var entry = result
      entry.inputs = refs
      entry.inputShapes = shapes
      // Size checks: the output tensor over the whole batch, and the parameters.
      let elements = Checked.product(entry.outputShape).flatMap { Checked.multiply($0, batch) }.flatMap { Checked.multiply($0, 4) }
      if elements == nil || elements! > Self.maximumTensorBytes {
        error(
          .tooLarge, "<\(layer.element)> makes a tensor of \(entry.outputShape.shapeText) per sample, too large for a batch of \(batch)",
          at: layer.location(of: sizeAttribute(layer)), help: "a tensor may hold at most 4 GiB; shrink this layer or the batch")
        checked.append(nil)
        continue
      }
      if entry.parameterCount < 0 || entry.parameterCount > Self.maximumParameters {
        error(
          .tooLarge, "<\(layer.element)> would hold more than \(Self.maximumParameters) parameters", at: layer.location(of: sizeAttribute(layer)),
          help: "shrink this layer")
        checked.append(nil)
        continue
      }
      checked.append(entry)
    }
    // Outputs that nothing reads (other than the last layer's) are suspicious.
    for (i, layer) in layers.enumerated().dropLast() where !consumed.contains(i) && checked[i] != nil {
      diagnostics.append(
        .warning(
          .unusedOutput, "the output of this <\(layer.element)> is never used", at: layer.location,
          help: "read it from a later layer with input=\"...\", or delete the layer"))
    }
    guard checked.allSatisfy({ $0 != nil }), let last = checked.last! else { return nil }
    return CheckedNetwork(role: role, layers: checked.map { $0! }, inputs: inputs, outputShape: last.outputShape)
  }

  private func sizeAttribute(_ layer: Layer) -> String {
    switch layer.op {
    case .dense, .maxout: return "units"
    case .conv2d, .deconv2d: return "filters"
    case .reshape: return "shape"
    case .upsample: return "scale"
    case .embedding: return "dim"
    default: return ""
    }
  }

  private func make(_ layer: Layer, _ shape: Shape, params: Int = 0, flops: Int? = nil, geometry: ConvGeometry? = nil) -> CheckedLayer {
    CheckedLayer(
      layer: layer, inputs: [], inputShapes: [], outputShape: shape, parameterCount: params,
      flops: flops ?? (Checked.product(shape) ?? 0), geometry: geometry)
  }

  private mutating func needImage(_ layer: Layer, _ shape: Shape) -> Bool {
    guard shape.count == 3 else {
      let count = Checked.product(shape) ?? 0
      let hint = count > 0 ? guessImage(count).map { " such as <reshape shape=\"\($0.shapeText)\"/>" } ?? "" : ""
      error(
        .rankMismatch, "<\(layer.element)> needs a C H W input, but its input has shape \(shape.shapeText)",
        at: layer.location, help: "reshape the input to channels x height x width first\(hint)")
      return false
    }
    return true
  }

  private func guessImage(_ count: Int) -> Shape? {
    for c in [1, 3, 128, 256, 64, 512, 32, 16] where count % c == 0 {
      let hw = count / c
      let side = Int(Double(hw).squareRoot().rounded())
      if side * side == hw { return [c, side, side] }
    }
    return nil
  }

  private mutating func infer(_ layer: Layer, _ shapes: [Shape]) -> CheckedLayer? {
    let input = shapes.first ?? [1]
    let inCount = Checked.product(input) ?? 0
    let bias: (WeightOptions) -> Int = { $0.bias ? 1 : 0 }
    switch layer.op {
    case .dense(let units, _, let w):
      let weights = Checked.multiply(inCount, units).flatMap { Checked.add($0, units * bias(w)) } ?? -1
      return make(layer, [units], params: weights, flops: weights > 0 ? 2 * weights : 0)
    case .maxout(let units, let pieces, let w):
      guard let outs = Checked.multiply(units, pieces) else {
        error(.tooLarge, "units x pieces overflows", at: layer.location(of: "pieces"), help: "use fewer units or pieces")
        return nil
      }
      let weights = Checked.multiply(inCount, outs).flatMap { Checked.add($0, outs * bias(w)) } ?? -1
      return make(layer, [units], params: weights, flops: weights > 0 ? 2 * weights : 0)
    case .conv2d(let c, _, let w), .deconv2d(let c, _, let w):
      guard needImage(layer, input) else { return nil }
      let transposed = layer.element == "deconv2d"
      guard let (out, geometry) = convOutput(layer, c, input, transposed: transposed) else { return nil }
      let perFilter = Checked.product([input[0], c.kernel.h, c.kernel.w]) ?? -1
      let weights = Checked.multiply(perFilter, c.filters).flatMap { Checked.add($0, c.filters * bias(w)) } ?? -1
      let spatial = transposed ? input[1] * input[2] : out[1] * out[2]
      let flops = Checked.product([2, perFilter, c.filters, spatial]) ?? 0
      return make(layer, out, params: weights, flops: flops, geometry: geometry)
    case .batchnorm(_, _, let affine):
      return make(layer, input, params: affine ? 2 * input[0] : 0, flops: 4 * inCount)
    case .layernorm(_, let affine):
      return make(layer, input, params: affine ? 2 * inCount : 0, flops: 5 * inCount)
    case .activation, .dropout:
      return make(layer, input)
    case .reshape(let shape):
      let count = Checked.product(shape)
      guard count == inCount else {
        error(
          .reshapeCount, "cannot reshape \(input.shapeText) (\(inCount) elements) to \(shape.shapeText) (\(count.map(String.init) ?? "too many") elements)",
          at: layer.location(of: "shape"), help: "the new shape must hold the same number of elements, \(inCount)")
        return nil
      }
      return make(layer, shape, flops: 0)
    case .flatten:
      return make(layer, [inCount], flops: 0)
    case .upsample(let scale):
      guard needImage(layer, input) else { return nil }
      guard let h = Checked.multiply(input[1], scale), let w = Checked.multiply(input[2], scale) else {
        error(.tooLarge, "upsampling by \(scale) overflows", at: layer.location(of: "scale"), help: "use a small scale such as 2")
        return nil
      }
      return make(layer, [input[0], h, w])
    case .concat(let names, let axis):
      let rank = input.count
      guard shapes.allSatisfy({ $0.count == rank }) else {
        error(
          .rankMismatch, "<concat> joins inputs of different ranks: " + shapes.map { "(\($0.shapeText))" }.joined(separator: ", "),
          at: layer.location(of: "inputs"), help: "flatten or reshape the inputs to the same rank first")
        return nil
      }
      guard axis >= -rank && axis < rank else {
        error(
          .outOfRange, "axis \(axis) is outside the \(rank) feature axes of the inputs", at: layer.location(of: "axis"),
          help: "use an axis from 0 to \(rank - 1) (or -\(rank) to -1)")
        return nil
      }
      let a = axis < 0 ? axis + rank : axis
      for (k, s) in shapes.enumerated() {
        for d in 0..<rank where d != a && s[d] != input[d] {
          error(
            .shapeMismatch, "<concat> along axis \(a) needs the other axes to match, but '\(names[k])' has shape \(s.shapeText) and '\(names[0])' has \(input.shapeText)",
            at: layer.location(of: "inputs"), help: "reshape the inputs so every axis but \(a) matches")
          return nil
        }
      }
      var out = input
      out[a] = shapes.reduce(0) { $0 + $1[a] }
      return make(layer, out, flops: 0)
    case .add(let names):
      for (k, s) in shapes.enumerated() where s != input {
        error(
          .shapeMismatch, "<add> needs equal shapes, but '\(names[k])' has shape \(s.shapeText) and '\(names[0])' has \(input.shapeText)",
          at: layer.location(of: "inputs"), help: "add outputs of the same shape")
        return nil
      }
      return make(layer, input, flops: inCount * (shapes.count - 1))
    case .embedding(let classes, let dim):
      guard let params = Checked.multiply(classes, dim) else {
        error(.tooLarge, "classes x dim overflows", at: layer.location(of: "dim"), help: "use a smaller embedding")
        return nil
      }
      return make(layer, [dim], params: params, flops: 0)
    }
  }

  /// The output shape of a convolution and its resolved padding.
  private mutating func convOutput(_ layer: Layer, _ c: ConvOptions, _ input: Shape, transposed: Bool) -> (Shape, ConvGeometry)? {
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
            error(
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
        error(
          .nonPositiveSize, "<\(layer.element)> leaves no output: kernel \(c.kernel) (dilation \(c.dilation)) does not fit the input \(what) \(size) with this padding",
          at: layer.location(of: "kernel"), help: "use a smaller kernel or more padding, or remove a downsampling layer before it")
        return nil
      }
      out[axis + 1] = n
    }
    return (out, ConvGeometry(padTop: pads[0].0, padBottom: pads[0].1, padLeft: pads[1].0, padRight: pads[1].1))
  }
}
