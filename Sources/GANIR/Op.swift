/// Elementwise functions of one value.
public enum UnaryFunction: Hashable, Sendable {
  case neg, exp, log, sqrt, rsqrt, tanh, sigmoid, softplus, erf, abs, square, recip
  /// 1 where x > 0, else 0 (its derivative is zero everywhere it exists).
  case step
  /// x above zero, slope * x below (ReLU at slope 0). Its derivative is
  /// computed from the output, so the input need not be kept for backward.
  case leakyRelu(slope: Double)
  /// x above zero, exp(x) - 1 below; its derivative also reads the output.
  case elu

  /// Every function, with sample slopes (for tests and documentation).
  public static let allCases: [UnaryFunction] = [
    .neg, .exp, .log, .sqrt, .rsqrt, .tanh, .sigmoid, .softplus, .erf, .abs, .square, .recip, .step,
    .leakyRelu(slope: 0), .leakyRelu(slope: 0.2), .elu,
  ]

  /// The name in the text form: `tanh`, `relu`, `leaky_relu(0.2)`.
  public var rawValue: String {
    switch self {
    case .neg: return "neg"
    case .exp: return "exp"
    case .log: return "log"
    case .sqrt: return "sqrt"
    case .rsqrt: return "rsqrt"
    case .tanh: return "tanh"
    case .sigmoid: return "sigmoid"
    case .softplus: return "softplus"
    case .erf: return "erf"
    case .abs: return "abs"
    case .square: return "square"
    case .recip: return "recip"
    case .step: return "step"
    case .elu: return "elu"
    case .leakyRelu(let s): return s == 0 ? "relu" : "leaky_relu(\(s))"
    }
  }

  public init?(rawValue: String) {
    if rawValue == "relu" { self = .leakyRelu(slope: 0); return }
    if rawValue.hasPrefix("leaky_relu("), rawValue.hasSuffix(")"),
      let s = Double(rawValue.dropFirst("leaky_relu(".count).dropLast())
    {
      self = .leakyRelu(slope: s)
      return
    }
    guard let f = Self.allCases.first(where: { $0.rawValue == rawValue }) else { return nil }
    self = f
  }
}

/// Elementwise functions of two values of the same shape (or a scalar).
public enum BinaryFunction: String, Sendable, CaseIterable {
  case add, sub, mul, div, max, min
  /// 1 where a == b, else 0.
  case equal
}

/// The geometry of a 2-D convolution in NCHW layout.
public struct ConvAttributes: Hashable, Sendable {
  /// Transposed convolutions making at most this many channels run as a
  /// matmul plus col2im on plain memory (oneDNN pads channels to 16).
  public static let transposedByColumnsMaxChannels = 4

  public var stride: (Int, Int)
  public var padding: (top: Int, bottom: Int, left: Int, right: Int)
  public var dilation: (Int, Int)

  public init(stride: (Int, Int), padding: (Int, Int, Int, Int), dilation: (Int, Int)) {
    self.stride = stride
    self.padding = (padding.0, padding.1, padding.2, padding.3)
    self.dilation = dilation
  }

  public static func == (a: ConvAttributes, b: ConvAttributes) -> Bool {
    a.stride == b.stride && a.padding == b.padding && a.dilation == b.dilation
  }

  public func hash(into h: inout Hasher) {
    h.combine(stride.0); h.combine(stride.1); h.combine(dilation.0); h.combine(dilation.1)
    h.combine(padding.top); h.combine(padding.bottom); h.combine(padding.left); h.combine(padding.right)
  }

  var text: String {
    "stride=\(stride.0)x\(stride.1) pad=\(padding.top),\(padding.bottom),\(padding.left),\(padding.right) dilation=\(dilation.0)x\(dilation.1)"
  }
}

/// Every operation of the IR. Properties live in exhaustive switches below,
/// so adding a case fails to compile until each property says what it is.
public enum Op: Hashable, Sendable {
  /// A value fed in each step (`z`, a real batch, labels, a scalar like Adam's bias correction).
  case input(String)
  /// A persistent tensor: a weight, an optimizer moment, a running statistic.
  case parameter(String)
  /// A tensor filled with one number.
  case constant(Double)
  /// Uniform [0, 1) random numbers from the step's seed and this stream id.
  case random(stream: Int)
  case unary(UnaryFunction)
  case binary(BinaryFunction)
  /// `a @ b` over 2-D operands, optionally transposed.
  case matmul(transposeA: Bool, transposeB: Bool)
  /// Cross-correlation of x [N C H W] with w [F C KH KW] (PyTorch conv2d).
  case conv(ConvAttributes)
  /// The adjoint of `conv` in x: from g [N F OH OW] and w to [N C H W] (a transposed convolution).
  case convTranspose(ConvAttributes)
  /// The adjoint of `conv` in w: from x and g to [F C KH KW].
  case convWeight(ConvAttributes)
  /// Sums over `axes`, keeping them as size 1.
  case reduceSum(axes: [Int])
  /// The maximum over `axes`, keeping them as size 1.
  case reduceMax(axes: [Int])
  /// Repeats size-1 axes (or a scalar) up to the node's shape.
  case broadcast
  case reshape
  /// Joins inputs along `axis`.
  case concat(axis: Int)
  /// Takes `length` entries from `start` along `axis`.
  case slice(axis: Int, start: Int)
  /// Pads with zeros along `axis`: `before` entries in front, the rest after.
  case pad(axis: Int, before: Int)
  /// Rows of table [R D] picked by integer ids [N 1] (an embedding lookup).
  case gather
  /// The adjoint of `gather`: adds rows of g [N D] into a [R D] table at ids.
  case scatterAdd
  /// Writes its input into the persistent tensor of that name.
  case assign(String)
  /// The same value in the node's layout (a reorder in memory).
  case convert
  /// The same value, through which no gradient flows (a view, like reshape).
  case stopGradient
  /// The sum of the value over the ranks of a data-parallel job (synchronised
  /// batch norm); the value itself in one process. Its adjoint is itself.
  case allReduce
  /// A fused kernel: an optional product (its operands first) followed by an
  /// elementwise program over the product's output and the other operands.
  indirect case fused(FusedKernel)

  /// The name printed in the text form.
  public var mnemonic: String {
    switch self {
    case .input: return "input"
    case .parameter: return "param"
    case .constant: return "const"
    case .random: return "random"
    case .unary(let f): return f.rawValue
    case .binary(let f): return f.rawValue
    case .matmul: return "matmul"
    case .conv: return "conv"
    case .convTranspose: return "conv_transpose"
    case .convWeight: return "conv_weight"
    case .reduceSum: return "reduce_sum"
    case .reduceMax: return "reduce_max"
    case .broadcast: return "broadcast"
    case .reshape: return "reshape"
    case .concat: return "concat"
    case .slice: return "slice"
    case .pad: return "pad"
    case .gather: return "gather"
    case .scatterAdd: return "scatter_add"
    case .assign: return "assign"
    case .convert: return "convert"
    case .stopGradient: return "stop_gradient"
    case .allReduce: return "all_reduce"
    case .fused: return "fused"
    }
  }

  /// Whether each output element depends only on the same element of each input.
  public var isElementwise: Bool {
    switch self {
    case .unary, .binary: return true
    case .fused(let k): return k.head == nil && k.reduction == nil
    case .input, .parameter, .constant, .random, .matmul, .conv, .convTranspose, .convWeight,
      .reduceSum, .reduceMax, .broadcast, .reshape, .concat, .slice, .pad, .gather, .scatterAdd, .assign, .convert, .stopGradient, .allReduce:
      return false
    }
  }

  /// Whether the op reduces over axes.
  public var isReduction: Bool {
    switch self {
    case .reduceSum, .reduceMax: return true
    case .input, .parameter, .constant, .random, .unary, .binary, .matmul, .conv, .convTranspose,
      .convWeight, .broadcast, .reshape, .concat, .slice, .pad, .gather, .scatterAdd, .assign, .fused, .convert, .stopGradient, .allReduce:
      return false
    }
  }

  /// Whether the output may overwrite its first input's buffer.
  public var isInPlaceable: Bool {
    switch self {
    case .unary, .binary, .reshape: return true
    case .fused(let k): return k.head == nil && k.reduction == nil
    case .input, .parameter, .constant, .random, .matmul, .conv, .convTranspose, .convWeight,
      .reduceSum, .reduceMax, .broadcast, .concat, .slice, .pad, .gather, .scatterAdd, .assign, .convert, .stopGradient, .allReduce:
      return false
    }
  }

  /// Whether the value lives outside the step's arena (fed in or persistent).
  public var isLeaf: Bool {
    switch self {
    case .input, .parameter, .constant, .random: return true
    case .unary, .binary, .matmul, .conv, .convTranspose, .convWeight, .reduceSum, .reduceMax,
      .broadcast, .reshape, .concat, .slice, .pad, .gather, .scatterAdd, .assign, .fused, .convert, .stopGradient, .allReduce:
      return false
    }
  }

  /// Whether running the op writes a persistent tensor (so it is never dead
  /// code and never merged with an equal-looking op).
  public var writesPersistent: Bool {
    switch self {
    case .assign: return true
    case .fused(let k): return !k.stores.isEmpty
    case .input, .parameter, .constant, .random, .unary, .binary, .matmul, .conv, .convTranspose, .convWeight,
      .reduceSum, .reduceMax, .broadcast, .reshape, .concat, .slice, .pad, .gather, .scatterAdd, .convert, .stopGradient, .allReduce:
      return false
    }
  }

  /// Whether a gradient flows through the op at all (ids, masks and randomness stop it).
  public var isDifferentiable: Bool {
    switch self {
    case .unary(.step), .binary(.equal), .input, .parameter, .constant, .random, .assign, .fused, .stopGradient: return false
    case .unary, .binary, .matmul, .conv, .convTranspose, .convWeight, .reduceSum, .reduceMax,
      .broadcast, .reshape, .concat, .slice, .pad, .gather, .scatterAdd, .convert, .allReduce:
      return true
    }
  }
}

/// One instruction of a fused kernel's elementwise program. Registers are
/// numbered by instruction; the last instruction's register is the result.
public enum Instruction: Hashable, Sendable {
  /// The element of the kernel's product (register 0 when there is a head).
  case head
  /// The element of operand `k`, broadcast when its shape is smaller.
  case load(Int)
  case constant(Double)
  case unary(UnaryFunction, Int)
  case binary(BinaryFunction, Int, Int)

  /// The registers this instruction reads.
  public var reads: [Int] {
    switch self {
    case .head, .load, .constant: return []
    case .unary(_, let a): return [a]
    case .binary(_, let a, let b): return [a, b]
    }
  }
}

/// A second result of a fused kernel: register `register`, written into the
/// persistent tensor `name` (an optimizer moment computed on the way to the
/// parameter update it feeds). It replaces an `assign` of that value, so one
/// pass over memory produces every updated tensor.
public struct KernelStore: Hashable, Sendable {
  public var name: String
  public var register: Int

  public init(name: String, register: Int) {
    self.name = name
    self.register = register
  }
}

/// A sum that closes an elementwise kernel: the program runs over `domain`
/// and its result is summed over `axes` as it goes, so the summed tensor
/// (a square, a product of gradients) is never written to memory.
public struct KernelReduction: Hashable, Sendable {
  public var axes: [Int]
  public var domain: [Int]

  public init(axes: [Int], domain: [Int]) {
    self.axes = axes
    self.domain = domain
  }

  /// The kernel's result shape: the domain with the summed axes kept as 1.
  public var shape: [Int] { domain.enumerated().map { axes.contains($0.offset) ? 1 : $0.element } }

  /// Whether the kept axes are one run, so the output index of element i is
  /// (i / after) % kept: the only sums a reducing kernel makes.
  public static func isSupported(axes: [Int], rank: Int) -> Bool {
    let kept = (0..<rank).filter { !axes.contains($0) }
    guard let first = kept.first else { return true }
    return kept.last! - first + 1 == kept.count
  }
}

/// A kernel made by fusion: a product (matmul or a convolution) with an
/// elementwise epilogue, or an elementwise program alone, optionally summed.
public struct FusedKernel: Hashable, Sendable {
  /// The product computed first, reading the first `head.arity` operands.
  public var head: Op?
  public var code: [Instruction]
  /// Registers also written into persistent tensors, element for element.
  public var stores: [KernelStore]
  /// A sum over the program's result (kernels without a head only).
  public var reduction: KernelReduction?

  public init(head: Op?, code: [Instruction], stores: [KernelStore] = [], reduction: KernelReduction? = nil) {
    self.head = head
    self.code = code
    self.stores = stores
    self.reduction = reduction
  }

  /// Operands the head reads.
  public var headArity: Int { Self.headArity(head) }

  /// Operands a kernel with product `head` (or none) reads for it, before its loadable ones.
  public static func headArity(_ head: Op?) -> Int { head == nil ? 0 : 2 }
}
