/// Where a layer's input comes from.
public enum NodeRef: Hashable, Sendable {
  /// A net input: `z`, `x` or `label`.
  case input(String)
  /// The output of the layer at this index.
  case layer(Int)
}

/// The resolved padding of a convolution: rows and columns added before and
/// after (for a transposed convolution: removed from the output).
public struct ConvGeometry: Hashable, Sendable {
  public var padTop: Int
  public var padBottom: Int
  public var padLeft: Int
  public var padRight: Int
}

/// A layer with its inputs resolved and its shapes inferred.
public struct CheckedLayer: Hashable, Sendable {
  public var layer: Layer
  public var inputs: [NodeRef]
  public var inputShapes: [Shape]
  public var outputShape: Shape
  /// Learned parameters (weights, biases, norm scales and shifts).
  public var parameterCount: Int
  /// Forward floating-point operations per sample (multiply-add = 2).
  public var flops: Int
  /// Padding resolved from `same`, `valid` or numbers (convolutions only).
  public var geometry: ConvGeometry?
}

/// G or D after shape inference.
public struct CheckedNetwork: Hashable, Sendable {
  public var role: NetworkRole
  public var layers: [CheckedLayer]
  /// The shapes of the net's inputs (`z` or `x`, and `label` when conditional).
  public var inputs: [String: Shape]
  public var outputShape: Shape
  public var parameterCount: Int { layers.reduce(0) { $0 + $1.parameterCount } }
  public var flops: Int { layers.reduce(0) { $0 + $1.flops } }
  /// Whether some layer reads `label`.
  public var readsLabel: Bool { layers.contains { $0.inputs.contains(.input("label")) } }
}

/// A spec that passed every check, with what the checks learned.
public struct CheckedSpec: Hashable, Sendable {
  public var spec: Spec
  public var data: DataInfo
  public var generator: CheckedNetwork
  public var discriminator: CheckedNetwork

  public func network(_ role: NetworkRole) -> CheckedNetwork {
    role == .generator ? generator : discriminator
  }

  /// The nets the spec trains: G and D, or a classifier's one net.
  public var nets: [CheckedNetwork] { spec.kind == .classifier ? [discriminator] : [generator, discriminator] }
}

/// Size arithmetic that reports overflow instead of trapping.
enum Checked {
  /// The product of `values`, or nil if it overflows.
  static func product(_ values: [Int]) -> Int? {
    var total = 1
    for v in values {
      let (p, o) = total.multipliedReportingOverflow(by: v)
      if o { return nil }
      total = p
    }
    return total
  }

  static func multiply(_ a: Int, _ b: Int) -> Int? {
    let (p, o) = a.multipliedReportingOverflow(by: b)
    return o ? nil : p
  }

  static func add(_ a: Int, _ b: Int) -> Int? {
    let (s, o) = a.addingReportingOverflow(b)
    return o ? nil : s
  }
}

extension Array where Element == Int {
  /// "1 28 28" style, as shapes are written in specs.
  public var shapeText: String { map(String.init).joined(separator: " ") }
}
