import Foundation

/// A 5x7 bitmap font for the labels of plots (ticks, legends, titles):
/// digits, capital letters (small letters are drawn as capitals) and the
/// punctuation numbers and labels need. Each glyph is seven rows of five
/// bits, the top row first.
enum Font {
  static let width = 5, height = 7
  /// Pixels from one character to the next at scale 1.
  static let advance = 6

  static let glyphs: [Character: [UInt8]] = {
    let rows: [Character: String] = [
      "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
      "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
      "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
      "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
      "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
      "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
      "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
      "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
      "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
      "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
      "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
      "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
      "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
      "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
      "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
      "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
      "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
      "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
      ".": "00000 00000 00000 00000 00000 01100 01100", "-": "00000 00000 00000 11111 00000 00000 00000",
      "+": "00000 00100 00100 11111 00100 00100 00000", ",": "00000 00000 00000 00000 01100 00100 01000",
      "(": "00010 00100 01000 01000 01000 00100 00010", ")": "01000 00100 00010 00010 00010 00100 01000",
      ":": "00000 01100 01100 00000 01100 01100 00000", "/": "00000 00001 00010 00100 01000 10000 00000",
      "%": "11000 11001 00010 00100 01000 10011 00011", "=": "00000 00000 11111 00000 11111 00000 00000",
      "_": "00000 00000 00000 00000 00000 00000 11111", "'": "00100 00100 01000 00000 00000 00000 00000",
      " ": "00000 00000 00000 00000 00000 00000 00000",
    ]
    return rows.mapValues { $0.split(separator: " ").map { UInt8($0, radix: 2)! } }
  }()

  /// The glyph drawn for `c` (small letters as capitals; unknown characters as a box).
  static func glyph(_ c: Character) -> [UInt8] {
    glyphs[Character(c.uppercased())] ?? [0b11111, 0b10001, 0b10001, 0b10001, 0b10001, 0b10001, 0b11111]
  }

  /// The width in pixels of `text` at `scale`.
  static func width(_ text: String, scale: Int = 1) -> Int { max(0, text.count * advance - 1) * scale }
}

extension Canvas {
  /// Draws `text` with its top-left corner at (x, y).
  public mutating func text(_ text: String, x: Int, y: Int, _ c: (UInt8, UInt8, UInt8) = (0, 0, 0), scale: Int = 1) {
    for (k, character) in text.enumerated() {
      let rows = Font.glyph(character)
      for (r, bits) in rows.enumerated() {
        for col in 0..<Font.width where bits & (1 << (Font.width - 1 - col)) != 0 {
          for dy in 0..<scale { for dx in 0..<scale { set(x + (k * Font.advance + col) * scale + dx, y + r * scale + dy, c) } }
        }
      }
    }
  }
}

extension Plots {
  /// About `count` round tick values (1, 2 or 5 times a power of ten apart) covering lo...hi.
  public static func ticks(_ lo: Double, _ hi: Double, count: Int = 5) -> [Double] {
    guard lo.isFinite, hi.isFinite, hi > lo else { return lo.isFinite ? [lo] : [] }
    let raw = (hi - lo) / Double(max(count, 1))
    let power = Foundation.pow(10, (Foundation.log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * power }.first { $0 >= raw } ?? 10 * power
    var out: [Double] = []
    var v = (lo / step).rounded(.up) * step
    while v <= hi + step * 1e-9 {
      out.append(abs(v) < step * 1e-9 ? 0 : v)
      v += step
    }
    return out
  }

  /// A tick label: whole numbers as they are, others with three significant digits.
  public static func label(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e7 { return String(Int(v)) }
    return String(format: "%.3g", v)
  }
}
