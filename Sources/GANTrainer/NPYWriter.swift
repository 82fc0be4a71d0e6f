import Foundation

/// Writes float32 and int64 arrays in NumPy's .npy format (version 1.0, C order).
public enum NPYWriter {
  /// The file's bytes for `values` of `shape`.
  public static func encode(_ values: [Float], shape: [Int]) -> Data {
    var data = header("<f4", shape: shape)
    values.withUnsafeBytes { data.append(contentsOf: $0) }
    return data
  }

  /// The file's bytes for integer `values` of `shape` (int64, as class ids are in PyTorch).
  public static func encode(_ values: [Int64], shape: [Int]) -> Data {
    var data = header("<i8", shape: shape)
    values.map(\.littleEndian).withUnsafeBytes { data.append(contentsOf: $0) }
    return data
  }

  /// The magic, version and padded header of an array of `descr` elements.
  static func header(_ descr: String, shape: [Int]) -> Data {
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': (\(dims)), }"
    while (10 + header.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    return Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)]) + Data(header.utf8)
  }

  public static func write(_ values: [Float], shape: [Int], to path: String) throws {
    try encode(values, shape: shape).write(to: URL(fileURLWithPath: path), options: .atomic)
  }
}
