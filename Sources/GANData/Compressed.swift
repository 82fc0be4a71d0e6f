import CZlib
import Foundation

/// Plain or gzip-compressed files (zlib reads both), opened only when they
/// are regular files (see `FileCheck`).
public enum Compressed {
  /// Up to `count` bytes from the start of the (decompressed) file; nil when
  /// it cannot be opened or is damaged.
  public static func readPrefix(_ path: String, count: Int) -> [UInt8]? {
    guard case .regular(let handle) = FileCheck.regularFile(path) else { return nil }
    defer { try? handle.close() }
    // zlib reads through its own descriptor, a duplicate of the checked one.
    guard let file = gzdopen(dup(handle.fileDescriptor), "rb") else { return nil }
    defer { gzclose(file) }
    var buffer = [UInt8](repeating: 0, count: count)
    let n = buffer.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32(count)) }
    guard n >= 0 else { return nil }
    return Array(buffer.prefix(Int(n)))
  }

  /// The whole (decompressed) file, refusing more than `limit` bytes.
  public static func readAll(_ path: String, limit: Int = 4 << 30) throws -> [UInt8] {
    let handle = try FileCheck.open(path)
    defer { try? handle.close() }
    guard let file = gzdopen(dup(handle.fileDescriptor), "rb") else { throw FileReadError("\(path): cannot open the file") }
    defer { gzclose(file) }
    var out: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = chunk.withUnsafeMutableBytes { gzread(file, $0.baseAddress, UInt32($0.count)) }
      if n < 0 { throw FileReadError("\(path): the file is damaged (not valid gzip data)") }
      if n == 0 { break }
      out += chunk[0..<Int(n)]
      if out.count > limit { throw FileReadError("\(path): larger than \(limit >> 20) MiB") }
    }
    return out
  }

  /// The size on disk of a regular file.
  public static func fileSize(_ path: String) -> Int? {
    guard case .regular(let handle) = FileCheck.regularFile(path) else { return nil }
    defer { try? handle.close() }
    return (try? handle.seekToEnd()).map(Int.init)
  }
}

/// CRC-32 (zlib's, the one gzip, PNG and our checkpoints use).
public enum CRC32 {
  public static func checksum(_ data: Data) -> UInt {
    data.withUnsafeBytes { raw -> UInt in
      var c = crc32(0, nil, 0)
      var offset = 0
      while offset < raw.count {
        let n = min(raw.count - offset, 1 << 30)
        c = crc32(c, raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, UInt32(n))
        offset += n
      }
      return c
    }
  }
}

/// CRC-32C (Castagnoli), the checksum of TensorBoard's event records.
public enum CRC32C {
  static let table: [UInt32] = (0..<256).map { n -> UInt32 in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0x82F6_3B78 ^ (c >> 1) : c >> 1 }
    return c
  }

  public static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }

  /// TFRecord's masked form: rotated right by 15 bits, plus a constant.
  public static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
    let c = checksum(bytes)
    return ((c >> 15) | (c << 17)) &+ 0xA282_EAD8
  }
}

extension Compressed {
  /// Writes `data` gzip-compressed to `path` (for tools and tests that make data files).
  public static func writeGzip(_ data: Data, to path: String) throws {
    guard let file = gzopen(path, "wb") else { throw FileReadError("\(path): cannot create the file") }
    let written = data.withUnsafeBytes { gzwrite(file, $0.baseAddress, UInt32($0.count)) }
    guard gzclose(file) == Z_OK, written == data.count else { throw FileReadError("\(path): cannot write the file") }
  }
}
