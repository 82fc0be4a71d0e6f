import Foundation
import GANData
import GANIR
import GANRuntime
import GANSpec

/// A problem with the data, naming the file and what is wrong.
public struct DataError: Error, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// A fixed training set as it was stored: image pixels and NumPy arrays stay
/// in their own element type (a byte per Fashion-MNIST pixel, not four) and
/// become floats one batch at a time.
public enum SampleStorage: Sendable {
  /// Standardised table columns, drawn mixture points.
  case floats([Float])
  /// Unsigned-byte pixels, scaled to [-1, 1] when read.
  case pixels([UInt8])
  case npy(NPY.Stored)

  /// Values first..<first+n as floats into `out`.
  @inline(__always)
  func copy(_ first: Int, _ n: Int, into out: UnsafeMutablePointer<Float>) {
    switch self {
    case .floats(let v): v.withUnsafeBufferPointer { out.update(from: $0.baseAddress! + first, count: n) }
    case .pixels(let p): p.withUnsafeBufferPointer { b in for k in 0..<n { out[k] = Float(b[first + k]) / 127.5 - 1 } }
    case .npy(let a): a.copy(first, n, into: out)
    }
  }

  var count: Int {
    switch self {
    case .floats(let v): return v.count
    case .pixels(let p): return p.count
    case .npy(let a): return a.count
    }
  }

  /// The samples at `indices` (each `size` values), in that order.
  func rows(_ indices: [Int], size: Int) -> SampleStorage {
    if case .pixels(let p) = self {
      var out: [UInt8] = []
      out.reserveCapacity(indices.count * size)
      for i in indices { out += p[(i * size)..<((i + 1) * size)] }
      return .pixels(out)
    }
    var out = [Float](repeating: 0, count: indices.count * size)
    out.withUnsafeMutableBufferPointer { b in for (k, i) in indices.enumerated() { copy(i * size, size, into: b.baseAddress! + k * size) } }
    return .floats(out)
  }

  /// Bytes held.
  public var bytes: Int {
    switch self {
    case .floats(let v): return v.count * 4
    case .pixels(let p): return p.count
    case .npy(let a): return a.count * a.itemSize
    }
  }
}

/// The real samples: fresh draws from a built-in mixture, or a fixed set read
/// from a file and visited in shuffled epochs.
public final class Dataset: @unchecked Sendable {
  public let shape: [Int]
  public let sampleSize: Int
  /// A fixed training set (N x sampleSize), or nil when every batch is fresh.
  public let storage: SampleStorage?
  public let labels: [Float]?
  public let count: Int
  public let classes: Int?
  /// Per-column mean and standard deviation for standardised tabular data.
  public let columnMean: [Float]?
  public let columnStd: [Float]?
  public let columnNames: [String]?
  let source: DataSource
  let seed: UInt64
  /// Which random streams shuffle its epochs.
  let orderPurpose: RandomStream.Purpose
  /// Mode centres of a built-in mixture, and its standard deviation.
  public let centres: [(Double, Double)]
  public let modeStd: Double

  public init(_ spec: DataSpec, shape: [Int], seed: UInt64) throws {
    self.shape = shape
    sampleSize = shape.reduce(1, *)
    source = spec.source
    self.seed = seed
    orderPurpose = .epochOrder
    var samples: SampleStorage? = nil, labels: [Float]? = nil, classes: Int? = nil
    var mean: [Float]? = nil, std: [Float]? = nil, names: [String]? = nil
    var centres: [(Double, Double)] = [], modeStd = 0.0
    switch spec.source {
    case .ring(let modes, let radius, let s, _):
      centres = (0..<modes).map { i in
        let a = 2 * Double.pi * Double(i) / Double(modes)
        return (radius * Foundation.cos(a), radius * Foundation.sin(a))
      }
      modeStd = s
    case .grid(let size, let spacing, let s, _):
      let half = Double(size - 1) / 2
      for i in 0..<size { for j in 0..<size { centres.append(((Double(i) - half) * spacing, (Double(j) - half) * spacing)) } }
      modeStd = s
    case .idx(let imagesPath, let labelsPath):
      let (header, pixels) = try Self.reading { try IDX.readImages(imagesPath) }
      guard [1, header.height, header.width] == shape else {
        throw DataError("\(imagesPath): images are \(header.height)x\(header.width), but the spec was checked against \(shape)")
      }
      samples = .pixels(pixels)
      if let labelsPath {
        let l = try Self.reading { try IDX.readLabels(labelsPath, count: header.count) }
        labels = l.map(Float.init)
        classes = Int(l.max() ?? 0) + 1
      }
    case .csv(let path, let columns, let header):
      let table = try Self.reading { try CSV.read(path, columns: columns, header: header) }
      names = table.names
      let standardised: [Float]
      (standardised, mean, std) = Self.standardise(table.values, columns: table.names.count)
      samples = .floats(standardised)
    case .npy(let path):
      let size = sampleSize
      samples = .npy(try Self.reading { try NPY.read(path, sampleSize: size) })
    }
    // A fixed training set of a built-in mixture, drawn once from the seed.
    switch spec.source {
    case .ring(_, _, _, let n) where n > 0, .grid(_, _, _, let n) where n > 0:
      var fixed = [Float](repeating: 0, count: n * 2)
      Self.drawMixture(centres: centres, std: modeStd, into: &fixed, count: n, stream: SeededStream(seed: seed, RandomStream(.mixtureSet, 0)))
      samples = .floats(fixed)
    default: break
    }
    storage = samples
    self.labels = labels
    self.classes = classes
    columnMean = mean
    columnStd = std
    columnNames = names
    self.centres = centres
    self.modeStd = modeStd
    let size = shape.reduce(1, *)
    count = samples.map { $0.count / size } ?? 0
  }

  private init(subsetOf base: Dataset, rows: [Int]) {
    shape = base.shape
    sampleSize = base.sampleSize
    source = base.source
    seed = base.seed
    orderPurpose = .labelledOrder
    storage = base.storage?.rows(rows, size: base.sampleSize)
    labels = base.labels.map { l in rows.map { l[$0] } }
    classes = base.classes
    columnMean = base.columnMean
    columnStd = base.columnStd
    columnNames = base.columnNames
    centres = base.centres
    modeStd = base.modeStd
    count = rows.count
  }

  /// The first `perClass` samples of each class in file order (the same
  /// images for every seed, so a GAN and a classifier can share them).
  public func labelledSubset(perClass: Int) throws -> Dataset {
    guard let labels, let classes else { throw DataError("labels-per-class needs labelled data") }
    var taken = [Int](repeating: 0, count: classes)
    var rows: [Int] = []
    for (i, l) in labels.enumerated() where taken[Int(l)] < perClass {
      taken[Int(l)] += 1
      rows.append(i)
    }
    if let short = taken.firstIndex(where: { $0 < perClass }) {
      throw DataError("labels-per-class=\"\(perClass)\" asks for \(perClass) images of class \(short), but the data has only \(taken[short]); use a smaller number")
    }
    return Dataset(subsetOf: self, rows: rows)
  }

  static func drawMixture(centres: [(Double, Double)], std: Double, into out: inout [Float], count: Int, stream: SeededStream) {
    for i in 0..<count {
      let mode = min(Int(stream.uniform(3 * i) * Double(centres.count)), centres.count - 1)
      out[2 * i] = Float(centres[mode].0 + std * stream.normal(3 * i + 1))
      out[2 * i + 1] = Float(centres[mode].1 + std * stream.normal(3 * i + 2))
    }
  }

  /// The order of epoch `epoch`: a Fisher-Yates shuffle seeded by (seed, epoch).
  func permutation(epoch: Int) -> [Int] {
    var order = Array(0..<count)
    let random = SeededStream(seed: seed, RandomStream(orderPurpose, epoch))
    for i in stride(from: count - 1, to: 0, by: -1) {
      let j = min(Int(random.uniform(i) * Double(i + 1)), i)
      order.swapAt(i, j)
    }
    return order
  }

  private var cachedEpoch = -1
  private var cachedOrder: [Int] = []

  /// Fills `batch` samples (and labels) for the batch that starts at global
  /// sample position `position`: the same position always gives the same
  /// samples, which makes resumed runs identical to uninterrupted ones.
  /// Writes the batch at `position` of the shuffled epochs into `out` and its
  /// class ids into `labelOut`; either may be nil when a program reads only
  /// the other (a conditional D that never reads `x` still needs the labels).
  public func fill(
    _ out: UnsafeMutableBufferPointer<Float>?, labels labelOut: UnsafeMutableBufferPointer<Float>?, targets: UnsafeMutableBufferPointer<Float>? = nil, batch: Int,
    position: Int
  ) {
    guard let samples = storage else {
      guard let out else { return }
      var buffer = [Float](repeating: 0, count: batch * 2)
      Self.drawMixture(centres: centres, std: modeStd, into: &buffer, count: batch, stream: SeededStream(seed: seed, RandomStream(.mixtureBatch, position)))
      for i in 0..<buffer.count { out[i] = buffer[i] }
      return
    }
    for b in 0..<batch {
      let global = position + b
      let epoch = global / count
      if epoch != cachedEpoch {
        cachedOrder = permutation(epoch: epoch)
        cachedEpoch = epoch
      }
      let index = cachedOrder[global % count]
      if let out { samples.copy(index * sampleSize, sampleSize, into: out.baseAddress! + b * sampleSize) }
      if let labelOut, let labels { labelOut[b] = labels[index] }
      if let targets, let labels {
        // One-hot rows of the buffer's width (a semi-supervised D's has one more column, "generated").
        let width = targets.count / batch
        for k in 0..<width { targets[b * width + k] = 0 }
        targets[b * width + Int(labels[index])] = 1
      }
    }
  }

  /// Generated values in the data's original units (undoing standardisation).
  public func toOriginalUnits(_ values: [Float]) -> [Float] {
    guard let mean = columnMean, let std = columnStd else { return values }
    return values.enumerated().map { i, v in v * std[i % mean.count] + mean[i % mean.count] }
  }

  // MARK: Files

  /// Runs a read of GANData, turning its errors into data errors.
  static func reading<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let e as FileReadError { throw DataError(e.description) }
  }

  /// Every sample as floats (N x sampleSize), for tests and tools.
  public func allSamples() -> [Float]? {
    guard let storage else { return nil }
    var out = [Float](repeating: 0, count: storage.count)
    out.withUnsafeMutableBufferPointer { storage.copy(0, storage.count, into: $0.baseAddress!) }
    return out
  }

  /// Each column to mean 0 and standard deviation 1.
  static func standardise(_ values: [Float], columns: Int) -> ([Float], [Float], [Float]) {
    let rows = values.count / columns
    var mean = [Float](repeating: 0, count: columns), std = [Float](repeating: 1, count: columns)
    for c in 0..<columns {
      var s = 0.0, s2 = 0.0
      for r in 0..<rows { let v = Double(values[r * columns + c]); s += v; s2 += v * v }
      let m = s / Double(rows)
      mean[c] = Float(m)
      let variance = max(s2 / Double(rows) - m * m, 0)
      std[c] = variance > 1e-24 ? Float(variance.squareRoot()) : 1
    }
    var out = values
    for r in 0..<rows { for c in 0..<columns { out[r * columns + c] = (values[r * columns + c] - mean[c]) / std[c] } }
    return (out, mean, std)
  }
}
