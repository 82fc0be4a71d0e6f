import GANDiagnostics

/// An attribute as written in the spec, with where its name starts.
public struct XMLAttribute: Sendable, Hashable {
  public var name: String
  public var value: String
  public var location: SourceLocation
}

/// An element of a parsed spec, reduced to what the front end needs: its name,
/// attributes and child elements, each with an exact file:line:column.
public struct XMLElement: Sendable, Hashable {
  public var name: String
  public var location: SourceLocation
  public var attributes: [XMLAttribute]
  public var children: [XMLElement]
  /// The location of the first non-whitespace text directly inside, if any.
  public var textLocation: SourceLocation?

  public func attribute(_ name: String) -> XMLAttribute? {
    attributes.first { $0.name == name }
  }
}

/// Finds where elements and attributes start in the raw text, since libxml2
/// reports a line per node but no column.
///
/// Elements are met in document order, so a cursor walks forward through the
/// text to the next start tag of the wanted name, skipping comments, CDATA and
/// processing instructions.
struct TagLocator {
  let bytes: [UInt8]
  let file: String
  private var cursor = 0
  private var lineStarts: [Int] = [0]

  init(text: String, file: String) {
    self.bytes = Array(text.utf8)
    self.file = file
    for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") {
      lineStarts.append(i + 1)
    }
  }

  func location(ofOffset offset: Int) -> SourceLocation {
    // Binary search for the last line start <= offset.
    var lo = 0, hi = lineStarts.count - 1
    while lo < hi {
      let mid = (lo + hi + 1) / 2
      if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
    }
    return SourceLocation(file: file, line: lo + 1, column: offset - lineStarts[lo] + 1)
  }

  private func starts(with s: String, at i: Int) -> Bool {
    let u = Array(s.utf8)
    guard i + u.count <= bytes.count else { return false }
    for k in 0..<u.count where bytes[i + k] != u[k] { return false }
    return true
  }

  private func skip(to terminator: String, from i: Int) -> Int {
    var j = i
    while j < bytes.count {
      if starts(with: terminator, at: j) { return j + terminator.utf8.count }
      j += 1
    }
    return bytes.count
  }

  private static func isNameByte(_ b: UInt8) -> Bool {
    b >= 0x80 || (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
      || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
      || b == UInt8(ascii: ":")
  }

  /// Moves to the next start tag `<name`, returning its offset and the offset
  /// just past the tag's closing `>`.
  mutating func nextStartTag(named name: String) -> (start: Int, end: Int)? {
    var i = cursor
    let nameBytes = Array(name.utf8)
    while i < bytes.count {
      guard bytes[i] == UInt8(ascii: "<") else {
        i += 1
        continue
      }
      if starts(with: "<!--", at: i) { i = skip(to: "-->", from: i + 4); continue }
      if starts(with: "<![CDATA[", at: i) { i = skip(to: "]]>", from: i + 9); continue }
      if starts(with: "<?", at: i) { i = skip(to: "?>", from: i + 2); continue }
      if starts(with: "<!", at: i) { i = skip(to: ">", from: i + 2); continue }
      let n = i + 1
      if n + nameBytes.count <= bytes.count,
        Array(bytes[n..<(n + nameBytes.count)]) == nameBytes,
        n + nameBytes.count == bytes.count || !Self.isNameByte(bytes[n + nameBytes.count])
      {
        let end = tagEnd(from: n + nameBytes.count)
        cursor = n + nameBytes.count
        return (i, end)
      }
      i += 1
    }
    return nil
  }

  /// The offset just past the `>` closing a tag, honouring quoted values.
  private func tagEnd(from i: Int) -> Int {
    var j = i
    var quote: UInt8? = nil
    while j < bytes.count {
      let b = bytes[j]
      if let q = quote {
        if b == q { quote = nil }
      } else if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
        quote = b
      } else if b == UInt8(ascii: ">") {
        return j + 1
      }
      j += 1
    }
    return bytes.count
  }

  /// The offset of attribute `name` inside the tag spanning `range`.
  func attributeOffset(_ name: String, in range: (start: Int, end: Int)) -> Int? {
    let nameBytes = Array(name.utf8)
    var j = range.start + 1
    var quote: UInt8? = nil
    while j < range.end {
      let b = bytes[j]
      if let q = quote {
        if b == q { quote = nil }
        j += 1
        continue
      }
      if b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") {
        quote = b
        j += 1
        continue
      }
      if !Self.isNameByte(bytes[j - 1]) && j + nameBytes.count <= range.end
        && Array(bytes[j..<(j + nameBytes.count)]) == nameBytes
      {
        var k = j + nameBytes.count
        while k < range.end && (bytes[k] == 0x20 || bytes[k] == 0x09 || bytes[k] == 0x0A || bytes[k] == 0x0D) {
          k += 1
        }
        if k < range.end && bytes[k] == UInt8(ascii: "=") { return j }
      }
      j += 1
    }
    return nil
  }
}
