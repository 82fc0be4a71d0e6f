import GANIR
import GANSpec

/// Whether a forward pass trains (batch statistics, dropout) or samples.
public enum Mode: Sendable {
  case training
  case inference
}

/// The persistent tensors of one net: weights, biases and running statistics,
/// named and laid out as PyTorch names and lays them out.
public struct ParameterInfo: Hashable, Sendable {
  public var name: String
  public var shape: [Int]
  /// Learned (updated by the optimizer) or a buffer (running statistics).
  public var trainable: Bool
  /// How to fill it before training.
  public var initialization: ParameterInit
  /// The net it belongs to (for optimizer state and averages: their parameter's net).
  public var net: NetworkRole
  /// What it is to training.
  public var role: ParameterRole

  public init(name: String, shape: [Int], trainable: Bool, initialization: ParameterInit, net: NetworkRole, role: ParameterRole = .network) {
    self.name = name
    self.shape = shape
    self.trainable = trainable
    self.initialization = initialization
    self.net = net
    self.role = role
  }
}

/// What a persistent tensor is to training, so that nothing parses names.
public enum ParameterRole: Hashable, Sendable {
  /// A layer's weight, bias or running statistic.
  case network
  /// Optimizer state `slot` (PyTorch's name: exp_avg, square_avg, ...) of the parameter `of`.
  case optimizerState(of: String, slot: String)
  /// The generator's exponential moving average of the parameter `of`.
  case average(of: String)
}

/// How a persistent tensor starts.
public enum ParameterInit: Hashable, Sendable {
  /// U(-bound, bound).
  case uniform(bound: Double)
  case normal(std: Double)
  case constant(Double)
}

/// Lowers checked networks into IR, one layer at a time.
public struct Lowering {
  public let spec: CheckedSpec
  /// Every persistent tensor, in a stable order (G's, then D's).
  public private(set) var parameters: [ParameterInfo] = []
  /// Dropout and other random streams get fresh ids.
  private var nextStream = 0
  /// The op stream of the gradient penalty's interpolation weights; dropout
  /// layers take the streams below it, in lowering order.
  public static let penaltyStream = RunRandom.opStreams - 1

  public init(spec: CheckedSpec) {
    self.spec = spec
    for net in [spec.generator, spec.discriminator] { parameters += Self.parameters(of: net) }
  }

  public static func prefix(_ role: NetworkRole) -> String { role.rawValue }

  /// The parameters of a net in layer order; names are `generator.3.weight`.
  public static func parameters(of net: CheckedNetwork) -> [ParameterInfo] {
    var out: [ParameterInfo] = []
    let p = prefix(net.role)
    for (i, entry) in net.layers.enumerated() {
      let name = "\(p).\(i)"
      let inShape = entry.inputShapes.first ?? []
      let fanIn: Int
      func weights(_ shape: [Int], fanIn: Int, fanOut: Int, _ w: WeightOptions, biasSize: Int) {
        let bound = 1 / Double(max(fanIn, 1)).squareRoot()
        let initialization: ParameterInit
        switch w.initializer {
        case .default: initialization = .uniform(bound: bound)  // kaiming_uniform(a=sqrt(5)) reduces to 1/sqrt(fan_in)
        case .normal(let std): initialization = .normal(std: std)
        case .xavier: initialization = .uniform(bound: (6 / Double(fanIn + fanOut)).squareRoot())
        case .kaiming: initialization = .normal(std: (2 / Double(max(fanIn, 1))).squareRoot())
        }
        out.append(ParameterInfo(name: "\(name).weight", shape: shape, trainable: true, initialization: initialization, net: net.role))
        if w.bias {
          let biasInit: ParameterInit = if case .normal = w.initializer { .constant(0) } else { .uniform(bound: bound) }
          out.append(ParameterInfo(name: "\(name).bias", shape: [biasSize], trainable: true, initialization: biasInit, net: net.role))
        }
      }
      switch entry.layer.op {
      case .dense(let units, _, let w):
        fanIn = inShape.reduce(1, *)
        weights([units, fanIn], fanIn: fanIn, fanOut: units, w, biasSize: units)
      case .maxout(let units, let pieces, let w):
        fanIn = inShape.reduce(1, *)
        weights([units * pieces, fanIn], fanIn: fanIn, fanOut: units * pieces, w, biasSize: units * pieces)
      case .conv2d(let c, _, let w):
        fanIn = inShape[0] * c.kernel.h * c.kernel.w
        weights([c.filters, inShape[0], c.kernel.h, c.kernel.w], fanIn: fanIn, fanOut: c.filters * c.kernel.h * c.kernel.w, w, biasSize: c.filters)
      case .deconv2d(let c, _, let w):
        // PyTorch's ConvTranspose2d computes fan-in from weight.size(1) = out channels.
        fanIn = c.filters * c.kernel.h * c.kernel.w
        weights([inShape[0], c.filters, c.kernel.h, c.kernel.w], fanIn: fanIn, fanOut: inShape[0] * c.kernel.h * c.kernel.w, w, biasSize: c.filters)
      case .batchnorm(_, _, let affine):
        let channels = inShape[0]
        if affine {
          out.append(ParameterInfo(name: "\(name).weight", shape: [channels], trainable: true, initialization: .constant(1), net: net.role))
          out.append(ParameterInfo(name: "\(name).bias", shape: [channels], trainable: true, initialization: .constant(0), net: net.role))
        }
        out.append(ParameterInfo(name: "\(name).running_mean", shape: [channels], trainable: false, initialization: .constant(0), net: net.role))
        out.append(ParameterInfo(name: "\(name).running_var", shape: [channels], trainable: false, initialization: .constant(1), net: net.role))
      case .layernorm(_, let affine):
        if affine {
          out.append(ParameterInfo(name: "\(name).weight", shape: inShape, trainable: true, initialization: .constant(1), net: net.role))
          out.append(ParameterInfo(name: "\(name).bias", shape: inShape, trainable: true, initialization: .constant(0), net: net.role))
        }
      case .embedding(let classes, let dim):
        out.append(ParameterInfo(name: "\(name).weight", shape: [classes, dim], trainable: true, initialization: .normal(std: 1), net: net.role))
      case .activation, .dropout, .reshape, .flatten, .upsample, .concat, .add:
        break
      }
    }
    return out
  }

  /// The running statistics a forward pass wants written back (name -> value).
  public typealias StatisticUpdates = [String: ValueID]

  /// Appends the forward pass of `net` to `g`, reading `input` (and `label`)
  /// and the net's parameters; returns the output value. Training-mode batch
  /// normalisation chains its running-statistic updates through `updates`.
  public mutating func forward(
    _ net: CheckedNetwork, input: ValueID, label: ValueID?, mode: Mode, in g: inout Graph,
    parameterValues: inout [String: ValueID], updates: inout StatisticUpdates
  ) throws -> ValueID {
    let batch = g.shape(input)[0]
    var outputs: [ValueID] = []
    func param(_ name: String, _ shape: [Int]) -> ValueID {
      if let v = parameterValues[name] { return v }
      let v = g.parameter(name, shape)
      parameterValues[name] = v
      return v
    }
    let p = Self.prefix(net.role)
    // A critic whose input gradient is differentiated again (the gradient
    // penalty) needs every path exact to second order.
    let secondOrder = net.role == .discriminator && spec.spec.training.loss == .wassersteinGP
    for (i, entry) in net.layers.enumerated() {
      let name = "\(p).\(i)"
      let sources: [ValueID] = entry.inputs.map { ref in
        switch ref {
        case .input(let n): return n == "label" ? label! : input
        case .layer(let j): return outputs[j]
        }
      }
      let x = sources.first ?? input
      let outShape = [batch] + entry.outputShape
      var y: ValueID
      switch entry.layer.op {
      case .dense(let units, let activation, let w):
        let flat = g.reshape(x, [batch, g.shape(x).dropFirst().reduce(1, *)])
        y = try g.add(.matmul(transposeA: false, transposeB: true), [flat, param("\(name).weight", [units, g.shape(flat)[1]])])
        if w.bias { y = addBias(y, param("\(name).bias", [units]), &g) }
        if let a = activation { y = Self.activate(a, y, &g) }
      case .maxout(let units, let pieces, let w):
        let flat = g.reshape(x, [batch, g.shape(x).dropFirst().reduce(1, *)])
        y = try g.add(.matmul(transposeA: false, transposeB: true), [flat, param("\(name).weight", [units * pieces, g.shape(flat)[1]])])
        if w.bias { y = addBias(y, param("\(name).bias", [units * pieces]), &g) }
        y = g.reshape(try g.add(.reduceMax(axes: [2]), [g.reshape(y, [batch, units, pieces])]), [batch, units])
      case .conv2d(let c, let activation, let w):
        let geometry = entry.geometry!
        let attributes = ConvAttributes(
          stride: (c.stride.h, c.stride.w),
          padding: (geometry.padTop, geometry.padBottom, geometry.padLeft, geometry.padRight), dilation: (c.dilation.h, c.dilation.w))
        y = try g.add(.conv(attributes), [x, param("\(name).weight", [c.filters, g.shape(x)[1], c.kernel.h, c.kernel.w])])
        if w.bias { y = addBias(y, param("\(name).bias", [c.filters]), &g) }
        if let a = activation { y = Self.activate(a, y, &g) }
      case .deconv2d(let c, let activation, let w):
        let geometry = entry.geometry!
        let inH = g.shape(x)[2], inW = g.shape(x)[3]
        let spanH = c.dilation.h * (c.kernel.h - 1) + 1, spanW = c.dilation.w * (c.kernel.w - 1) + 1
        // As the adjoint of a convolution from the output back to the input.
        let bottom = (inH - 1) * c.stride.h + spanH - outShape[2] - geometry.padTop
        let right = (inW - 1) * c.stride.w + spanW - outShape[3] - geometry.padLeft
        let attributes = ConvAttributes(
          stride: (c.stride.h, c.stride.w),
          padding: (geometry.padTop, bottom, geometry.padLeft, right), dilation: (c.dilation.h, c.dilation.w))
        y = try g.add(.convTranspose(attributes), [x, param("\(name).weight", [g.shape(x)[1], c.filters, c.kernel.h, c.kernel.w])], shape: outShape)
        if w.bias { y = addBias(y, param("\(name).bias", [c.filters]), &g) }
        if let a = activation { y = Self.activate(a, y, &g) }
      case .batchnorm(let momentum, let epsilon, let affine):
        let shape = g.shape(x)
        let channels = shape[1]
        let axes = [0] + Array(2..<shape.count)
        let statShape = [1, channels] + [Int](repeating: 1, count: shape.count - 2)
        let meanName = "\(name).running_mean", varName = "\(name).running_var"
        var mean: ValueID, variance: ValueID
        switch mode {
        case .training:
          let count = Double(shape.reduce(1, *) / channels)
          mean = g.scale(g.sum(x, axes: axes), 1 / count)
          // The variance's derivative in the mean is -2/N * sum(x - mean) = 0,
          // so no gradient need flow that way (as in every batch-norm
          // backward): one full-size gradient term and one sum fewer.
          let centre = secondOrder ? mean : try g.add(.stopGradient, [mean])
          let centred = g.sub(x, g.broadcast(centre, shape))
          variance = g.scale(g.sum(g.unary(.square, centred), axes: axes), 1 / count)
          // Running statistics: PyTorch's update, with the unbiased variance.
          let rm = updates[meanName] ?? param(meanName, [channels])
          let rv = updates[varName] ?? param(varName, [channels])
          updates[meanName] = g.addv(g.scale(rm, 1 - momentum), g.scale(g.reshape(mean, [channels]), momentum))
          let unbiased = count > 1 ? count / (count - 1) : 1
          updates[varName] = g.addv(g.scale(rv, 1 - momentum), g.scale(g.reshape(variance, [channels]), momentum * unbiased))
        case .inference:
          mean = g.reshape(param(meanName, [channels]), statShape)
          variance = g.reshape(param(varName, [channels]), statShape)
        }
        // y = (x - mean) * rstd * gamma + beta as one per-channel affine map of
        // x: the centred tensor is then read only by the variance's sum (so
        // it is never stored), and y takes one pass over x.
        var scale = g.unary(.rsqrt, g.addv(variance, g.constant(epsilon)))
        if affine { scale = g.mul(scale, g.reshape(param("\(name).weight", [channels]), statShape)) }
        var shift = g.unary(.neg, g.mul(mean, scale))
        if affine { shift = g.addv(shift, g.reshape(param("\(name).bias", [channels]), statShape)) }
        y = g.addv(g.mul(x, g.broadcast(scale, shape)), g.broadcast(shift, shape))
      case .layernorm(let epsilon, let affine):
        let shape = g.shape(x)
        let axes = Array(1..<shape.count)
        let count = Double(shape.dropFirst().reduce(1, *))
        let mean = g.scale(g.sum(x, axes: axes), 1 / count)
        let centred = g.sub(x, g.broadcast(mean, shape))
        let variance = g.scale(g.sum(g.unary(.square, centred), axes: axes), 1 / count)
        y = g.mul(centred, g.broadcast(g.unary(.rsqrt, g.addv(variance, g.constant(epsilon))), shape))
        if affine {
          let features = Array(shape.dropFirst())
          y = g.mul(y, g.broadcast(g.reshape(param("\(name).weight", features), [1] + features), shape))
          y = g.addv(y, g.broadcast(g.reshape(param("\(name).bias", features), [1] + features), shape))
        }
      case .activation(let a):
        y = Self.activate(a, x, &g)
      case .dropout(let rate):
        if mode == .training && rate > 0 {
          guard nextStream < Self.penaltyStream else {
            throw IRError("more than \(Self.penaltyStream) dropout layers in one step; ganc numbers each one's random stream")
          }
          let noise = try g.add(.random(stream: nextStream), [], shape: g.shape(x))
          nextStream += 1
          let keep = g.unary(.step, g.sub(noise, g.constant(rate)))
          y = g.mul(g.mul(x, keep), g.constant(1 / (1 - rate)))
        } else {
          y = x
        }
      case .reshape, .flatten:
        y = g.reshape(x, outShape)
      case .upsample(let scale):
        let s = g.shape(x)
        let spread = g.broadcast(g.reshape(x, [s[0], s[1], s[2], 1, s[3], 1]), [s[0], s[1], s[2], scale, s[3], scale])
        y = g.reshape(spread, outShape)
      case .concat(_, let axis):
        let rank = g.shape(sources[0]).count
        y = try g.add(.concat(axis: axis < 0 ? axis + rank : axis + 1), sources)
      case .add:
        y = sources.dropFirst().reduce(sources[0]) { g.addv($0, $1) }
      case .embedding(let classes, let dim):
        y = try g.add(.gather, [param("\(name).weight", [classes, dim]), x])
      }
      outputs.append(y)
    }
    return outputs.last!
  }

  private func addBias(_ y: ValueID, _ bias: ValueID, _ g: inout Graph) -> ValueID {
    let shape = g.shape(y)
    var b = [Int](repeating: 1, count: shape.count)
    b[1] = shape[1]
    return g.addv(y, g.broadcast(g.reshape(bias, b), shape))
  }

  /// An activation written in the IR's primitive ops.
  public static func activate(_ a: Activation, _ x: ValueID, _ g: inout Graph) -> ValueID {
    switch a {
    case .relu: return g.unary(.leakyRelu(slope: 0), x)
    case .leakyRelu(let slope) where slope >= 0:
      return g.unary(.leakyRelu(slope: slope), x)
    case .leakyRelu(let slope):
      // A negative slope is not monotone: x * (slope + (1 - slope) * step(x)).
      return g.mul(x, g.addv(g.scale(g.unary(.step, x), 1 - slope), g.constant(slope)))
    case .tanh: return g.unary(.tanh, x)
    case .sigmoid: return g.unary(.sigmoid, x)
    case .softplus: return g.unary(.softplus, x)
    case .elu: return g.unary(.elu, x)
    case .gelu:
      let cdf = g.addv(g.unary(.erf, g.scale(x, 1 / 2.0.squareRoot())), g.constant(1))
      return g.mul(g.scale(x, 0.5), cdf)
    case .silu: return g.mul(x, g.unary(.sigmoid, x))
    }
  }
}
