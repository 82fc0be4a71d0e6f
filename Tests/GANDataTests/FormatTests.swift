import Foundation
import GANData
import GANTestSupport
import Testing

@Suite("Regular files only")
struct FileCheckTests {
  @Test("a FIFO, a folder, a missing file and kernel files are told apart without reading (no hang on the FIFO)")
  func kinds() throws {
    let folder = temporaryFolder()
    let fifo = folder.appendingPathComponent("fifo").path
    #expect(mkfifo(fifo, 0o600) == 0)
    guard case .notRegular(let what) = FileCheck.regularFile(fifo) else { Issue.record("a FIFO was opened as a file"); return }
    #expect(what == "a FIFO")
    guard case .folder = FileCheck.regularFile(folder.path) else { Issue.record("a folder was opened"); return }
    guard case .missing = FileCheck.regularFile(folder.appendingPathComponent("none").path) else { Issue.record("missing"); return }
    for path in ["/proc/self/environ", "/dev/zero", "/sys/kernel/mm/transparent_hugepage/enabled"] where FileManager.default.fileExists(atPath: path) {
      guard case .notRegular = FileCheck.regularFile(path) else { Issue.record("\(path) was opened"); continue }
    }
    #expect(throws: FileReadError.self) { try FileCheck.read(fifo, limit: 100) }
    let file = write("hello", to: "a.txt", in: folder)
    #expect(try FileCheck.read(file, limit: 100) == Data("hello".utf8))
    #expect(throws: FileReadError.self) { try FileCheck.read(file, limit: 3) }
  }

  @Test("isWithin compares whole path components")
  func within() {
    #expect(FileCheck.isWithin("/a/b/c", "/a/b"))
    #expect(FileCheck.isWithin("/a/b", "/a/b"))
    #expect(!FileCheck.isWithin("/a/bc", "/a/b"))
    #expect(FileCheck.isWithin("/x", "/"))
  }
}

@Suite("Data formats")
struct FormatTests {
  @Test("gzip round trip; a prefix of plain and compressed files reads the same")
  func gzip() throws {
    let folder = temporaryFolder()
    let bytes = Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 * 7) })
    let gz = folder.appendingPathComponent("d.gz").path, plain = folder.appendingPathComponent("d").path
    try Compressed.writeGzip(bytes, to: gz)
    try bytes.write(to: URL(fileURLWithPath: plain))
    #expect(try Compressed.readAll(gz) == Array(bytes))
    #expect(Compressed.readPrefix(gz, count: 10) == Array(bytes.prefix(10)))
    #expect(Compressed.readPrefix(plain, count: 10) == Array(bytes.prefix(10)))
    #expect(Compressed.fileSize(plain) == 5000)
    #expect(throws: FileReadError.self) { try Compressed.readAll(plain, limit: 100) }
  }

  @Test("CRC-32 of the standard check string")
  func crc() {
    #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
    #expect(CRC32.checksum(Data()) == 0)
  }

  @Test("IDX headers: images, labels, wrong magic, impossible sizes, truncation")
  func idx() throws {
    let header: [UInt8] = [0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]
    #expect(try IDX.imageHeader(header).get() == IDX.ImageHeader(count: 2, height: 3, width: 4))
    #expect((try? IDX.imageHeader([0, 0, 8, 1] + header.dropFirst(4)).get()) == nil)
    #expect((try? IDX.imageHeader([0, 0, 8, 3, 0, 0, 0, 0] + header.dropFirst(8)).get()) == nil)
    #expect(IDX.labelCount([0, 0, 8, 1, 0, 0, 1, 0]) == 256)
    #expect(IDX.labelCount([1, 2, 3]) == nil)
    let folder = temporaryFolder()
    let path = folder.appendingPathComponent("i.idx").path
    try Data(header + [UInt8](repeating: 9, count: 23)).write(to: URL(fileURLWithPath: path))
    #expect(throws: FileReadError.self) { try IDX.readImages(path) }
    try Data(header + [UInt8](repeating: 9, count: 24)).write(to: URL(fileURLWithPath: path))
    #expect(try IDX.readImages(path).pixels == [UInt8](repeating: 9, count: 24))
  }

  @Test("NPY: header fields, stored elements converted one at a time")
  func npy() throws {
    func file(_ descr: String, _ shape: String, _ payload: [UInt8]) -> [UInt8] {
      var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shape), }"
      while (10 + dict.utf8.count + 1) % 64 != 0 { dict += " " }
      dict += "\n"
      return [0x93] + Array("NUMPY".utf8) + [1, 0, UInt8(dict.utf8.count & 255), UInt8(dict.utf8.count >> 8)] + Array(dict.utf8) + payload
    }
    let h = try #require(NPY.header(file("<f4", "(3, 2)", [])))
    #expect(h.descr == "<f4" && h.shape == [3, 2] && !h.fortran && h.offset % 64 == 0)
    #expect(NPY.header(Array("not numpy".utf8)) == nil)
    let folder = temporaryFolder()
    let path = folder.appendingPathComponent("a.npy").path
    try Data(file("|u1", "(2, 2)", [0, 255, 0, 255])).write(to: URL(fileURLWithPath: path))
    let stored = try NPY.read(path, sampleSize: 2)
    #expect(stored.itemSize == 1 && stored.count == 4)
    #expect((0..<4).map(stored.element) == [-1, 1, -1, 1])
    #expect(throws: FileReadError.self) { try NPY.read(path, sampleSize: 3) }
  }

  @Test("CSV: header, chosen columns, line numbers in errors, values never quoted")
  func csv() throws {
    let folder = temporaryFolder()
    let path = write("a, b ,c\n1,2,3\n\n4,5,6\n", to: "t.csv", in: folder)
    let table = try CSV.read(path, columns: ["c", "a"], header: true)
    #expect(table.names == ["c", "a"] && table.values == [3, 1, 6, 4])
    let bad = write("a,b\n1,2\n3,secret-token\n", to: "bad.csv", in: folder)
    do {
      _ = try CSV.read(bad, columns: nil, header: true)
      Issue.record("a word was read as a number")
    } catch let e as FileReadError {
      #expect(e.description.contains(":3:") && !e.description.contains("secret-token"), "\(e)")
    }
    #expect(CSV.cells(" \"x\" , y") == ["x", "y"])
  }
}

@Suite("CRC-32C")
struct CRC32CTests {
  @Test("the Castagnoli check value and TFRecord's mask")
  func checkValue() {
    // The standard check value of CRC-32C over "123456789".
    #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    #expect(CRC32C.checksum([UInt8]()) == 0)
    let c = CRC32C.checksum(Array("123456789".utf8))
    #expect(CRC32C.masked(Array("123456789".utf8)) == ((c >> 15) | (c << 17)) &+ 0xA282_EAD8)
  }
}
