import Foundation
import GANData

/// A TensorBoard event file (`events.out.tfevents.*`), written by hand: each
/// record is its length (8 bytes), the masked CRC-32C of those, a serialised
/// `Event` protocol buffer and the masked CRC-32C of it. Events carry scalar
/// summaries (the metrics) and PNG image summaries (the sample grids).
/// `tensorboard --logdir runs` reads every run's files; a resumed run starts
/// a new file (TensorBoard joins them by step).
public final class EventWriter {
  public let path: String
  private let handle: FileHandle

  public init(folder: String) throws {
    var host = [CChar](repeating: 0, count: 256)
    gethostname(&host, host.count)
    let name = String(cString: host).filter { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." }
    path = folder + "/events.out.tfevents.\(Int(Date().timeIntervalSince1970)).\(name.isEmpty ? "ganc" : name).\(getpid())"
    guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
      throw DataError("cannot write \(path)")
    }
    self.handle = handle
    // The first event names the format.
    write(Proto.double(1, Date().timeIntervalSince1970) + Proto.bytes(3, Array("brain.Event:2".utf8)))
  }

  deinit { try? handle.close() }

  /// Scalars `tag = value` at `step`.
  public func scalars(step: Int, _ values: [(String, Double)]) {
    let summary = values.filter { $0.1.isFinite }.flatMap { tag, value in
      Proto.bytes(1, Proto.bytes(1, Array(tag.utf8)) + Proto.float(2, Float(value)))
    }
    guard !summary.isEmpty else { return }
    event(step: step, summary: summary)
  }

  /// A PNG image at `step`.
  public func image(step: Int, tag: String, png: Data, width: Int, height: Int) {
    let image = Proto.varint(1, UInt64(height)) + Proto.varint(2, UInt64(width)) + Proto.varint(3, 3) + Proto.bytes(4, Array(png))
    event(step: step, summary: Proto.bytes(1, Proto.bytes(1, Array(tag.utf8)) + Proto.bytes(4, image)))
  }

  public func flush() { try? handle.synchronize() }

  private func event(step: Int, summary: [UInt8]) {
    write(Proto.double(1, Date().timeIntervalSince1970) + Proto.varint(2, UInt64(max(step, 0))) + Proto.bytes(5, summary))
  }

  private func write(_ event: [UInt8]) {
    var length = UInt64(event.count).littleEndian
    let lengthBytes = withUnsafeBytes(of: &length) { Array($0) }
    var record = lengthBytes
    record += Proto.littleEndian(CRC32C.masked(lengthBytes))
    record += event
    record += Proto.littleEndian(CRC32C.masked(event))
    handle.write(Data(record))
  }
}

/// The few protocol-buffer encodings an Event needs.
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
}
