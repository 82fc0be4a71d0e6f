/// How a persistent tensor starts.
public enum ParameterInit: Hashable, Sendable {
  /// U(-bound, bound).
  case uniform(bound: Double)
  case normal(std: Double)
  case constant(Double)
  /// A standard normal vector divided by its length (spectral norm's u and v).
  case unitNormal
}
