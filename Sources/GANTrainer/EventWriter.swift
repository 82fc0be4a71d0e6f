import Foundation
import GANData

/// A TensorBoard event file (`events.out.tfevents.*`), written by hand: each
/// record is its length (8 bytes), the masked CRC-32C of those, a serialised
/// `Event` protocol buffer and the masked CRC-32C of it. Events carry scalar
/// summaries (the metrics), PNG image summaries (the sample grids) and text
/// (the spec and the command, in the Text tab).
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

  /// Markdown text at `step`, shown in TensorBoard's Text tab (a string
  /// tensor summary for the `text` plugin).
  public func text(step: Int, tag: String, _ markdown: String) {
    let metadata = Proto.bytes(1, Proto.string(1, "text"))
    // TensorProto: dtype DT_STRING (7), an empty (scalar) shape, one string value.
    let tensor = Proto.varint(1, 7) + Proto.bytes(2, []) + Proto.bytes(8, Array(markdown.utf8))
    event(step: step, summary: Proto.bytes(1, Proto.string(1, tag) + Proto.bytes(9, metadata) + Proto.bytes(8, tensor)))
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
