import Foundation
import GANData
import GANTestSupport
import GANDiagnostics
import Testing
@testable import GANSpec
@testable import GANTrainer

func dataSpec(_ source: DataSource) -> DataSpec {
  DataSpec(source: source, location: .file("t"), attributeLocations: [:])
}

func gzip(_ data: Data, to path: String) { try! Compressed.writeGzip(data, to: path) }

@Suite("Data formats round-trip")
struct DataTests {
  @Test("IDX images and labels, plain and gzipped, scaled to [-1, 1]")
  func idx() throws {
    let folder = temporaryFolder()
    var images = Data([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 2])
    let pixels: [UInt8] = [0, 255, 127, 128, 1, 2, 3, 4, 250, 251, 252, 253]
    images += Data(pixels)
    let labels = Data([0, 0, 8, 1, 0, 0, 0, 3, 2, 0, 1])
    for gz in [false, true] {
      let ip = folder.appendingPathComponent("i\(gz).idx\(gz ? ".gz" : "")").path, lp = folder.appendingPathComponent("l\(gz).idx\(gz ? ".gz" : "")").path
      if gz { gzip(images, to: ip); gzip(labels, to: lp) } else { try images.write(to: URL(fileURLWithPath: ip)); try labels.write(to: URL(fileURLWithPath: lp)) }
      let d = try Dataset(dataSpec(.idx(images: ip, labels: lp)), shape: [1, 2, 2], seed: 1)
      #expect(d.allSamples()! == pixels.map { Float($0) / 127.5 - 1 })
      #expect(d.labels! == [2, 0, 1])
      #expect(d.classes == 3)
    }
    // Truncated pixels name the file and the problem.
    let bad = folder.appendingPathComponent("bad.idx").path
    try images.prefix(20).write(to: URL(fileURLWithPath: bad))
    #expect { try Dataset(dataSpec(.idx(images: bad, labels: nil)), shape: [1, 2, 2], seed: 1) } throws: { ($0 as? DataError)?.message.contains("truncated") == true }
  }

  @Test("CSV is standardised per column and samples map back to the original units")
  func csv() throws {
    let folder = temporaryFolder()
    let path = folder.appendingPathComponent("t.csv").path
    try "a,b,c\n1,100,x\n2,300,y\n3,500,z\n".write(toFile: path, atomically: true, encoding: .utf8)
    let d = try Dataset(dataSpec(.csv(path: path, columns: ["a", "b"], header: true)), shape: [2], seed: 1)
    let s = d.allSamples()!
    #expect(abs(s[0] + s[2] + s[4]) < 1e-6 && abs(s[1] + s[3] + s[5]) < 1e-6)
    let back = d.toOriginalUnits(s)
    #expect(zip(back, [1, 100, 2, 300, 3, 500] as [Float]).allSatisfy { abs($0 - $1) < 1e-4 })
    try "a,b\n1,2\n3,oops\n".write(toFile: path, atomically: true, encoding: .utf8)
    #expect { try Dataset(dataSpec(.csv(path: path, columns: nil, header: true)), shape: [2], seed: 1) } throws: {
      ($0 as? DataError)?.message.contains("t.csv:3") == true
    }
  }

  @Test("NPY float32, float64 and uint8")
  func npy() throws {
    let folder = temporaryFolder()
    func write(_ descr: String, _ bytes: [UInt8], shape: String) -> String {
      var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
      while (10 + header.count + 1) % 64 != 0 { header += " " }
      header += "\n"
      let path = folder.appendingPathComponent(UUID().uuidString + ".npy").path
      var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count), 0])
      data += Data(header.utf8) + Data(bytes)
      try? data.write(to: URL(fileURLWithPath: path))
      return path
    }
    let floats: [Float] = [1.5, -2, 3.25, 0]
    let f4 = write("<f4", floats.flatMap { withUnsafeBytes(of: $0) { Array($0) } }, shape: "(2, 2)")
    #expect(try Dataset(dataSpec(.npy(path: f4)), shape: [2], seed: 1).allSamples()! == floats)
    let f8 = write("<f8", floats.flatMap { withUnsafeBytes(of: Double($0)) { Array($0) } }, shape: "(2, 2)")
    #expect(try Dataset(dataSpec(.npy(path: f8)), shape: [2], seed: 1).allSamples()! == floats)
    let u1 = write("|u1", [0, 255, 0, 255], shape: "(2, 2)")
    #expect(try Dataset(dataSpec(.npy(path: u1)), shape: [2], seed: 1).allSamples()! == [-1, 1, -1, 1])
    let short = write("<f4", [0, 0, 0], shape: "(2, 2)")
    #expect(throws: DataError.self) { try Dataset(dataSpec(.npy(path: short)), shape: [2], seed: 1) }
  }

  @Test("an npy file with more than 12 axes per sample is refused with a clear error, 12 are read")
  func npyAxes() throws {
    let folder = temporaryFolder()
    for (axes, refused) in [(13, true), (12, false)] {
      let shape = [3] + [Int](repeating: 1, count: axes - 1) + [2]
      var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(shape.map(String.init).joined(separator: ", "))), }"
      while (10 + header.count + 1) % 64 != 0 { header += " " }
      header += "\n"
      var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(header.count), 0])
      data += Data(header.utf8) + Data(count: 4 * 6)
      try data.write(to: folder.appendingPathComponent("d.npy"))
      let spec = """
        <gan name="t" version="1">
          <data source="npy" path="d.npy"/>
          <latent size="4"/>
          <generator><dense units="2"/><reshape shape="\(shape.dropFirst().map(String.init).joined(separator: " "))"/></generator>
          <discriminator><flatten/><dense units="1"/></discriminator>
          <training steps="1" batch="2"><optimizer net="generator" lr="1e-3"/><optimizer net="discriminator" lr="1e-3"/></training>
        </gan>
        """
      let path = folder.appendingPathComponent("t.xml").path
      try spec.write(toFile: path, atomically: true, encoding: .utf8)
      let result = Linter.lint(path, sources: SourceStore())
      let axisError = result.diagnostics.first { $0.message.contains("axes per sample") }
      #expect((axisError != nil) == refused, "\(axes) axes: \(result.diagnostics.map(\.message))")
      if refused { #expect(axisError?.help?.contains("reshape") == true) } else { #expect(result.checked != nil, "\(result.diagnostics.map(\.message))") }
    }
  }

  @Test("shuffled epochs visit every sample once, in an order fixed by the seed")
  func epochs() throws {
    let folder = temporaryFolder()
    let path = folder.appendingPathComponent("t.csv").path
    try ("v\n" + (0..<10).map(String.init).joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    let d = try Dataset(dataSpec(.csv(path: path, columns: nil, header: true)), shape: [1], seed: 4)
    var out = [Float](repeating: 0, count: 10)
    out.withUnsafeMutableBufferPointer { d.fill($0, labels: nil, batch: 10, position: 0) }
    #expect(Set(d.toOriginalUnits(out).map { Int($0.rounded()) }) == Set(0..<10))
    var again = [Float](repeating: 0, count: 10)
    again.withUnsafeMutableBufferPointer { d.fill($0, labels: nil, batch: 10, position: 0) }
    #expect(out == again)
    var next = [Float](repeating: 0, count: 10)
    next.withUnsafeMutableBufferPointer { d.fill($0, labels: nil, batch: 10, position: 10) }
    #expect(next != out)
  }

  @Test("checkpoints round-trip exactly through safetensors")
  func checkpoint() throws {
    let folder = temporaryFolder()
    let c = Checkpoint(tensors: [("a.weight", [2, 3], [1, 2, 3, 4, 5, .pi]), ("b", [1], [-0.0])], metadata: ["k": "v"])
    let path = folder.appendingPathComponent("c.safetensors").path
    try c.write(to: path)
    let d = try Checkpoint.read(path)
    #expect(d.tensor("a.weight") == [1, 2, 3, 4, 5, .pi])
    #expect(d.tensor("b")?.first?.bitPattern == Float(-0.0).bitPattern)
    #expect(d.metadata["k"] == "v")
    // The header is what safetensors readers expect: length, JSON, 8-byte alignment.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    let length = Int(bytes[0]) | Int(bytes[1]) << 8
    #expect(length % 8 == 0)
    let header = try JSONSerialization.jsonObject(with: bytes[8..<(8 + length)]) as? [String: Any]
    #expect((header?["a.weight"] as? [String: Any])?["dtype"] as? String == "F32")
  }

  @Test("image pixels stay one byte each in memory and become [-1, 1] per batch")
  func storedType() throws {
    let folder = temporaryFolder()
    let pixels: [UInt8] = (0..<(5 * 4)).map { UInt8($0 * 13) }
    var images = Data([0, 0, 8, 3, 0, 0, 0, 5, 0, 0, 0, 2, 0, 0, 0, 2])
    images += Data(pixels)
    let path = folder.appendingPathComponent("i.idx").path
    try images.write(to: URL(fileURLWithPath: path))
    let d = try Dataset(dataSpec(.idx(images: path, labels: nil)), shape: [1, 2, 2], seed: 1)
    guard case .pixels(let stored) = d.storage else { Issue.record("pixels were converted: \(String(describing: d.storage))"); return }
    #expect(stored == pixels)
    #expect(d.storage?.bytes == 20)
    var batch = [Float](repeating: 0, count: 5 * 4)
    batch.withUnsafeMutableBufferPointer { d.fill($0, labels: nil, batch: 5, position: 0) }
    #expect(batch.sorted() == pixels.map { Float($0) / 127.5 - 1 }.sorted())
  }
}
