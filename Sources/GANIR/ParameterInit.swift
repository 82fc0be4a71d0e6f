/// How a persistent tensor starts.
public enum ParameterInit: Hashable, Sendable {
  /// U(-bound, bound).
  case uniform(bound: Double)
  case normal(std: Double)
  case constant(Double)
}
