import Foundation

/// A big-endian 32-bit integer at `at` (IDX headers).
@inline(__always)
func bigEndian32(_ b: [UInt8], _ at: Int) -> Int {
  Int(b[at]) << 24 | Int(b[at + 1]) << 16 | Int(b[at + 2]) << 8 | Int(b[at + 3])
}

/// IDX files (MNIST, Fashion-MNIST): unsigned-byte images N x H x W (magic
/// 0x00000803) and labels N (magic 0x00000801), plain or gzipped.
public enum IDX {
  public static let imageHeaderSize = 16
  public static let labelHeaderSize = 8

  public struct ImageHeader: Equatable, Sendable {
    public var count, height, width: Int
    public init(count: Int, height: Int, width: Int) {
      self.count = count
      self.height = height
      self.width = width
    }
  }

  /// What the first 16 bytes say, or why they are not an image header.
  public static func imageHeader(_ head: [UInt8]) -> Result<ImageHeader, FileReadError> {
    guard head.count >= imageHeaderSize else { return .failure(FileReadError("too short to be an IDX file")) }
    guard head[0] == 0, head[1] == 0, head[2] == 0x08, head[3] == 3 else {
      let what = head[0] == 0 && head[1] == 0 ? "element type 0x\(String(head[2], radix: 16)) with \(head[3]) dimensions" : "no IDX magic number"
      return .failure(FileReadError("not an IDX file of unsigned-byte images (\(what))"))
    }
    let h = ImageHeader(count: bigEndian32(head, 4), height: bigEndian32(head, 8), width: bigEndian32(head, 12))
    guard h.count > 0, h.height > 0, h.width > 0, h.height <= 65536, h.width <= 65536, h.count <= 1 << 31 else {
      return .failure(FileReadError("impossible dimensions \(h.count) x \(h.height) x \(h.width)"))
    }
    return .success(h)
  }

  /// The label count of a label file's header, or nil when it is not one.
  public static func labelCount(_ head: [UInt8]) -> Int? {
    guard head.count >= labelHeaderSize, head[0] == 0, head[1] == 0, head[2] == 0x08, head[3] == 1 else { return nil }
    return bigEndian32(head, 4)
  }

  /// All pixels of an image file, as stored (one byte each).
  public static func readImages(_ path: String) throws -> (header: ImageHeader, pixels: [UInt8]) {
    let bytes = try Compressed.readAll(path)
    let header: ImageHeader
    switch imageHeader(bytes) {
    case .success(let h): header = h
    case .failure(let e): throw FileReadError("\(path): \(e.description)")
    }
    let n = header.count * header.height * header.width
    guard bytes.count >= imageHeaderSize + n else {
      throw FileReadError("\(path): truncated: \(bytes.count - imageHeaderSize) bytes of pixels for \(header.count) images of \(header.height)x\(header.width) (\(n) needed)")
    }
    return (header, Array(bytes[imageHeaderSize..<(imageHeaderSize + n)]))
  }

  /// All labels of a label file holding `count` of them.
  public static func readLabels(_ path: String, count: Int) throws -> [UInt8] {
    let bytes = try Compressed.readAll(path)
    guard let n = labelCount(bytes) else { throw FileReadError("\(path): not an IDX label file (magic 0x00000801)") }
    guard n == count else { throw FileReadError("\(path): \(n) labels for \(count) images") }
    guard bytes.count >= labelHeaderSize + n else { throw FileReadError("\(path): truncated: \(bytes.count - labelHeaderSize) of \(n) labels") }
    return Array(bytes[labelHeaderSize..<(labelHeaderSize + n)])
  }
}

/// NumPy .npy arrays (C order; float, integer and byte elements).
public enum NPY {
  /// Element types ganc reads, with their sizes in bytes.
  public static let itemSizes: [String: Int] = ["<f4": 4, "<f8": 8, "|u1": 1, "<i4": 4, "<i8": 8, "<f2": 2, "|i1": 1]

  public struct Header: Equatable, Sendable {
    public var descr: String
    public var fortran: Bool
    public var shape: [Int]
    /// Where the data starts.
    public var offset: Int
  }

  /// The element type, shape and data offset of a .npy file's first bytes.
  public static func header(_ bytes: [UInt8]) -> Header? {
    guard bytes.count >= 10, bytes[0] == 0x93, Array(bytes[1..<6]) == Array("NUMPY".utf8) else { return nil }
    let major = bytes[6]
    let (length, start) =
      major == 1
      ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
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
    return Header(descr: descr, fortran: f.hasPrefix("True"), shape: shape, offset: start + length)
  }

  /// An array kept in its stored element type; elements become floats one
  /// at a time (unsigned bytes scaled to [-1, 1], like image pixels).
  public struct Stored: Sendable {
    public let header: Header
    public let itemSize: Int
    public let count: Int
    let bytes: [UInt8]

    /// Element `i` as a float.
    @inline(__always)
    public func element(_ i: Int) -> Float {
      bytes.withUnsafeBytes { raw in
        let base = raw.baseAddress! + header.offset
        switch header.descr {
        case "<f4": return base.loadUnaligned(fromByteOffset: 4 * i, as: Float.self)
        case "<f8": return Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Double.self))
        case "<f2": return Float(base.loadUnaligned(fromByteOffset: 2 * i, as: Float16.self))
        case "|u1": return Float(base.load(fromByteOffset: i, as: UInt8.self)) / 127.5 - 1
        case "|i1": return Float(base.load(fromByteOffset: i, as: Int8.self))
        case "<i4": return Float(base.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
        default: return Float(base.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self))
        }
      }
    }

    /// Elements first..<first+n into `out`.
    public func copy(_ first: Int, _ n: Int, into out: UnsafeMutablePointer<Float>) {
      bytes.withUnsafeBytes { raw in
        let base = raw.baseAddress! + header.offset
        switch header.descr {
        case "<f4":
          for k in 0..<n { out[k] = base.loadUnaligned(fromByteOffset: 4 * (first + k), as: Float.self) }
        case "|u1":
          for k in 0..<n { out[k] = Float(base.load(fromByteOffset: first + k, as: UInt8.self)) / 127.5 - 1 }
        default:
          for k in 0..<n { out[k] = element(first + k) }
        }
      }
    }
  }

  /// Reads a whole array, checking that it holds `sampleSize` values per sample.
  public static func read(_ path: String, sampleSize: Int) throws -> Stored {
    let bytes = try Compressed.readAll(path)
    guard let h = header(bytes) else { throw FileReadError("\(path): not a NumPy .npy file") }
    let n = h.shape.first ?? 0
    let count = h.shape.reduce(1, *)
    guard count == n * sampleSize else { throw FileReadError("\(path): shape \(h.shape) does not match the checked sample size \(sampleSize)") }
    guard let itemSize = itemSizes[h.descr] else { throw FileReadError("\(path): element type '\(h.descr)' is not supported") }
    guard bytes.count >= h.offset + count * itemSize else {
      throw FileReadError("\(path): truncated: \(bytes.count - h.offset) of \(count * itemSize) data bytes")
    }
    return Stored(header: h, itemSize: itemSize, count: count, bytes: bytes)
  }
}

/// Comma-separated tables of numbers with an optional header row.
public enum CSV {
  /// The cells of one line, trimmed and unquoted.
  public static func cells(_ line: String) -> [String] {
    line.split(separator: ",", omittingEmptySubsequences: false).map {
      $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }
  }

  /// The non-blank lines of `text` with their 1-based line numbers.
  public static func lines(_ text: String) -> [(number: Int, text: String)] {
    text.split(omittingEmptySubsequences: true, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
      .map { $0.trimmingCharacters(in: .whitespaces) }.enumerated()
      .filter { !$0.element.isEmpty }.map { ($0.offset + 1, $0.element) }
  }

  public struct Table: Sendable {
    public var names: [String]
    /// Row-major values of the chosen columns.
    public var values: [Float]
  }

  /// Reads the chosen columns (all by default) of a whole file.
  public static func read(_ path: String, columns: [String]?, header: Bool) throws -> Table {
    var lines = Self.lines(String(decoding: try Compressed.readAll(path, limit: 1 << 30), as: UTF8.self))
    guard !lines.isEmpty else { throw FileReadError("\(path): the file is empty") }
    let names = header ? cells(lines.removeFirst().text) : (0..<cells(lines[0].text).count).map { "c\($0)" }
    let selected = try (columns ?? names).map { c -> Int in
      guard let i = names.firstIndex(of: c) else { throw FileReadError("\(path): no column '\(c)'") }
      return i
    }
    guard !lines.isEmpty else { throw FileReadError("\(path): no rows") }
    var values: [Float] = []
    values.reserveCapacity(lines.count * selected.count)
    for (number, line) in lines {
      let row = cells(line)
      guard row.count == names.count else {
        throw FileReadError("\(path):\(number): \(row.count) values, but the file has \(names.count) columns")
      }
      for i in selected {
        guard let v = Float(row[i]), v.isFinite else {
          throw FileReadError("\(path):\(number): the value in column '\(names[i])' is not a number")
        }
        values.append(v)
      }
    }
    return Table(names: selected.map { names[$0] }, values: values)
  }
}
