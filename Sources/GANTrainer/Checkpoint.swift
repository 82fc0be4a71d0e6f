import GANData
import Foundation

/// A checkpoint in the safetensors format: an 8-byte little-endian header
/// length, a JSON header naming each tensor's dtype, shape and byte range,
/// then the raw little-endian data. `torch`, `safetensors` and numpy users can
/// load it; ganc's own state (step counts, seed, spec hash) is in `__metadata__`.
public struct Checkpoint {
  public var tensors: [(name: String, shape: [Int], values: [Float])]
  public var metadata: [String: String]

  public init(tensors: [(name: String, shape: [Int], values: [Float])], metadata: [String: String]) {
    self.tensors = tensors
    self.metadata = metadata
  }

  public func tensor(_ name: String) -> [Float]? { tensors.first { $0.name == name }?.values }

  static func crc(_ data: Data) -> UInt { CRC32.checksum(data) }

  /// The file's bytes.
  public func encoded() -> Data {
    var body = Data()
    var entries: [String: Any] = [:]
    for t in tensors {
      let start = body.count
      t.values.withUnsafeBufferPointer { body.append(UnsafeBufferPointer(start: UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: UInt8.self), count: $0.count * 4)) }
      entries[t.name] = ["dtype": "F32", "shape": t.shape, "data_offsets": [start, body.count]] as [String: Any]
    }
    var meta = metadata
    meta["ganc.crc32"] = String(Self.crc(body))
    entries["__metadata__"] = meta
    var header = (try? JSONSerialization.data(withJSONObject: entries, options: [.sortedKeys])) ?? Data("{}".utf8)
    while header.count % 8 != 0 { header.append(0x20) }
    var out = Data()
    var length = UInt64(header.count).littleEndian
    withUnsafeBytes(of: &length) { out.append(contentsOf: $0) }
    out.append(header)
    out.append(body)
    return out
  }

  /// The temporary name a writer with process id `pid` uses for `path`.
  static func temporaryPath(_ path: String, pid: Int32 = getpid()) -> String { path + ".tmp-\(pid)" }

  /// Removes temporary files (`NAME.tmp-PID`) that writers killed mid-write
  /// (kill -9, power loss) left in `folder`: those whose process is gone.
  /// A live writer's file, another run's in the same folder, is kept.
  /// Returns the names removed.
  @discardableResult
  public static func removeStaleTemporaries(in folder: String) -> [String] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
    var removed: [String] = []
    for name in names {
      guard let marker = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[marker.upperBound...]), pid > 0 else { continue }
      // kill(pid, 0) fails with ESRCH only when no such process exists.
      guard kill(pid, 0) != 0 && errno == ESRCH else { continue }
      if unlink(folder + "/" + name) == 0 { removed.append(name) }
    }
    return removed.sorted()
  }

  /// Writes to `path` so that a crash at any moment leaves the old file or the
  /// new one, never a mix: a temporary file, flushed to disk, then renamed.
  public func write(to path: String) throws {
    try writeAtomically(encoded(), to: path, what: "the checkpoint")
  }

  /// Reads and verifies a checkpoint; a truncated or corrupted file is refused.
  public static func read(_ path: String) throws -> Checkpoint {
    let data: Data
    do { data = try FileCheck.read(path, limit: 1 << 40) } catch let e as FileReadError { throw DataError("checkpoint \(e.description)") }
    func bad(_ why: String) -> DataError { DataError("\(path) is not a usable checkpoint: \(why)") }
    guard data.count >= 8 else { throw bad("the file is truncated (\(data.count) bytes)") }
    let length = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    guard length <= UInt64(data.count - 8), length < 100 << 20 else { throw bad("the header length \(length) exceeds the file") }
    let headerEnd = 8 + Int(length)
    guard let object = try? JSONSerialization.jsonObject(with: data[8..<headerEnd]) as? [String: Any] else {
      throw bad("the header is not valid JSON")
    }
    let body = data[headerEnd...]
    let metadata = (object["__metadata__"] as? [String: String]) ?? [:]
    if let stored = metadata["ganc.crc32"], stored != String(Self.crc(Data(body))) {
      throw bad("its data does not match its checksum (the file is corrupted or truncated)")
    }
    var tensors: [(name: String, shape: [Int], values: [Float])] = []
    for (name, value) in object where name != "__metadata__" {
      guard let entry = value as? [String: Any], entry["dtype"] as? String == "F32",
        let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2,
        offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= body.count,
        shape.allSatisfy({ $0 >= 0 }), shape.reduce(1, *) * 4 == offsets[1] - offsets[0]
      else { throw bad("the entry for '\(name)' is malformed or points outside the file") }
      let start = body.startIndex + offsets[0]
      let values = data[start..<(start + offsets[1] - offsets[0])].withUnsafeBytes { raw in
        (0..<(raw.count / 4)).map { raw.loadUnaligned(fromByteOffset: 4 * $0, as: Float.self) }
      }
      tensors.append((name, shape, values))
    }
    tensors.sort { $0.name < $1.name }
    return Checkpoint(tensors: tensors, metadata: metadata)
  }
}

/// A stable 64-bit FNV-1a hash, for recognising a changed spec.
public func fnv1a(_ bytes: [UInt8]) -> UInt64 {
  var h: UInt64 = 0xcbf2_9ce4_8422_2325
  for b in bytes {
    h ^= UInt64(b)
    h = h &* 0x100_0000_01b3
  }
  return h
}

/// Writes `data` to a temporary file beside `path`, syncs it and renames it
/// into place (then syncs the folder): a crash leaves the old file or the new
/// one, never a torn one.
public func writeAtomically(_ data: Data, to path: String, what: String) throws {
  let temporary = Checkpoint.temporaryPath(path)
  let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
  guard fd >= 0 else { throw DataError("cannot write \(temporary): \(String(cString: strerror(errno)))") }
  var written = 0
  let ok = data.withUnsafeBytes { raw -> Bool in
    while written < raw.count {
      let n = Foundation.write(fd, raw.baseAddress! + written, raw.count - written)
      if n <= 0 { return false }
      written += n
    }
    return fsync(fd) == 0
  }
  close(fd)
  guard ok else {
    unlink(temporary)
    throw DataError("cannot write \(what) \(path): \(String(cString: strerror(errno)))")
  }
  guard rename(temporary, path) == 0 else {
    unlink(temporary)
    throw DataError("cannot move \(what) into place at \(path): \(String(cString: strerror(errno)))")
  }
  let parent = (path as NSString).deletingLastPathComponent
  let folder = open(parent.isEmpty ? "." : parent, O_RDONLY)
  if folder >= 0 { fsync(folder); close(folder) }
}
