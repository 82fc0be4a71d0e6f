/// The few protocol-buffer encodings TensorBoard's Event and ONNX's
/// ModelProto need (proto2 and proto3 wire format: keys, varints, fixed
/// 32/64-bit numbers, length-delimited fields).
enum Proto {
  static func key(_ field: Int, _ wire: UInt64) -> [UInt8] { varintBytes(UInt64(field) << 3 | wire) }

  static func varintBytes(_ v: UInt64) -> [UInt8] {
    var v = v
    var out: [UInt8] = []
    repeat {
      var byte = UInt8(v & 0x7F)
      v >>= 7
      if v != 0 { byte |= 0x80 }
      out.append(byte)
    } while v != 0
    return out
  }

  static func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] {
    var le = v.littleEndian
    return withUnsafeBytes(of: &le) { Array($0) }
  }

  static func varint(_ field: Int, _ v: UInt64) -> [UInt8] { key(field, 0) + varintBytes(v) }
  static func double(_ field: Int, _ v: Double) -> [UInt8] { key(field, 1) + littleEndian(v.bitPattern) }
  static func float(_ field: Int, _ v: Float) -> [UInt8] { key(field, 5) + littleEndian(v.bitPattern) }
  static func bytes(_ field: Int, _ v: [UInt8]) -> [UInt8] { key(field, 2) + varintBytes(UInt64(v.count)) + v }
  static func string(_ field: Int, _ v: String) -> [UInt8] { bytes(field, Array(v.utf8)) }
  /// A signed integer as an int64 varint (negative numbers take ten bytes).
  static func int(_ field: Int, _ v: Int) -> [UInt8] { varint(field, UInt64(bitPattern: Int64(v))) }
}
