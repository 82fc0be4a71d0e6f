/// Counter-based random numbers: the value at (seed, stream, index) is a pure
/// function, so any thread can fill any slice and results never depend on the
/// thread count or the order of work.
public enum CounterRandom {
  /// A well-mixed 64-bit hash (SplitMix64's finaliser).
  @inlinable
  public static func mix(_ x: UInt64) -> UInt64 {
    var z = x &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform number in [0, 1) with 24 random bits (exact in Float and Double).
  @inlinable
  public static func uniform(seed: UInt64, stream: Int, index: Int) -> Double {
    let h = mix(mix(seed ^ (UInt64(truncatingIfNeeded: stream) &* 0xD1B5_4A32_D192_ED03)) &+ UInt64(truncatingIfNeeded: index))
    return Double(h >> 40) * 0x1p-24
  }
}
