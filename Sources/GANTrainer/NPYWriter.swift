import Foundation

/// Writes float32 arrays in NumPy's .npy format (version 1.0, C order).
public enum NPYWriter {
  /// The file's bytes for `values` of `shape`.
  public static func encode(_ values: [Float], shape: [Int]) -> Data {
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
    while (10 + header.count + 1) % 64 != 0 { header += " " }
    header += "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count & 0xFF), UInt8(header.count >> 8)])
    data += Data(header.utf8)
    values.withUnsafeBufferPointer { data.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
    return data
  }

  public static func write(_ values: [Float], shape: [Int], to path: String) throws {
    try encode(values, shape: shape).write(to: URL(fileURLWithPath: path), options: .atomic)
  }
}
