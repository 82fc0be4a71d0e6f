import Foundation

// What every test target needs from the file system, in one place.

/// The package root, found from this file's path.
public let packageRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
  .deletingLastPathComponent().deletingLastPathComponent()

/// A fresh temporary folder for one test.
public func temporaryFolder() -> URL {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent("ganc-tests-\(UUID().uuidString)")
  try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
  return url
}

/// The path of the built `ganc` executable beside the test bundle.
public let gancBinary: String = {
  var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
  for _ in 0..<4 {
    let candidate = dir.appendingPathComponent("ganc").path
    if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    dir = dir.deletingLastPathComponent()
  }
  return packageRoot.appendingPathComponent(".build/debug/ganc").path
}()
