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

/// Which random numbers a stream holds: its purpose in the top 8 bits of the
/// 64-bit stream id and its index in the low 56. Two different (purpose,
/// index) pairs are two different ids, and the id is multiplied by an odd
/// constant and mixed by a bijection, so streams of one seed never coincide
/// however long a run is (the old scheme spaced purposes 10 million apart
/// while `steps` allowed 10^9).
public struct RandomStream: Hashable, Sendable {
  public enum Purpose: UInt8, Sendable, CaseIterable {
    /// Initial weights; index: the tensor's position among persistent tensors.
    case initialization = 1
    /// z of the D-step and G-step; index: the update count.
    case discriminatorNoise, generatorNoise
    /// Class ids asked of G in the D-step and the G-step; index: the update count.
    case discriminatorLabels, generatorLabels
    /// z of samples and images; index: (noise seed << 24) | batch.
    case sampleNoise
    /// The shuffle of epoch `index` of a fixed training set.
    case epochOrder
    /// A fixed training set drawn from a built-in mixture (index 0), fresh batches (index: the position).
    case mixtureSet, mixtureBatch
    /// Random ops inside the D-step, the G-step and other programs (dropout,
    /// the gradient penalty's interpolation); index: (run << 16) | op stream.
    case discriminatorStep, generatorStep, otherProgram
    /// Synthetic inputs of `ganc bench`; index: (iteration << 8) | input.
    case benchmark
    /// The shuffle of epoch `index` of the labelled subset (labels-per-class).
    case labelledOrder
    /// DiffAugment's draws; index: (update << 5) | (D-step 16) | (generated 8) | parameter.
    case augmentation
  }

  /// The largest index plus one.
  public static let indexLimit: UInt64 = 1 << 56

  public let purpose: Purpose
  public let index: UInt64

  public init(_ purpose: Purpose, _ index: Int) {
    precondition(index >= 0 && UInt64(index) < Self.indexLimit, "random stream index \(index) out of range")
    self.purpose = purpose
    self.index = UInt64(index)
  }

  /// The stream number CounterRandom and the C kernels take.
  public var id: Int { Int(bitPattern: UInt(UInt64(purpose.rawValue) << 56 | index)) }
}

/// The random numbers of one run of a program: its ops' stream `k` is
/// stream (run << 16) | k of the program's purpose, under the run's seed.
public struct RunRandom: Hashable, Sendable {
  public var seed: UInt64
  public var purpose: RandomStream.Purpose
  public var run: Int
  /// Data-parallel rank: an op's numbers start at rank x its element count,
  /// so that rank r draws the rows r*b..<(r+1)*b of the global batch's.
  public var rank = 0
  /// Op streams per program (dropout layers, the gradient penalty).
  public static let opStreams = 1 << 16

  public init(seed: UInt64, purpose: RandomStream.Purpose = .otherProgram, run: Int = 0, rank: Int = 0) {
    self.seed = seed
    self.purpose = purpose
    self.run = run
    self.rank = rank
  }

  /// The stream of op stream `k`.
  public func stream(_ k: Int) -> Int {
    precondition(k >= 0 && k < Self.opStreams, "op stream \(k) out of range")
    return RandomStream(purpose, run << 16 | k).id
  }

  /// Number `index` of op stream `k`.
  @inlinable
  public func uniform(_ k: Int, _ index: Int) -> Double { CounterRandom.uniform(seed: seed, stream: stream(k), index: index) }
}
