import CZlib
import Foundation
import GANDiagnostics

/// What the checker knows about the real data without loading it.
public struct DataInfo: Hashable, Sendable {
  /// The shape of one sample.
  public var shape: Shape
  /// How many samples a file holds (nil for fresh draws).
  public var count: Int?
  /// The number of classes (largest label + 1) when the data is labelled.
  public var classes: Int?
  /// The range samples are scaled into (nil when unbounded, e.g. standardised columns).
  public var range: ClosedRange<Double>?
  /// Column names, for CSV.
  public var columns: [String]?
}

/// Reads the headers of data files (IDX, CSV, NPY) to learn their shapes and
/// refuse malformed or truncated ones before any training starts.
enum DataProbe {
  static func probe(_ data: DataSpec, diagnostics: inout [Diagnostic]) -> DataInfo? {
    switch data.source {
    case .ring(let modes, let radius, let std, let samples):
      guard sane(modes, samples, data, &diagnostics) else { return nil }
      let extent = radius + 3 * std
      return DataInfo(shape: [2], count: samples > 0 ? samples : nil, classes: nil, range: -extent...extent)
    case .grid(let size, let spacing, let std, let samples):
      guard size <= 1000, sane(size * size, samples, data, &diagnostics) else {
        if size > 1000 {
          diagnostics.append(.error(.tooLarge, "a grid of \(size) x \(size) modes is too large", at: data.location(of: "size"),
            help: "use at most 1000 modes per side"))
        }
        return nil
      }
      let extent = Double(size - 1) / 2 * spacing + 3 * std
      return DataInfo(shape: [2], count: samples > 0 ? samples : nil, classes: nil, range: -extent...extent)
    case .idx(let images, let labels):
      return probeIDX(images: images, labels: labels, data, &diagnostics)
    case .csv(let path, let columns, let header):
      return probeCSV(path, columns: columns, header: header, data, &diagnostics)
    case .npy(let path):
      return probeNPY(path, data, &diagnostics)
    }
  }

  private static func sane(_ modes: Int, _ samples: Int, _ data: DataSpec, _ d: inout [Diagnostic]) -> Bool {
    if modes > 1_000_000 {
      d.append(.error(.tooLarge, "\(modes) modes is too many", at: data.location(of: "modes"), help: "use at most 1,000,000 modes"))
      return false
    }
    if samples > 100_000_000 {
      d.append(.error(.tooLarge, "a fixed set of \(samples) points is too large to hold", at: data.location(of: "samples"),
        help: "use at most 100,000,000 samples, or 0 for fresh draws"))
      return false
    }
    return true
  }

  // MARK: IDX

  /// Reads up to `count` bytes from the start of a plain or gzipped file.
  static func readPrefix(_ path: String, count: Int) -> [UInt8]? {
    guard let file = gzopen(path, "rb") else { return nil }
    defer { gzclose(file) }
    var buffer = [UInt8](repeating: 0, count: count)
    let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(count)) }
    guard n >= 0 else { return nil }
    return Array(buffer.prefix(Int(n)))
  }

  private static func bigEndian(_ b: [UInt8], _ at: Int) -> Int {
    Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
  }

  private static func exists(_ path: String, _ attribute: String, _ data: DataSpec, _ d: inout [Diagnostic]) -> Bool {
    var dir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &dir), !dir.boolValue { return true }
    let fashion = path.contains("fashion-mnist")
    d.append(.error(.dataMissing, "the data file \(path) does not exist", at: data.location(of: attribute),
      help: fashion ? "install Debian's dataset-fashion-mnist (scripts/setup.sh does)" : "relative paths are resolved from the spec's folder"))
    return false
  }

  private static func probeIDX(images: String, labels: String?, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(images, "images", data, &d) else { return nil }
    guard let head = readPrefix(images, count: 16), head.count == 16 else {
      d.append(.error(.dataFormat, "\(images) is too short to be an IDX file", at: data.location(of: "images"),
        help: "an IDX image file starts with a 16-byte header"))
      return nil
    }
    guard head[0] == 0, head[1] == 0, head[2] == 0x08, head[3] == 3 else {
      let what = head[0] == 0 && head[1] == 0 ? "element type 0x\(String(head[2], radix: 16)) with \(head[3]) dimensions" : "no IDX magic number"
      d.append(.error(.dataFormat, "\(images) is not an IDX file of unsigned-byte images (\(what))", at: data.location(of: "images"),
        help: "ganc reads IDX images with magic 0x00000803 (N x H x W unsigned bytes), plain or .gz"))
      return nil
    }
    let n = bigEndian(head, 4), h = bigEndian(head, 8), w = bigEndian(head, 12)
    guard n > 0, h > 0, w > 0, h <= 65536, w <= 65536, n <= 1 << 31 else {
      d.append(.error(.dataFormat, "\(images) has impossible dimensions \(n) x \(h) x \(w)", at: data.location(of: "images"),
        help: "the file is damaged; download or install it again"))
      return nil
    }
    if !images.hasSuffix(".gz"), let size = fileSize(images), size != 16 + n * h * w {
      d.append(.error(.dataFormat, "\(images) holds \(size - 16) bytes of pixels, but its header promises \(n) x \(h) x \(w) = \(n * h * w)",
        at: data.location(of: "images"), help: "the file is truncated or damaged"))
      return nil
    }
    var info = DataInfo(shape: [1, h, w], count: n, classes: nil, range: -1...1)
    if let labels {
      guard exists(labels, "labels", data, &d) else { return nil }
      guard let bytes = readPrefix(labels, count: 8 + n + 1), bytes.count >= 8,
        bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08, bytes[3] == 1
      else {
        d.append(.error(.dataFormat, "\(labels) is not an IDX label file", at: data.location(of: "labels"),
          help: "ganc reads IDX labels with magic 0x00000801 (N unsigned bytes), plain or .gz"))
        return nil
      }
      let count = bigEndian(bytes, 4)
      guard count == n else {
        d.append(.error(.dataLabels, "\(labels) holds \(count) labels for \(n) images", at: data.location(of: "labels"),
          help: "pair each image file with its own label file"))
        return nil
      }
      guard bytes.count == 8 + n else {
        d.append(.error(.dataFormat, "\(labels) is truncated: \(bytes.count - 8) of \(n) labels", at: data.location(of: "labels"),
          help: "the file is damaged; install it again"))
        return nil
      }
      info.classes = Int(bytes[8...].max() ?? 0) + 1
    }
    return info
  }

  static func fileSize(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
  }

  // MARK: CSV

  private static func probeCSV(_ path: String, columns: [String]?, header: Bool, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(path, "path", data, &d) else { return nil }
    guard let bytes = readPrefix(path, count: 1 << 16) else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
      .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    if bytes.count == 1 << 16, lines.count > 1 { lines.removeLast() }  // may be cut mid-line
    guard !lines.isEmpty else {
      d.append(.error(.dataFormat, "\(path) is empty", at: data.location(of: "path"), help: "a CSV file needs rows of numbers"))
      return nil
    }
    func cells(_ line: String) -> [String] {
      line.split(separator: ",", omittingEmptySubsequences: false).map {
        $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
      }
    }
    var names: [String]
    var firstRow = 1
    if header {
      names = cells(lines[0])
      firstRow = 2
    } else {
      names = (0..<cells(lines[0]).count).map { "c\($0)" }
      if columns != nil {
        d.append(.error(.dataColumns, "'columns' names header columns, but header=\"false\"", at: data.location(of: "columns"),
          help: "set header=\"true\" or leave columns out"))
        return nil
      }
    }
    var selected = Array(names.indices)
    if let columns {
      selected = []
      for c in columns {
        guard let i = names.firstIndex(of: c) else {
          d.append(.error(.dataColumns, "\(path) has no column '\(c)'", at: data.location(of: "columns"),
            help: Suggestion.help(for: c, in: names, what: "column")))
          return nil
        }
        selected.append(i)
      }
    }
    guard lines.count >= firstRow else {
      d.append(.error(.dataFormat, "\(path) has a header but no rows", at: data.location(of: "path"), help: "add rows of numbers"))
      return nil
    }
    for (offset, line) in lines.dropFirst(firstRow - 1).prefix(100).enumerated() {
      let row = cells(line)
      guard row.count == names.count else {
        d.append(.error(.dataFormat, "\(path):\(offset + firstRow): \(row.count) values, but the file has \(names.count) columns",
          at: data.location(of: "path"), help: "every row needs one value per column"))
        return nil
      }
      for i in selected where Double(row[i]) == nil || !(Double(row[i])!.isFinite) {
        d.append(.error(.dataFormat, "\(path):\(offset + firstRow): '\(row[i])' in column '\(names[i])' is not a number",
          at: data.location(of: "path"), help: "choose numeric columns with columns=\"...\""))
        return nil
      }
    }
    return DataInfo(shape: [selected.count], count: nil, classes: nil, range: nil, columns: selected.map { names[$0] })
  }

  // MARK: NPY

  static let npyTypes: [String: Int] = ["<f4": 4, "<f8": 8, "|u1": 1, "<i4": 4, "<i8": 8, "<f2": 2, "|i1": 1]

  /// The element type, shape and data offset of a .npy file.
  static func npyHeader(_ bytes: [UInt8]) -> (descr: String, fortran: Bool, shape: [Int], offset: Int)? {
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else { return nil }
    let major = bytes[6]
    let (length, start) = major == 1 ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
      : (bytes.count >= 12 ? (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12) : (0, 0))
    guard start > 0, length > 0, start + length <= bytes.count else { return nil }
    let header = String(decoding: bytes[start..<(start + length)], as: UTF8.self)
    func value(_ key: String) -> String? {
      guard let r = header.range(of: "'\(key)':") else { return nil }
      return String(header[r.upperBound...]).trimmingCharacters(in: .whitespaces)
    }
    guard let d = value("descr"), let f = value("fortran_order"), let s = value("shape"),
      let q1 = d.dropFirst().firstIndex(of: "'"), let close = s.firstIndex(of: ")")
    else { return nil }
    let descr = String(d[d.index(after: d.startIndex)..<q1])
    let dims = s[s.index(after: s.startIndex)..<close].split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
      .filter { !$0.isEmpty }
    let shape = dims.compactMap { Int($0) }
    guard shape.count == dims.count else { return nil }
    return (descr, f.hasPrefix("True"), shape, start + length)
  }

  private static func probeNPY(_ path: String, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(path, "path", data, &d) else { return nil }
    guard let bytes = readPrefix(path, count: 1 << 16), let h = npyHeader(bytes) else {
      d.append(.error(.dataFormat, "\(path) is not a NumPy .npy file", at: data.location(of: "path"),
        help: "save the array with numpy.save"))
      return nil
    }
    guard let size = npyTypes[h.descr] else {
      d.append(.error(.dataFormat, "\(path) holds elements of type '\(h.descr)', which ganc does not read", at: data.location(of: "path"),
        help: "save float32 or float64 data: array.astype('float32')"))
      return nil
    }
    guard !h.fortran else {
      d.append(.error(.dataFormat, "\(path) is in Fortran order", at: data.location(of: "path"),
        help: "save a C-ordered array: numpy.save(path, numpy.ascontiguousarray(a))"))
      return nil
    }
    guard let n = h.shape.first, n > 0, h.shape.allSatisfy({ $0 > 0 }) else {
      d.append(.error(.dataFormat, "\(path) has shape \(h.shape), with no samples", at: data.location(of: "path"),
        help: "the first axis is the sample axis"))
      return nil
    }
    guard h.shape.count <= 13 else {
      d.append(.error(.dataFormat, "\(path) has \(h.shape.count - 1) axes per sample; ganc reads at most 12", at: data.location(of: "path"),
        help: "reshape the samples to fewer axes (a feature vector, or C H W images) before saving"))
      return nil
    }
    var total = size
    for s in h.shape {
      let (p, o) = total.multipliedReportingOverflow(by: s)
      guard !o else { return nil }
      total = p
    }
    if !path.hasSuffix(".gz"), let fileBytes = fileSize(path), fileBytes < h.offset + total {
      d.append(.error(.dataFormat, "\(path) is truncated: \(fileBytes - h.offset) of \(total) data bytes", at: data.location(of: "path"),
        help: "the file is damaged; save it again"))
      return nil
    }
    let shape = h.shape.count == 1 ? [1] : Array(h.shape.dropFirst())
    return DataInfo(shape: shape, count: n, classes: nil, range: nil)
  }
}

/// The NPY header reader, for the trainer's data loading.
public enum DataProbeAccess {
  public static func npyHeader(_ bytes: [UInt8]) -> (descr: String, fortran: Bool, shape: [Int], offset: Int)? {
    DataProbe.npyHeader(bytes)
  }
}
