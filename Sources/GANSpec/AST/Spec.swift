import GANDiagnostics

/// A feature shape, without the batch axis: `[784]` or `[1, 28, 28]`.
public typealias Shape = [Int]

/// Two integers for the height and width of a window (`4` means `4x4`).
public struct Pair: Hashable, Sendable, CustomStringConvertible {
  public var h: Int
  public var w: Int
  public init(_ h: Int, _ w: Int) {
    self.h = h
    self.w = w
  }
  public static func square(_ n: Int) -> Pair { Pair(n, n) }
  public var description: String { h == w ? "\(h)" : "\(h)x\(w)" }
}

/// Convolution padding as written.
public enum Padding: Hashable, Sendable {
  case explicit(Pair)
  case same
  case valid
}

/// An activation function.
public enum Activation: Hashable, Sendable, CustomStringConvertible {
  case relu
  case leakyRelu(slope: Double)
  case tanh
  case sigmoid
  case elu
  case gelu
  case silu
  case softplus

  public var name: String {
    switch self {
    case .relu: return "relu"
    case .leakyRelu: return "leaky-relu"
    case .tanh: return "tanh"
    case .sigmoid: return "sigmoid"
    case .elu: return "elu"
    case .gelu: return "gelu"
    case .silu: return "silu"
    case .softplus: return "softplus"
    }
  }

  public var description: String {
    if case .leakyRelu(let s) = self { return "leaky-relu(\(s))" }
    return name
  }

  /// The range of values the function can produce.
  public var range: ClosedRange<Double>? {
    switch self {
    case .tanh: return -1...1
    case .sigmoid: return 0...1
    case .relu, .softplus: return 0...Double.infinity
    case .elu: return -1...Double.infinity
    case .leakyRelu, .gelu, .silu: return nil
    }
  }
}

/// Weight initialisation.
public enum Initializer: Hashable, Sendable {
  /// As PyTorch initialises that layer.
  case `default`
  case normal(std: Double)
  case xavier
  case kaiming
}

/// The learned weights of a dense, maxout or convolution layer.
public struct WeightOptions: Hashable, Sendable {
  public var bias: Bool
  public var initializer: Initializer
}

/// The settings of a convolution or transposed convolution.
public struct ConvOptions: Hashable, Sendable {
  public var filters: Int
  public var kernel: Pair
  public var stride: Pair
  public var padding: Padding
  public var dilation: Pair
  public var outputPadding: Pair
}

/// What a layer computes.
public enum LayerOp: Hashable, Sendable {
  case dense(units: Int, activation: Activation?, weights: WeightOptions)
  case conv2d(ConvOptions, activation: Activation?, weights: WeightOptions)
  case deconv2d(ConvOptions, activation: Activation?, weights: WeightOptions)
  case batchnorm(momentum: Double, epsilon: Double, affine: Bool)
  /// Batch norm whose scale and shift are looked up by the sample's class.
  case conditionalBatchnorm(classes: Int, momentum: Double, epsilon: Double)
  case layernorm(epsilon: Double, affine: Bool)
  case activation(Activation)
  case dropout(rate: Double)
  case maxout(units: Int, pieces: Int, weights: WeightOptions)
  case reshape(Shape)
  case flatten
  case upsample(scale: Int)
  case avgpool(size: Int, global: Bool)
  case concat(inputs: [String], axis: Int)
  case add(inputs: [String])
  case dot(inputs: [String])
  case embedding(classes: Int, dim: Int)
  /// Self-attention over C H W positions (SAGAN).
  case attention(reduction: Int)

  /// The activation this layer applies last, if any.
  public var fusedActivation: Activation? {
    switch self {
    case .dense(_, let a, _), .conv2d(_, let a, _), .deconv2d(_, let a, _): return a
    case .activation(let a): return a
    default: return nil
    }
  }

  /// Whether the layer has learned weights with an optional bias.
  public var weights: WeightOptions? {
    switch self {
    case .dense(_, _, let w), .conv2d(_, _, let w), .deconv2d(_, _, let w), .maxout(_, _, let w):
      return w
    default: return nil
    }
  }
}

/// One layer as written, with where it and each of its attributes are.
public struct Layer: Hashable, Sendable {
  public var element: String
  public var op: LayerOp
  public var id: String?
  public var input: String?
  public var location: SourceLocation
  public var attributeLocations: [String: SourceLocation]
  /// Spectral normalisation of the weight (Miyato et al. 2018): power
  /// iterations per training forward pass, nil when off.
  public var spectralNorm: Int? = nil
  /// The block uses this layer was expanded from, innermost first (empty
  /// for a layer written in the net).
  public var expansion: [BlockUse] = []

  /// Where attribute `name` is, or the element if it was not written.
  public func location(of name: String) -> SourceLocation {
    attributeLocations[name] ?? location
  }

  /// The ids this layer reads explicitly (`input`, or `inputs` of concat/add).
  public var references: [String] {
    switch op {
    case .concat(let inputs, _), .add(let inputs), .dot(let inputs): return inputs
    default: return input.map { [$0] } ?? []
    }
  }
}

/// Which of the two players a network is.
public enum NetworkRole: String, Hashable, Sendable, CaseIterable {
  case generator, discriminator
  /// The one net of a `<classifier>` spec (it reads `x` and `label` as D does).
  case classifier

  /// The name of the net's data input (`z` or `x`).
  public var inputName: String { self == .generator ? "z" : "x" }
}

/// G or D: its layers, in document order.
public struct NetworkSpec: Hashable, Sendable {
  public var role: NetworkRole
  public var layers: [Layer]
  public var location: SourceLocation
  /// The file named by `src=`, if the layers came from one.
  public var source: String?
}

/// The real data.
public enum DataSource: Hashable, Sendable {
  case ring(modes: Int, radius: Double, std: Double, samples: Int)
  case grid(size: Int, spacing: Double, std: Double, samples: Int)
  /// Paths are resolved against the spec's folder.
  case idx(images: String, labels: String?)
  case csv(path: String, columns: [String]?, header: Bool)
  case npy(path: String)

  public var name: String {
    switch self {
    case .ring: return "ring"
    case .grid: return "grid"
    case .idx: return "idx"
    case .csv: return "csv"
    case .npy: return "npy"
    }
  }
}

public struct DataSpec: Hashable, Sendable {
  public var source: DataSource
  /// Keep the labels of only the first N images of each class (file order);
  /// the rest are unlabelled (semi-supervised GAN) or left out (classifier).
  public var labelsPerClass: Int? = nil
  public var location: SourceLocation
  public var attributeLocations: [String: SourceLocation]
  public func location(of name: String) -> SourceLocation { attributeLocations[name] ?? location }
}

public enum LatentDistribution: String, Hashable, Sendable {
  case normal, uniform
}

public struct LatentSpec: Hashable, Sendable {
  public var size: Int
  public var distribution: LatentDistribution
  public var location: SourceLocation
}

public enum Loss: String, Hashable, Sendable, CaseIterable {
  case nonSaturating = "non-saturating"
  case minimax
  case leastSquares = "least-squares"
  case hinge
  case wasserstein
  case wassersteinGP = "wasserstein-gp"
  /// Salimans et al. (2016): D has K class logits and one for "generated";
  /// real data is "any class", labelled data its own class.
  case semiSupervised = "semi-supervised"
  /// A `<classifier>`'s softmax cross-entropy against the labels.
  case crossEntropy = "cross-entropy"

  /// Whether D's output is read as a logit through a sigmoid.
  public var usesSigmoid: Bool {
    switch self {
    case .nonSaturating, .minimax, .semiSupervised: return true
    case .leastSquares, .hinge, .wasserstein, .wassersteinGP, .crossEntropy: return false
    }
  }

  /// The losses of a `<gan>` (cross-entropy is a classifier's).
  public static var games: [Loss] { allCases.filter { $0 != .crossEntropy } }
}

public enum OptimizerKind: String, Hashable, Sendable {
  case adam, sgd, rmsprop
}

/// How a learning rate changes over training.
public enum LRSchedule: String, Hashable, Sendable, CaseIterable {
  /// `lr` throughout (after any warm-up).
  case constant
  /// From `lr` after the warm-up down to zero at the end of training.
  case linear
}

public struct OptimizerSpec: Hashable, Sendable {
  public var net: NetworkRole
  public var kind: OptimizerKind
  public var lr: Double
  public var schedule: LRSchedule = .constant
  /// Updates of linear warm-up: update t (from 0) uses lr * (t + 1) / warmup.
  public var warmup: Int = 0
  /// Where `warmup` is written (for the check against the run's length).
  public var warmupLocation: SourceLocation? = nil
  public var beta1: Double
  public var beta2: Double
  public var momentum: Double
  public var weightDecay: Double
  public var epsilon: Double
  public var location: SourceLocation

  /// The learning rate of update `t` (counting from 0) of `total`: a linear
  /// warm-up over the first `warmup` updates, then `lr` (constant) or a
  /// linear decay that reaches zero after update `total` (PyTorch's LinearLR
  /// from 1 to 0 over the updates after the warm-up).
  public func learningRate(update t: Int, of total: Int) -> Double {
    if t < warmup { return lr * Double(t + 1) / Double(warmup) }
    guard schedule == .linear else { return lr }
    let span = Double(max(total - warmup, 1))
    return lr * max(0, Double(total - t) / span)
  }
}

/// One DiffAugment policy (Zhao et al. 2020), with its paper's ranges.
public enum Augmentation: String, Hashable, Sendable, CaseIterable {
  /// Brightness + U(-0.5, 0.5), saturation x U(0, 2), contrast x U(0.5, 1.5), per sample.
  case color
  /// A shift of up to 1/8 of the height and width, zero-filled, per sample.
  case translation
  /// A zeroed square of half the height and width at a random centre, per sample.
  case cutout
}

public struct TrainingSpec: Hashable, Sendable {
  public var steps: Int
  public var batch: Int
  public var loss: Loss
  public var dSteps: Int
  public var labelSmoothing: Double
  public var seed: UInt64
  public var conditional: Bool
  public var threads: Int?
  public var pack: Int
  public var ema: Double?
  public var clip: Double
  public var gpWeight: Double
  /// Feature matching (Salimans et al. 2016): G's loss is the squared distance
  /// between the batch means of this D layer's output on real and generated data.
  public var featureMatching: String? = nil
  /// R1 and R2 (Mescheder et al. 2018): gamma/2 E|grad_x D(x)|^2 on real (R1)
  /// or generated (R2) samples, added to D's loss; 0 = none.
  public var r1: Double = 0
  public var r2: Double = 0
  /// Lazy regularisation (Karras et al. 2020): the penalties run on every
  /// k-th D update only, multiplied by k.
  public var regularizeEvery: Int = 1
  /// DiffAugment (Zhao et al. 2020): the augmentations applied, in order, to
  /// every batch D sees (real and generated alike); empty = none.
  public var augment: [Augmentation] = []
  /// Data parallel (mpirun): batch norm's statistics over the global batch
  /// (summed across ranks) rather than each rank's share.
  public var syncBatchnorm = false
  /// Whether R1 or R2 is on.
  public var penalizesGradients: Bool { r1 > 0 || r2 > 0 }
  public var generatorOptimizer: OptimizerSpec
  public var discriminatorOptimizer: OptimizerSpec
  public var location: SourceLocation
  public var attributeLocations: [String: SourceLocation]
  public func location(of name: String) -> SourceLocation { attributeLocations[name] ?? location }

  public func optimizer(for role: NetworkRole) -> OptimizerSpec {
    role == .generator ? generatorOptimizer : discriminatorOptimizer
  }

  /// The updates a net makes in a run of `steps` steps: G one per step, D
  /// `d-steps` per step, a classifier one per step.
  public func updates(of role: NetworkRole, steps: Int? = nil) -> Int {
    let n = steps ?? self.steps
    return role == .discriminator ? n * dSteps : n
  }
}

/// What a spec describes.
public enum SpecKind: String, Hashable, Sendable {
  /// `<gan>`: G and D in a game.
  case gan
  /// `<classifier>`: one net trained on labelled data with cross-entropy
  /// (a judge for `ganc eval --judge`, or a supervised baseline).
  case classifier
}

public struct OutputSpec: Hashable, Sendable {
  /// Relative to the current directory.
  public var dir: String
  public var samplesEvery: Int
  public var checkpointEvery: Int
  public var sampleCount: Int
  /// Steps between evaluations against the judge during training (0 = none).
  public var evalEvery: Int = 0
  /// The judge's run folder for `eval-every`, as written.
  public var judge: String? = nil
  /// Generated and real samples per evaluation during training.
  public var evalSamples: Int = 1000
  /// Checkpoints kept: with N > 1 the last N also as checkpoint-NNNNNN.safetensors.
  public var keep: Int = 1
}

/// A whole spec, read and typed; every node knows where it was written.
public struct Spec: Hashable, Sendable {
  public var file: String
  /// The folder that relative paths in the spec are resolved against.
  public var directory: String
  public var name: String
  public var data: DataSpec
  public var latent: LatentSpec
  public var generator: NetworkSpec
  public var discriminator: NetworkSpec
  public var training: TrainingSpec
  public var output: OutputSpec
  public var location: SourceLocation
  public var kind: SpecKind = .gan
  /// A classifier's held-out labelled data (`<test>`), scored after training.
  public var test: DataSpec? = nil

  /// A classifier's net is held where D's is; its generator is empty.
  public func network(_ role: NetworkRole) -> NetworkSpec {
    role == .generator ? generator : discriminator
  }

  /// The nets this spec trains.
  public var roles: [NetworkRole] { kind == .classifier ? [.classifier] : [.generator, .discriminator] }
}
