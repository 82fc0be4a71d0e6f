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

/// The worst relative error |x - y| / max(1, |y|) between what a program
/// computed and what it should have. A NaN or infinity on either side, or
/// sequences of different lengths, make it infinite: `max(worst, .nan)`
/// keeps `worst`, so a plain running maximum lets a NaN-returning kernel pass.
public func worstRelativeError<A: Collection, B: Collection>(_ got: A, _ expected: B) -> Double
where A.Element: BinaryFloatingPoint, B.Element: BinaryFloatingPoint {
  guard got.count == expected.count else { return .infinity }
  var worst = 0.0
  for (x, y) in zip(got, expected) {
    let a = Double(x), b = Double(y)
    guard a.isFinite, b.isFinite else {
      if a == b { continue }  // the same infinity
      return .infinity
    }
    worst = max(worst, abs(a - b) / max(1, abs(b)))
  }
  return worst
}
