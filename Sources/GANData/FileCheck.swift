import Crypto
import Foundation

/// Opens files that ganc reads (specs, layer files, data) only when they are
/// regular files: a device, FIFO, socket or kernel file (/proc, /sys, /dev)
/// is refused from its metadata without reading a byte, and opening never
/// blocks on a FIFO.
public enum FileCheck {
  public enum Outcome {
    case missing
    case folder
    /// What it is instead, in words ("a FIFO", "a device", ...).
    case notRegular(String)
    case unreadable
    /// Open for reading; the handle closes itself.
    case regular(FileHandle)
  }

  /// Folders whose files are the kernel's views, never data.
  static let kernelFolders = ["/proc", "/sys", "/dev"]

  public static func regularFile(_ path: String) -> Outcome {
    if let real = realPath(path), kernelFolders.contains(where: { isWithin(real, $0) }) {
      return .notRegular("a kernel or device file")
    }
    let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else {
      switch errno {
      case ENOENT, ENOTDIR: return .missing
      case EISDIR: return .folder
      default: return .unreadable
      }
    }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      close(fd)
      return .unreadable
    }
    switch info.st_mode & S_IFMT {
    case S_IFREG:
      return .regular(FileHandle(fileDescriptor: fd, closeOnDealloc: true))
    case S_IFDIR:
      close(fd)
      return .folder
    case S_IFIFO:
      close(fd)
      return .notRegular("a FIFO")
    case S_IFSOCK:
      close(fd)
      return .notRegular("a socket")
    default:
      close(fd)
      return .notRegular("a device")
    }
  }

  /// The absolute path with every symlink, `.` and `..` resolved; nil when
  /// the file does not exist.
  public static func realPath(_ path: String) -> String? {
    guard let resolved = realpath(path, nil) else { return nil }
    defer { free(resolved) }
    return String(cString: resolved)
  }

  /// Whether `path` is `root` or lies below it (both absolute and standardised).
  public static func isWithin(_ path: String, _ root: String) -> Bool {
    if root == "/" { return path.hasPrefix("/") }
    return path == root || path.hasPrefix(root + "/")
  }

  /// The open regular file at `path`, or an error saying why it is not one.
  public static func open(_ path: String) throws -> FileHandle {
    switch regularFile(path) {
    case .missing: throw FileReadError("no such file: \(path)")
    case .folder: throw FileReadError("\(path) is a folder, not a file")
    case .notRegular(let what): throw FileReadError("\(path) is \(what), not a regular file; it was not read")
    case .unreadable: throw FileReadError("cannot read \(path); check its permissions")
    case .regular(let handle): return handle
    }
  }

  /// Reads a whole regular file (at most `limit` bytes; more is an error).
  public static func read(_ path: String, limit: Int) throws -> Data {
    let handle = try open(path)
    defer { try? handle.close() }
    let data = try handle.read(upToCount: limit + 1) ?? Data()
    guard data.count <= limit else { throw FileReadError("\(path) is larger than \(limit >> 20) MiB") }
    return data
  }
}

/// A file that could not be read, in words.
public struct FileReadError: Error, CustomStringConvertible {
  public var description: String
  public init(_ description: String) { self.description = description }
}

/// SHA-256 of a file, as `sha256sum` prints it: the identity of a checkpoint.
public enum FileDigest {
  public static func sha256(_ path: String) throws -> String {
    let handle = try FileCheck.open(path)
    defer { try? handle.close() }
    var hash = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hash.update(data: chunk) }
    return hash.finalize().map { String(format: "%02x", $0) }.joined()
  }
}
