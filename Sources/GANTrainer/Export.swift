import Foundation
import GANCompiler
import GANIR
import GANSpec

/// A generator that cannot be written in the asked format.
public struct ExportError: Error, CustomStringConvertible, Sendable {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// `ganc export`: the trained generator (a classifier run: the classifier)
/// for other tools.
///
/// ONNX: the generator's inference program (EMA weights when the run kept
/// them, batch norm from its running statistics, spectral norm from the
/// stored u and v), lowered and simplified but not fused, translated op by op
/// into ONNX opset 17. Everything that does not depend on the inputs (a
/// spectrally normalised weight, batch norm's scale and shift) is evaluated
/// once in float64 and stored as one initializer, so the file holds the
/// weights a deployment uses. The batch size is symbolic: the program is
/// lowered at two batch sizes and every axis that follows the batch becomes
/// `batch` (a multiple of it in reshapes). Inputs: `z` [batch, latent] float32
/// and, for a conditional generator, `label` [batch] int64; output `samples`
/// [batch, data shape] in the data's original units (a table's standardisation undone).
/// A classifier run (a judge) exports its net: input `x` [batch, data shape],
/// outputs `logits` and `features` (what a judge measures generators with).
public enum GeneratorExport {
  /// ONNX's opset and the IR version that goes with it.
  public static let opset = 17
  static let irVersion = 8

  /// The model's inputs and output, for messages.
  public struct Signature: Sendable {
    public var inputs: [String]
    public var output: String
    public var parameters: Int
  }

  /// The generator's (a classifier run: the classifier's) learned tensors
  /// and buffers under their own names (EMA weights in place of the live
  /// ones when kept): a PyTorch `state_dict` of the net, as
  /// `safetensors.torch.load_file` reads it.
  public static func netTensors(_ trainer: Trainer) throws -> [(name: String, shape: [Int], values: [Float])] {
    let averaged = trainer.training.ema != nil
    let net: NetworkRole = trainer.isClassifier ? .classifier : .generator
    var out: [(name: String, shape: [Int], values: [Float])] = []
    for p in trainer.model.persistent where p.net == net && p.role == .network {
      let source = averaged && p.trainable ? TrainingGraphBuilder.averageName(p.name) : p.name
      guard let buffer = trainer.runtime.persistent(source) else { throw ExportError("the checkpoint lacks \(source)") }
      // G's own state_dict names: what `G.load_state_dict(load_file(path))` expects.
      out.append((Translation.ownName(p.name), p.shape, Array(buffer)))
    }
    guard !out.isEmpty else { throw ExportError("\(trainer.checked.spec.name) has no generator") }
    return out
  }

  /// The ONNX model's bytes and what it takes and gives.
  public static func onnx(_ trainer: Trainer) throws -> (bytes: [UInt8], signature: Signature) {
    let spec = trainer.checked, averaged = trainer.training.ema != nil
    let two = try Compiler.exportedProgram(spec, batch: 2, ema: averaged)
    let three = try Compiler.exportedProgram(spec, batch: 3, ema: averaged)
    let dims = try batchAxes(two.graph, three.graph)
    var builder = ONNXGraphBuilder()
    let translation = try Translation(program: two, dims: dims, trainer: trainer)
    let results = try translation.emit(into: &builder)
    let latent = spec.spec.latent
    func text(_ d: [Dimension]) -> String {
      "[" + d.map { if case .fixed(let n) = $0 { return String(n) } else { return "batch" } }.joined(separator: ", ") + "]"
    }
    let data: [Dimension] = [.batch(multiple: 1)] + spec.data.shape.map { .fixed($0) }
    var inputs: [(name: String, type: Int, dims: [Dimension])] = []
    for input in two.inputs {
      switch input.kind {
      case .latent: inputs.append(("z", ONNXGraphBuilder.float, [.batch(multiple: 1), .fixed(latent.size)]))
      case .generatedLabels: inputs.append(("label", ONNXGraphBuilder.int64, [.batch(multiple: 1)]))
      default: inputs.append(("x", ONNXGraphBuilder.float, data))
      }
    }
    let outputs = results.map { ($0.name, ONNXGraphBuilder.float, $0.dims) }
    let units = spec.data.shape.count == 3 ? "the data's units ([-1, 1] pixels)" : "the data's units"
    let doc =
      trainer.isClassifier
      ? "The classifier \(spec.spec.name), step \(trainer.step), exported by ganc. x: \(text(data)) samples in \(units); "
        + "logits: [batch, classes] (softmax gives the class probabilities); features: the layer before the last, as a judge uses them."
      : "The generator of \(spec.spec.name), step \(trainer.step)\(averaged ? " (EMA weights)" : ""), exported by ganc. "
        + "z: [batch, \(latent.size)] \(latent.distribution == .uniform ? "uniform in [-1, 1]" : "standard normal") noise"
        + (spec.spec.training.conditional ? "; label: [batch] class ids in 0..<\(trainer.dataset.classes ?? 1)" : "")
        + "; samples: \(text(data)) in \(units)."
    var graph: [UInt8] = builder.nodes.flatMap { Proto.bytes(1, $0) }
    graph += Proto.string(2, spec.spec.name)
    graph += builder.initializers.flatMap { Proto.bytes(5, $0) }
    graph += Proto.string(10, doc)
    graph += inputs.flatMap { Proto.bytes(11, valueInfo($0.name, elementType: $0.type, dims: $0.dims)) }
    graph += outputs.flatMap { Proto.bytes(12, valueInfo($0.0, elementType: $0.1, dims: $0.2)) }
    let metadata: [(String, String)] =
      [("ganc.spec", spec.spec.name), ("ganc.step", String(trainer.step)), ("ganc.ema", String(averaged))]
      + (trainer.isClassifier
        ? [("ganc.classes", String(trainer.dataset.classes ?? 0))]
        : [
          ("ganc.latent", "\(latent.size) \(latent.distribution == .uniform ? "uniform" : "normal")"),
          ("ganc.classes", String(spec.spec.training.conditional ? trainer.dataset.classes ?? 1 : 0)),
        ])
    var model = Proto.varint(1, UInt64(irVersion)) + Proto.string(2, "ganc") + Proto.string(3, "1")
    model += Proto.string(6, doc) + Proto.bytes(7, graph)
    model += Proto.bytes(8, Proto.string(1, "") + Proto.varint(2, UInt64(opset)))
    for (k, v) in metadata { model += Proto.bytes(14, Proto.string(1, k) + Proto.string(2, v)) }
    let parameters = builder.parameterCount
    return (
      model,
      Signature(
        inputs: inputs.map { "\($0.name) \(text($0.dims)) \($0.type == ONNXGraphBuilder.int64 ? "int64" : "float32")" },
        output: outputs.map { "\($0.0) \(text($0.2)) float32" }.joined(separator: ", "), parameters: parameters)
    )
  }

  /// A value's name, element type and shape (`batch` for the symbolic axis).
  static func valueInfo(_ name: String, elementType: Int, dims: [Dimension]) -> [UInt8] {
    let shape = dims.flatMap { d -> [UInt8] in
      switch d {
      case .fixed(let n): return Proto.bytes(1, Proto.int(1, n))
      case .batch: return Proto.bytes(1, Proto.string(2, "batch"))
      }
    }
    let tensor = Proto.varint(1, UInt64(elementType)) + Proto.bytes(2, shape)
    return Proto.string(1, name) + Proto.bytes(2, Proto.bytes(1, tensor))
  }

  /// An axis of a value: a fixed size, or `multiple` times the batch.
  enum Dimension: Hashable {
    case fixed(Int)
    case batch(multiple: Int)
  }

  /// Which axes of each value follow the batch, from the same program lowered at batch 2 and 3.
  static func batchAxes(_ two: Graph, _ three: Graph) throws -> [[Dimension]] {
    let mismatch = ExportError("the generator's program is not the same at every batch size, so it has no symbolic batch axis")
    guard two.nodes.count == three.nodes.count else { throw mismatch }
    return try zip(two.nodes, three.nodes).map { a, b in
      guard a.op == b.op, a.inputs == b.inputs, a.shape.count == b.shape.count else { throw mismatch }
      return try zip(a.shape, b.shape).map { d2, d3 in
        if d2 == d3 { return .fixed(d2) }
        let k = d3 - d2
        guard k > 0, d2 == 2 * k else { throw mismatch }
        return .batch(multiple: k)
      }
    }
  }
}

/// ONNX nodes and initializers as they are written, with fresh names.
struct ONNXGraphBuilder {
  static let float = 1
  static let int64 = 7

  var nodes: [[UInt8]] = []
  var initializers: [[UInt8]] = []
  var parameterCount = 0
  private var counter = 0
  private var names: Set<String> = []
  /// Int64 constants already written, by value (shapes and axes repeat).
  private var int64Names: [[Int]: String] = [:]
  /// Shape tensors already built, by the dimensions they say.
  var shapes: [[GeneratorExport.Dimension]: String] = [:]

  /// A name not used yet, from `base`.
  mutating func fresh(_ base: String) -> String {
    var name = base, k = 1
    while names.contains(name) {
      k += 1
      name = "\(base)_\(k)"
    }
    names.insert(name)
    return name
  }

  /// One node; returns its output's name (`output` when given).
  @discardableResult
  mutating func node(_ op: String, _ inputs: [String], _ attributes: [[UInt8]] = [], output: String? = nil) -> String {
    counter += 1
    let out = output ?? fresh("\(op.lowercased())_\(counter)")
    if output != nil { names.insert(out) }
    var bytes = inputs.flatMap { Proto.string(1, $0) } + Proto.string(2, out) + Proto.string(3, "\(op)_\(counter)") + Proto.string(4, op)
    bytes += attributes.flatMap { Proto.bytes(5, $0) }
    nodes.append(bytes)
    return out
  }

  /// A float32 initializer.
  mutating func floats(_ base: String, _ shape: [Int], _ values: [Float]) -> String {
    let name = fresh(base)
    parameterCount += values.count
    let raw = values.flatMap { Proto.littleEndian($0.bitPattern) }
    initializers.append(shape.flatMap { Proto.int(1, $0) } + Proto.varint(2, UInt64(Self.float)) + Proto.string(8, name) + Proto.bytes(9, raw))
    return name
  }

  /// An int64 initializer (shapes, axes, slice bounds).
  mutating func int64s(_ values: [Int], scalar: Bool = false) -> String {
    if !scalar, let known = int64Names[values] { return known }
    let name = fresh("i64_" + values.map { $0 < 0 ? "m\(-$0)" : String($0) }.joined(separator: "_"))
    let raw = values.flatMap { Proto.littleEndian(Int64($0)) }
    let dims = scalar ? [] : Proto.int(1, values.count)
    initializers.append(dims + Proto.varint(2, UInt64(Self.int64)) + Proto.string(8, name) + Proto.bytes(9, raw))
    if !scalar { int64Names[values] = name }
    return name
  }

  static func int(_ name: String, _ v: Int) -> [UInt8] { Proto.string(1, name) + Proto.int(3, v) + Proto.varint(20, 2) }
  static func ints(_ name: String, _ v: [Int]) -> [UInt8] { Proto.string(1, name) + v.flatMap { Proto.int(8, $0) } + Proto.varint(20, 7) }
  static func float(_ name: String, _ v: Double) -> [UInt8] { Proto.string(1, name) + Proto.float(2, Float(v)) + Proto.varint(20, 1) }
}

/// The op-by-op translation of one generator program.
struct Translation {
  typealias Dimension = GeneratorExport.Dimension
  let program: Program
  let dims: [[Dimension]]
  let trainer: Trainer
  /// Values that do not depend on the inputs, evaluated in float64.
  var constants: [ValueID: [Double]] = [:]

  init(program: Program, dims: [[Dimension]], trainer: Trainer) throws {
    self.program = program
    self.dims = dims
    self.trainer = trainer
    let g = program.graph
    var isConstant = [Bool](repeating: false, count: g.nodes.count)
    var sub = Graph(), map: [ValueID: ValueID] = [:], feeds: [String: [Double]] = [:]
    for (id, node) in g.nodes.enumerated() {
      switch node.op {
      case .input: continue
      case .random: throw ExportError("the generator draws random numbers at inference (\(node.op.mnemonic)); ONNX export needs a deterministic generator")
      case .parameter(let name):
        guard let values = trainer.runtime.persistent(name) else { throw ExportError("the checkpoint lacks \(name)") }
        feeds[name] = values.map(Double.init)
      default:
        guard node.inputs.allSatisfy({ isConstant[$0] }) else { continue }
      }
      isConstant[id] = true
      map[id] = try sub.add(node.op, node.inputs.map { map[$0]! }, shape: node.shape)
    }
    let values = try ReferenceEvaluator(feeds: feeds).run(sub)
    for (id, new) in map { constants[id] = values[new] }
  }

  /// Emits every node the outputs need; returns the outputs' names and axes.
  func emit(into b: inout ONNXGraphBuilder) throws -> [(name: String, dims: [Dimension])] {
    let g = program.graph
    // ONNX name of each value, and whether it may be smaller than its IR shape (a broadcast left to ONNX).
    var name: [ValueID: String] = [:]
    var compact: Set<ValueID> = []
    var batch: String? = nil
    let paramNames = Dictionary(
      uniqueKeysWithValues: g.nodes.enumerated().compactMap { id, n -> (ValueID, String)? in
        // G's own names, as in the safetensors export (`ema.generator.0.weight` is `0.weight`).
        if case .parameter(let p) = n.op { return (id, Self.ownName(p)) }
        return nil
      })

    func batchSize(_ b: inout ONNXGraphBuilder) -> String {
      if let batch { return batch }
      // The batch comes from the first input: z for a generator, x for a classifier.
      let shape = b.node("Shape", [program.inputs.first?.kind == .data ? "x" : "z"])
      let s = b.node("Slice", [shape, b.int64s([0]), b.int64s([1])], output: "batch_size")
      batch = s
      return s
    }
    /// The IR shape of `id` as a tensor (the batch read from the first input).
    func shapeTensor(_ d: [Dimension], _ b: inout ONNXGraphBuilder) -> String {
      guard d.contains(where: { if case .batch = $0 { return true } else { return false } }) else {
        return b.int64s(d.map { if case .fixed(let n) = $0 { return n } else { return 0 } })
      }
      if let known = b.shapes[d] { return known }
      var pieces: [String] = []
      for x in d {
        switch x {
        case .fixed(let n): pieces.append(b.int64s([n]))
        case .batch(let k): pieces.append(k == 1 ? batchSize(&b) : b.node("Mul", [batchSize(&b), b.int64s([k])]))
        }
      }
      let shape = b.node("Concat", pieces, [ONNXGraphBuilder.int("axis", 0)])
      b.shapes[d] = shape
      return shape
    }
    func materialize(_ id: ValueID, _ b: inout ONNXGraphBuilder) -> String {
      guard compact.contains(id) else { return name[id]! }
      return b.node("Expand", [name[id]!, shapeTensor(dims[id], &b)])
    }
    func axisIsBatch(_ id: ValueID, _ axis: Int) -> Bool {
      if case .batch = dims[id][axis] { return true } else { return false }
    }

    // Constants read by computed values become initializers, kept as small as broadcasting allows.
    var consumed = Set(g.outputs)
    for (id, node) in g.nodes.enumerated() where constants[id] == nil { consumed.formUnion(node.inputs) }
    for (id, node) in g.nodes.enumerated() where constants[id] != nil && consumed.contains(id) {
      let (shape, values) = try Self.compress(constants[id]!, node.shape, batchAxes: dims[id])
      let base = paramNames[id] ?? Self.foldedName(id, g, paramNames)
      name[id] = b.floats(base, shape, values.map { Float($0) })
      if shape != node.shape { compact.insert(id) }
    }

    for (id, node) in g.nodes.enumerated() where constants[id] == nil {
      let ins = node.inputs
      switch node.op {
      case .input:
        guard let input = program.inputs.first(where: { g.nodes[id].op == .input($0.name) }) else { throw ExportError("unknown input") }
        switch input.kind {
        case .latent: name[id] = "z"
        case .data:
          // A table's columns are standardised before the net sees them.
          name[id] = "x"
          if let mean = trainer.dataset.columnMean, let std = trainer.dataset.columnStd {
            let centred = b.node("Sub", ["x", b.floats("data_mean", [mean.count], mean)])
            name[id] = b.node("Div", [centred, b.floats("data_std", [std.count], std)])
          }
        case .generatedLabels:
          let f = b.node("Cast", ["label"], [ONNXGraphBuilder.int("to", ONNXGraphBuilder.float)])
          name[id] = b.node("Reshape", [f, shapeTensor(dims[id], &b)])
        default: throw ExportError("the generator reads an input ONNX export does not know (\(input.name))")
        }
      case .unary(let f):
        let x = name[ins[0]]!
        switch f {
        case .neg: name[id] = b.node("Neg", [x])
        case .exp: name[id] = b.node("Exp", [x])
        case .log: name[id] = b.node("Log", [x])
        case .sqrt: name[id] = b.node("Sqrt", [x])
        case .rsqrt: name[id] = b.node("Reciprocal", [b.node("Sqrt", [x])])
        case .tanh: name[id] = b.node("Tanh", [x])
        case .sigmoid: name[id] = b.node("Sigmoid", [x])
        case .softplus: name[id] = b.node("Softplus", [x])
        case .erf: name[id] = b.node("Erf", [x])
        case .abs: name[id] = b.node("Abs", [x])
        case .square: name[id] = b.node("Mul", [x, x])
        case .recip: name[id] = b.node("Reciprocal", [x])
        case .step:
          let zero = b.floats("zero", [], [0])
          name[id] = b.node("Cast", [b.node("Greater", [x, zero])], [ONNXGraphBuilder.int("to", ONNXGraphBuilder.float)])
        case .leakyRelu(let s):
          name[id] = s == 0 ? b.node("Relu", [x]) : b.node("LeakyRelu", [x], [ONNXGraphBuilder.float("alpha", s)])
        case .elu: name[id] = b.node("Elu", [x], [ONNXGraphBuilder.float("alpha", 1)])
        }
        if compact.contains(ins[0]) { compact.insert(id) }
      case .binary(let f):
        let (x, y) = (name[ins[0]]!, name[ins[1]]!)
        switch f {
        case .add: name[id] = b.node("Add", [x, y])
        case .sub: name[id] = b.node("Sub", [x, y])
        case .mul: name[id] = b.node("Mul", [x, y])
        case .div: name[id] = b.node("Div", [x, y])
        case .max: name[id] = b.node("Max", [x, y])
        case .min: name[id] = b.node("Min", [x, y])
        case .equal: name[id] = b.node("Cast", [b.node("Equal", [x, y])], [ONNXGraphBuilder.int("to", ONNXGraphBuilder.float)])
        }
        let full = ins.filter { !g.shape($0).isEmpty && !compact.contains($0) }
        if full.isEmpty { compact.insert(id) }
      case .broadcast:
        // Left to the consumer's broadcasting, or expanded where a full tensor is needed.
        name[id] = name[ins[0]]!
        compact.insert(id)
        if g.shape(ins[0]).count != node.shape.count { name[id] = b.node("Expand", [name[ins[0]]!, shapeTensor(dims[id], &b)]); compact.remove(id) }
      case .matmul(let ta, let tb):
        var (x, y) = (materialize(ins[0], &b), materialize(ins[1], &b))
        if node.shape.count == 2 {
          name[id] = b.node("Gemm", [x, y], [ONNXGraphBuilder.int("transA", ta ? 1 : 0), ONNXGraphBuilder.int("transB", tb ? 1 : 0)])
        } else {
          if ta { x = b.node("Transpose", [x], [ONNXGraphBuilder.ints("perm", [0, 2, 1])]) }
          if tb { y = b.node("Transpose", [y], [ONNXGraphBuilder.ints("perm", [0, 2, 1])]) }
          name[id] = b.node("MatMul", [x, y])
        }
      case .conv(let a):
        let attributes = [
          ONNXGraphBuilder.ints("strides", [a.stride.0, a.stride.1]), ONNXGraphBuilder.ints("dilations", [a.dilation.0, a.dilation.1]),
          ONNXGraphBuilder.ints("pads", [a.padding.top, a.padding.left, a.padding.bottom, a.padding.right]),
        ]
        name[id] = b.node("Conv", [materialize(ins[0], &b), materialize(ins[1], &b)], attributes)
      case .convTranspose(let a):
        let (x, w) = (g.shape(ins[0]), g.shape(ins[1]))
        func extra(_ axis: Int, _ s: Int, _ d: Int, _ p: Int) -> Int { node.shape[axis] - (s * (x[axis] - 1) + d * (w[axis] - 1) + 1 - p) }
        let oh = extra(2, a.stride.0, a.dilation.0, a.padding.top + a.padding.bottom)
        let ow = extra(3, a.stride.1, a.dilation.1, a.padding.left + a.padding.right)
        let attributes = [
          ONNXGraphBuilder.ints("strides", [a.stride.0, a.stride.1]), ONNXGraphBuilder.ints("dilations", [a.dilation.0, a.dilation.1]),
          ONNXGraphBuilder.ints("pads", [a.padding.top, a.padding.left, a.padding.bottom, a.padding.right]),
          ONNXGraphBuilder.ints("output_padding", [oh, ow]),
        ]
        name[id] = b.node("ConvTranspose", [materialize(ins[0], &b), materialize(ins[1], &b)], attributes)
      case .reduceSum(let axes):
        name[id] = b.node("ReduceSum", [materialize(ins[0], &b), b.int64s(axes)], [ONNXGraphBuilder.int("keepdims", 1)])
      case .reduceMax(let axes):
        name[id] = b.node("ReduceMax", [materialize(ins[0], &b)], [ONNXGraphBuilder.ints("axes", axes), ONNXGraphBuilder.int("keepdims", 1)])
      case .reshape:
        name[id] = b.node("Reshape", [materialize(ins[0], &b), shapeTensor(dims[id], &b)])
      case .concat(let axis):
        name[id] = b.node("Concat", ins.map { materialize($0, &b) }, [ONNXGraphBuilder.int("axis", axis)])
      case .slice(let axis, let start):
        guard !axisIsBatch(id, axis) else { throw ExportError("the generator slices its batch axis; ONNX export needs a batch-independent generator") }
        name[id] = b.node("Slice", [materialize(ins[0], &b), b.int64s([start]), b.int64s([start + node.shape[axis]]), b.int64s([axis])])
      case .pad(let axis, let before):
        guard !axisIsBatch(id, axis) else { throw ExportError("the generator pads its batch axis; ONNX export needs a batch-independent generator") }
        let rank = node.shape.count
        var pads = [Int](repeating: 0, count: 2 * rank)
        pads[axis] = before
        pads[rank + axis] = node.shape[axis] - g.shape(ins[0])[axis] - before
        name[id] = b.node("Pad", [materialize(ins[0], &b), b.int64s(pads)], [Proto.string(1, "mode") + Proto.string(4, "constant") + Proto.varint(20, 3)])
      case .gather:
        let ids = b.node("Cast", [materialize(ins[1], &b)], [ONNXGraphBuilder.int("to", ONNXGraphBuilder.int64)])
        let flat = b.node("Reshape", [ids, b.int64s([-1])])
        name[id] = b.node("Gather", [materialize(ins[0], &b), flat], [ONNXGraphBuilder.int("axis", 0)])
      case .stopGradient, .convert, .allReduce:
        name[id] = name[ins[0]]!
        if compact.contains(ins[0]) { compact.insert(id) }
      case .parameter, .constant, .random, .convWeight, .scatterAdd, .assign, .fused:
        throw ExportError("the generator's inference program holds \(node.op.mnemonic), which ONNX export does not translate")
      }
    }
    guard !g.outputs.isEmpty else { throw ExportError("the net has no output") }
    var results: [(name: String, dims: [Dimension])] = []
    for out in g.outputs {
      let label = g.outputNames[out] ?? "output"
      var result = materialize(out, &b)
      if label == "samples", let mean = trainer.dataset.columnMean, let std = trainer.dataset.columnStd {
        result = b.node("Mul", [result, b.floats("data_std", [std.count], std)])
        result = b.node("Add", [result, b.floats("data_mean", [mean.count], mean)])
      }
      results.append((b.node("Identity", [result], output: label), dims[out]))
    }
    return results
  }

  /// A generator parameter's name in G's own `state_dict`.
  static func ownName(_ name: String) -> String {
    var n = Substring(name)
    if n.hasPrefix("ema.") { n = n.dropFirst(4) }
    for net in ["generator.", "classifier."] where n.hasPrefix(net) { n = n.dropFirst(net.count) }
    return String(n)
  }

  /// A folded value's initializer name, from the parameters it reads: a
  /// parameter only reshaped or broadcast keeps its name, a spectrally normalised weight is
  /// `LAYER.weight` (from `weight_orig`), anything else `LAYER.folded`.
  static func foldedName(_ id: ValueID, _ g: Graph, _ params: [ValueID: String]) -> String {
    var stack = [id], seen: Set<ValueID> = [], read: [String] = [], computed = false
    while let v = stack.popLast() {
      if !seen.insert(v).inserted { continue }
      switch g.nodes[v].op {
      case .parameter: read.append(params[v]!)
      case .reshape, .broadcast, .convert, .stopGradient: break
      default: computed = true
      }
      stack += g.nodes[v].inputs.reversed()
    }
    guard let first = read.first else { return "const" }
    if read.count == 1 && !computed { return first }
    if let orig = read.first(where: { $0.hasSuffix("weight_orig") }) { return String(orig.dropLast(5)) }
    let layer = first.split(separator: ".").dropLast().joined(separator: ".")
    return (layer.isEmpty ? first : layer) + ".folded"
  }

  /// Drops every axis along which the value does not change (to size 1),
  /// so a broadcast constant is stored once; batch axes must drop.
  static func compress(_ values: [Double], _ shape: [Int], batchAxes: [GeneratorExport.Dimension]) throws -> ([Int], [Double]) {
    var shape = shape, values = values
    for axis in shape.indices where shape[axis] > 1 {
      let inner = shape[(axis + 1)...].reduce(1, *), size = shape[axis], outer = values.count / (inner * size)
      var uniform = true
      check: for o in 0..<outer {
        for s in 1..<size {
          for i in 0..<inner where values[(o * size + s) * inner + i] != values[o * size * inner + i] {
            uniform = false
            break check
          }
        }
      }
      if uniform {
        var kept: [Double] = []
        kept.reserveCapacity(outer * inner)
        for o in 0..<outer { kept += values[(o * size * inner)..<(o * size * inner + inner)] }
        values = kept
        shape[axis] = 1
      } else if case .batch = batchAxes[axis] {
        throw ExportError("a constant of the generator varies along the batch; ONNX export needs a batch-independent generator")
      }
    }
    return (shape, values)
  }
}
