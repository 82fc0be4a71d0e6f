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

  mutating func error(_ id: DiagnosticID, _ message: String, at location: SourceLocation, notes: [DiagnosticNote] = [], help: String) {
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
      let before = diagnostics.count
      defer { diagnostics.noteExpansion(from: before, layer.expansion) }
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
      // What goes wrong in an expanded block says which use expanded it.
      let before = diagnostics.count
      defer { diagnostics.noteExpansion(from: before, layer.expansion) }
      // Resolve inputs.
      var refs: [NodeRef] = []
      var ok = true
      let explicit = layer.references
      let family = layer.family
      let attribute = family.referenceAttribute
      if explicit.isEmpty {
        if family.readsLabelByDefault {
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
        } else if name == Layer.netInputReference {
          refs.append(.input(role.inputName))
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
      if family.readsLabelByDefault {
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
      if family.readsLabelToo(layer) {
        if inputs["label"] == nil {
          ok = false
          error(
            .labelMisuse, "<\(layer.element) classes=\"...\"> reads 'label', which exists only when training is conditional", at: layer.location(of: "classes"),
            help: "set conditional=\"true\" on <training> with a labelled data set, or delete classes=\"...\" for plain batch norm")
        } else {
          refs.append(.input("label"))
        }
      }
      var shapes: [Shape] = []
      for ref in refs {
        switch ref {
        case .input(let name): shapes.append(inputs[name] ?? [1])
        case .layer(let j):
          if let s = checked[j]?.outputShape { shapes.append(s) } else { ok = false }
        }
      }
      guard ok, let result = family.infer(layer, shapes, &self) else {
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
      defer { diagnostics.noteExpansion(from: diagnostics.count - 1, layer.expansion) }
      diagnostics.append(
        .warning(
          .unusedOutput, "the output of this <\(layer.element)> is never used", at: layer.location,
          help: "read it from a later layer with input=\"...\", or delete the layer"))
    }
    guard checked.allSatisfy({ $0 != nil }), let last = checked.last! else { return nil }
    return CheckedNetwork(role: role, layers: checked.map { $0! }, inputs: inputs, outputShape: last.outputShape)
  }

  private func sizeAttribute(_ layer: Layer) -> String { layer.family.sizeAttribute }

  func make(_ layer: Layer, _ shape: Shape, params: Int = 0, flops: Int? = nil, geometry: ConvGeometry? = nil) -> CheckedLayer {
    CheckedLayer(
      layer: layer, inputs: [], inputShapes: [], outputShape: shape, parameterCount: params,
      flops: flops ?? (Checked.product(shape) ?? 0), geometry: geometry)
  }

  mutating func needImage(_ layer: Layer, _ shape: Shape) -> Bool {
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
}
