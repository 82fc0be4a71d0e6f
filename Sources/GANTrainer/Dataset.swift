import CZlib
import Foundation
import GANRuntime
import GANSpec

/// A problem with the data, naming the file and what is wrong.
public struct DataError: Error, CustomStringConvertible {
  public var message: String
  public init(_ message: String) { self.message = message }
  public var description: String { message }
}

/// The real samples: fresh draws from a built-in mixture, or a fixed set read
/// from a file and visited in shuffled epochs.
public final class Dataset: @unchecked Sendable {
  public let shape: [Int]
  public let sampleSize: Int
  /// A fixed training set (N x sampleSize), or nil when every batch is fresh.
  public let samples: [Float]?
  public let labels: [Float]?
  public let count: Int
  public let classes: Int?
  /// Per-column mean and standard deviation for standardised tabular data.
  public let columnMean: [Float]?
  public let columnStd: [Float]?
  public let columnNames: [String]?
  let source: DataSource
  let seed: UInt64
  /// Mode centres of a built-in mixture, and its standard deviation.
  public let centres: [(Double, Double)]
  public let modeStd: Double

  public init(_ spec: DataSpec, shape: [Int], seed: UInt64) throws {
    self.shape = shape
    sampleSize = shape.reduce(1, *)
    source = spec.source
    self.seed = seed
    var samples: [Float]? = nil, labels: [Float]? = nil, classes: Int? = nil
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
      let (images, n) = try Self.readIDXImages(imagesPath, expect: shape)
      samples = images
      if let labelsPath {
        let l = try Self.readIDXLabels(labelsPath, count: n)
        labels = l
        classes = Int(l.max() ?? 0) + 1
      }
    case .csv(let path, let columns, let header):
      let table = try Self.readCSV(path, columns: columns, header: header)
      names = table.names
      (samples, mean, std) = Self.standardise(table.values, columns: table.names.count)
    case .npy(let path):
      samples = try Self.readNPY(path, sampleSize: sampleSize)
    }
    // A fixed training set of a built-in mixture, drawn once from the seed.
    switch spec.source {
    case .ring(_, _, _, let n) where n > 0, .grid(_, _, _, let n) where n > 0:
      var fixed = [Float](repeating: 0, count: n * 2)
      Self.drawMixture(centres: centres, std: modeStd, into: &fixed, count: n, stream: SeededStream(seed: seed, stream: 7_000_001))
      samples = fixed
    default: break
    }
    self.samples = samples
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
    let random = SeededStream(seed: seed, stream: 8_000_000 + epoch)
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
  public func fill(_ out: UnsafeMutableBufferPointer<Float>?, labels labelOut: UnsafeMutableBufferPointer<Float>?, batch: Int, position: Int) {
    guard let samples else {
      guard let out else { return }
      var buffer = [Float](repeating: 0, count: batch * 2)
      Self.drawMixture(centres: centres, std: modeStd, into: &buffer, count: batch, stream: SeededStream(seed: seed &+ UInt64(position), stream: 7_000_002))
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
      if let out { for k in 0..<sampleSize { out[b * sampleSize + k] = samples[index * sampleSize + k] } }
      if let labelOut, let labels { labelOut[b] = labels[index] }
    }
  }

  /// Generated values in the data's original units (undoing standardisation).
  public func toOriginalUnits(_ values: [Float]) -> [Float] {
    guard let mean = columnMean, let std = columnStd else { return values }
    return values.enumerated().map { i, v in v * std[i % mean.count] + mean[i % mean.count] }
  }

  // MARK: Files

  /// Reads a whole plain or gzipped file, refusing absurd sizes.
  static func readAll(_ path: String, limit: Int = 4 << 30) throws -> [UInt8] {
    guard let file = gzopen(path, "rb") else { throw DataError("\(path): cannot open the file") }
    defer { gzclose(file) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
      if n < 0 { throw DataError("\(path): the file is damaged (not valid gzip data)") }
      if n == 0 { break }
      out += chunk[0..<Int(n)]
      if out.count > limit { throw DataError("\(path): larger than \(limit >> 30) GiB") }
    }
    return out
  }

  static func bigEndian(_ b: [UInt8], _ at: Int) -> Int {
    Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
  }

  static func readIDXImages(_ path: String, expect shape: [Int]) throws -> ([Float], Int) {
    let bytes = try readAll(path)
    guard bytes.count >= 16, bytes[0] == 0, bytes[1] == 0, bytes[2] == 8, bytes[3] == 3 else {
      throw DataError("\(path): not an IDX file of unsigned-byte images (magic 0x00000803)")
    }
    let n = bigEndian(bytes, 4), h = bigEndian(bytes, 8), w = bigEndian(bytes, 12)
    guard [1, h, w] == shape else { throw DataError("\(path): images are \(h)x\(w), but the spec was checked against \(shape)") }
    guard bytes.count >= 16 + n * h * w else {
      throw DataError("\(path): truncated: \(bytes.count - 16) bytes of pixels for \(n) images of \(h)x\(w) (\(n * h * w) needed)")
    }
    // Scaled to [-1, 1].
    let images = bytes[16..<(16 + n * h * w)].map { Float($0) / 127.5 - 1 }
    return (images, n)
  }

  static func readIDXLabels(_ path: String, count: Int) throws -> [Float] {
    let bytes = try readAll(path)
    guard bytes.count >= 8, bytes[0] == 0, bytes[1] == 0, bytes[2] == 8, bytes[3] == 1 else {
      throw DataError("\(path): not an IDX label file (magic 0x00000801)")
    }
    let n = bigEndian(bytes, 4)
    guard n == count else { throw DataError("\(path): \(n) labels for \(count) images") }
    guard bytes.count >= 8 + n else { throw DataError("\(path): truncated: \(bytes.count - 8) of \(n) labels") }
    return bytes[8..<(8 + n)].map { Float($0) }
  }

  struct Table {
    var names: [String]
    var values: [Float]
  }

  static func readCSV(_ path: String, columns: [String]?, header: Bool) throws -> Table {
    let text = String(decoding: try readAll(path, limit: 1 << 30), as: UTF8.self)
    var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
      .map { $0.trimmingCharacters(in: .whitespaces) }.enumerated().filter { !$0.element.isEmpty }
    guard !lines.isEmpty else { throw DataError("\(path): the file is empty") }
    func cells(_ line: String) -> [String] {
      line.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
      }
    }
    var names: [String]
    if header {
      names = cells(lines.removeFirst().element)
    } else {
      names = (0..<cells(lines[0].element).count).map { "c\($0)" }
    }
    let selected = try (columns ?? names).map { c -> Int in
      guard let i = names.firstIndex(of: c) else { throw DataError("\(path): no column '\(c)'") }
      return i
    }
    guard !lines.isEmpty else { throw DataError("\(path): no rows") }
    var values: [Float] = []
    values.reserveCapacity(lines.count * selected.count)
    for (number, line) in lines {
      let row = cells(line)
      guard row.count == names.count else {
        throw DataError("\(path):\(number + 1): \(row.count) values, but the file has \(names.count) columns")
      }
      for i in selected {
        guard let v = Float(row[i]), v.isFinite else {
          throw DataError("\(path):\(number + 1): '\(row[i])' in column '\(names[i])' is not a number")
        }
        values.append(v)
      }
    }
    return Table(names: selected.map { names[$0] }, values: values)
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

  static func readNPY(_ path: String, sampleSize: Int) throws -> [Float] {
    let bytes = try readAll(path)
    guard let h = DataProbeAccess.npyHeader(bytes) else { throw DataError("\(path): not a NumPy .npy file") }
    let n = h.shape.first ?? 0
    let count = h.shape.reduce(1, *)
    guard count == n * sampleSize else { throw DataError("\(path): shape \(h.shape) does not match the checked sample size \(sampleSize)") }
    let itemSize = ["<f4": 4, "<f8": 8, "|u1": 1, "|i1": 1, "<i4": 4, "<i8": 8, "<f2": 2][h.descr] ?? 0
    guard itemSize > 0 else { throw DataError("\(path): element type '\(h.descr)' is not supported") }
    guard bytes.count >= h.offset + count * itemSize else {
      throw DataError("\(path): truncated: \(bytes.count - h.offset) of \(count * itemSize) data bytes")
    }
    return bytes.withUnsafeBytes { raw -> [Float] in
      let base = raw.baseAddress! + h.offset
      switch h.descr {
      case "<f4": return (0..<count).map { base.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
      case "<f8": return (0..<count).map { Float(base.loadUnaligned(fromByteOffset: 8 * $0, as: Double.self)) }
      case "<f2": return (0..<count).map { Float(base.loadUnaligned(fromByteOffset: 2 * $0, as: Float16.self)) }
      case "|u1": return (0..<count).map { Float(base.load(fromByteOffset: $0, as: UInt8.self)) / 127.5 - 1 }
      case "|i1": return (0..<count).map { Float(base.load(fromByteOffset: $0, as: Int8.self)) }
      case "<i4": return (0..<count).map { Float(base.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)) }
      default: return (0..<count).map { Float(base.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
      }
    }
  }
}
