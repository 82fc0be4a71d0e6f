import CPNG
import Foundation

/// An RGB image to draw plots on, written as PNG with libpng's simplified API.
public struct Canvas {
  public let width: Int
  public let height: Int
  public var pixels: [UInt8]

  public init(width: Int, height: Int, background: (UInt8, UInt8, UInt8) = (255, 255, 255)) {
    self.width = width
    self.height = height
    pixels = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      pixels[3 * i] = background.0
      pixels[3 * i + 1] = background.1
      pixels[3 * i + 2] = background.2
    }
  }

  public mutating func set(_ x: Int, _ y: Int, _ c: (UInt8, UInt8, UInt8), alpha: Double = 1) {
    guard x >= 0, y >= 0, x < width, y < height else { return }
    let i = 3 * (y * width + x)
    func blend(_ old: UInt8, _ new: UInt8) -> UInt8 { UInt8(Double(old) * (1 - alpha) + Double(new) * alpha) }
    pixels[i] = blend(pixels[i], c.0)
    pixels[i + 1] = blend(pixels[i + 1], c.1)
    pixels[i + 2] = blend(pixels[i + 2], c.2)
  }

  public mutating func dot(_ x: Double, _ y: Double, radius: Int, _ c: (UInt8, UInt8, UInt8), alpha: Double = 1) {
    let cx = Int(x.rounded()), cy = Int(y.rounded())
    for dy in -radius...radius { for dx in -radius...radius where dx * dx + dy * dy <= radius * radius { set(cx + dx, cy + dy, c, alpha: alpha) } }
  }

  public mutating func line(_ x0: Double, _ y0: Double, _ x1: Double, _ y1: Double, _ c: (UInt8, UInt8, UInt8)) {
    let steps = max(1, Int(max(abs(x1 - x0), abs(y1 - y0)).rounded(.up)))
    for s in 0...steps {
      let t = Double(s) / Double(steps)
      set(Int((x0 + (x1 - x0) * t).rounded()), Int((y0 + (y1 - y0) * t).rounded()), c)
    }
  }

  public mutating func rectangle(_ x0: Int, _ y0: Int, _ x1: Int, _ y1: Int, _ c: (UInt8, UInt8, UInt8)) {
    line(Double(x0), Double(y0), Double(x1), Double(y0), c)
    line(Double(x1), Double(y0), Double(x1), Double(y1), c)
    line(Double(x1), Double(y1), Double(x0), Double(y1), c)
    line(Double(x0), Double(y1), Double(x0), Double(y0), c)
  }

  /// The canvas as PNG bytes (for TensorBoard's image summaries).
  public func pngData() throws -> Data {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_RGB)
    defer { png_image_free(&image) }
    var size = 0
    // First the size, then the bytes.
    let sized = pixels.withUnsafeBytes { png_image_write_to_memory(&image, nil, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
    guard sized != 0, size > 0 else { throw DataError("cannot encode a \(width)x\(height) PNG") }
    var out = Data(count: size)
    let ok = out.withUnsafeMutableBytes { memory in
      pixels.withUnsafeBytes { png_image_write_to_memory(&image, memory.baseAddress, &size, 0, $0.baseAddress, Int32(width * 3), nil) }
    }
    guard ok != 0 else { throw DataError("cannot encode a \(width)x\(height) PNG") }
    return out.prefix(size)
  }

  /// Writes the canvas as PNG: to a temporary file, then renamed into place.
  public func write(to path: String) throws {
    var image = png_image()
    image.version = UInt32(PNG_IMAGE_VERSION)
    image.width = UInt32(width)
    image.height = UInt32(height)
    image.format = UInt32(PNG_FORMAT_RGB)
    let temporary = Checkpoint.temporaryPath(path)
    let ok = pixels.withUnsafeBytes { raw in
      png_image_write_to_file(&image, temporary, 0, raw.baseAddress, Int32(width * 3), nil)
    }
    png_image_free(&image)
    guard ok != 0 else { throw DataError("cannot write \(path)") }
    guard rename(temporary, path) == 0 else { throw DataError("cannot write \(path): \(String(cString: strerror(errno)))") }
  }
}

/// The pictures a run leaves behind.
public enum Plots {
  /// A grid of images in [-1, 1] (C = 1 grey, C = 3 colour), each cell scaled up.
  /// With a title (such as "step 3000"), a strip above the grid says it.
  public static func imageGrid(_ samples: [Float], shape: [Int], count: Int, scale: Int = 2, columns: Int? = nil, title: String? = nil) -> Canvas {
    let (c, h, w) = (shape[0], shape[1], shape[2])
    let columns = columns ?? Int(Double(count).squareRoot().rounded(.up)), rows = (count + columns - 1) / columns
    let pad = 2, strip = title == nil ? 0 : 14
    var canvas = Canvas(width: columns * (w * scale + pad) + pad, height: rows * (h * scale + pad) + pad + strip, background: (40, 40, 40))
    if let title { canvas.text(title, x: pad + 2, y: 4, (230, 230, 230)) }
    for n in 0..<count {
      let ox = pad + (n % columns) * (w * scale + pad), oy = strip + pad + (n / columns) * (h * scale + pad)
      for y in 0..<h {
        for x in 0..<w {
          func value(_ channel: Int) -> UInt8 {
            let v = samples[((n * c + channel) * h + y) * w + x]
            return UInt8(max(0, min(255, ((v + 1) * 127.5).rounded())))
          }
          let colour = c >= 3 ? (value(0), value(1), value(2)) : (value(0), value(0), value(0))
          for sy in 0..<scale { for sx in 0..<scale { canvas.set(ox + x * scale + sx, oy + y * scale + sy, colour) } }
        }
      }
    }
    return canvas
  }

  /// Generated points (orange) over real ones (blue), with the mode centres
  /// as crosses, on axes with tick labels, a legend and a title.
  public static func scatter(
    real: [(Double, Double)], generated: [(Double, Double)], centres: [(Double, Double)], size: Int = 480, title: String = "samples"
  ) -> Canvas {
    let (left, bottom, top, right) = (44, 28, 22, 12)
    var canvas = Canvas(width: size + left + right, height: size + top + bottom)
    let all = real + generated + centres
    let finite = all.filter { $0.0.isFinite && $0.1.isFinite }
    let extent = max(finite.map { max(abs($0.0), abs($0.1)) }.max() ?? 1, 1e-6) * 1.1
    func px(_ v: Double) -> Double { Double(left) + (v / extent + 1) / 2 * Double(size - 1) }
    func py(_ v: Double) -> Double { Double(top) + (1 - (v / extent + 1) / 2) * Double(size - 1) }
    let ticks = Self.ticks(-extent, extent, count: 6)
    for t in ticks {
      canvas.line(px(t), py(-extent), px(t), py(extent), (235, 235, 235))
      canvas.line(px(-extent), py(t), px(extent), py(t), (235, 235, 235))
      let text = label(t)
      canvas.text(text, x: Int(px(t)) - Font.width(text) / 2, y: top + size + 6)
      canvas.text(text, x: left - 6 - Font.width(text), y: Int(py(t)) - 3)
    }
    for p in real { canvas.dot(px(p.0), py(p.1), radius: 1, (31, 119, 180), alpha: 0.5) }
    for p in generated where p.0.isFinite && p.1.isFinite { canvas.dot(px(p.0), py(p.1), radius: 1, (255, 127, 14), alpha: 0.6) }
    for c in centres {
      canvas.line(px(c.0) - 4, py(c.1), px(c.0) + 4, py(c.1), (0, 0, 0))
      canvas.line(px(c.0), py(c.1) - 4, px(c.0), py(c.1) + 4, (0, 0, 0))
    }
    canvas.rectangle(left - 1, top - 1, left + size, top + size, (0, 0, 0))
    canvas.text(title, x: left, y: 6, scale: 1)
    canvas.legend([("real", (31, 119, 180)), ("generated", (255, 127, 14))] + (centres.isEmpty ? [] : [("modes", (0, 0, 0))]), right: left + size - 6, top: top + 6)
    return canvas
  }

  /// Curves over steps on shared axes: each series light as logged, with a
  /// moving average on top, step ticks on x, value ticks on y, a legend and
  /// a title.
  public static func curves(
    _ series: [[(Double, Double)]], colours: [(UInt8, UInt8, UInt8)], names: [String] = [], title: String = "", width: Int = 720, height: Int = 360
  ) -> Canvas {
    var canvas = Canvas(width: width, height: height)
    let (left, right, top, bottom) = (64.0, 16.0, 24.0, 40.0)
    if !title.isEmpty { canvas.text(title, x: Int(left), y: 8) }
    let points = series.flatMap { $0 }.filter { $0.1.isFinite }
    guard let minX = points.map(\.0).min(), let maxX = points.map(\.0).max() else { return canvas }
    let lo = points.map(\.1).min()!, hi = points.map(\.1).max()!
    let pad = max(hi - lo, 1e-9) * 0.05
    let (yLo, yHi) = (lo - pad, hi + pad)
    let (x0, x1) = (minX, max(maxX, minX + 1))
    func px(_ x: Double) -> Double { left + (x - x0) / (x1 - x0) * (Double(width) - left - right) }
    func py(_ y: Double) -> Double { Double(height) - bottom - (y - yLo) / (yHi - yLo) * (Double(height) - top - bottom) }
    // Grid and tick labels: steps below, values on the left.
    for t in ticks(x0, x1, count: 6) {
      canvas.line(px(t), py(yLo), px(t), py(yHi), (235, 235, 235))
      let text = label(t)
      canvas.text(text, x: Int(px(t)) - Font.width(text) / 2, y: height - Int(bottom) + 6)
    }
    for t in ticks(yLo, yHi, count: 5) {
      canvas.line(px(x0), py(t), px(x1), py(t), (235, 235, 235))
      let text = label(t)
      canvas.text(text, x: Int(left) - 6 - Font.width(text), y: Int(py(t)) - 3)
    }
    canvas.text("step", x: Int(left + (Double(width) - left - right) / 2) - Font.width("step") / 2, y: height - 16)
    if yLo < 0 && yHi > 0 { canvas.line(px(x0), py(0), px(x1), py(0), (190, 190, 190)) }
    for (k, s) in series.enumerated() {
      // Light raw values, then a moving average on top.
      let light = (UInt8(255 - (255 - Int(colours[k].0)) / 3), UInt8(255 - (255 - Int(colours[k].1)) / 3), UInt8(255 - (255 - Int(colours[k].2)) / 3))
      for i in 1..<max(s.count, 1) where s[i].1.isFinite && s[i - 1].1.isFinite {
        canvas.line(px(s[i - 1].0), py(s[i - 1].1), px(s[i].0), py(s[i].1), light)
      }
      let window = max(1, s.count / 50)
      var smooth: [(Double, Double)] = []
      for i in stride(from: 0, to: s.count, by: window) {
        let part = s[i..<min(i + window, s.count)].filter { $0.1.isFinite }
        if !part.isEmpty { smooth.append((part.map(\.0).reduce(0, +) / Double(part.count), part.map(\.1).reduce(0, +) / Double(part.count))) }
      }
      for i in 1..<max(smooth.count, 1) { canvas.line(px(smooth[i - 1].0), py(smooth[i - 1].1), px(smooth[i].0), py(smooth[i].1), colours[k]) }
    }
    canvas.rectangle(Int(left) - 1, Int(top) - 1, width - Int(right), height - Int(bottom), (0, 0, 0))
    if !names.isEmpty { canvas.legend(Array(zip(names, colours)), right: width - Int(right) - 6, top: Int(top) + 6) }
    return canvas
  }
}

extension Canvas {
  /// A legend box: a colour swatch and a name per entry, its top-right corner at (right, top).
  mutating func legend(_ entries: [(String, (UInt8, UInt8, UInt8))], right: Int, top: Int) {
    guard !entries.isEmpty else { return }
    let textWidth = entries.map { Font.width($0.0) }.max() ?? 0
    let (w, h) = (textWidth + 26, entries.count * 12 + 6)
    let x = right - w
    for yy in top..<(top + h) { for xx in x..<(x + w) { set(xx, yy, (255, 255, 255), alpha: 0.85) } }
    rectangle(x, top, x + w, top + h, (160, 160, 160))
    for (k, entry) in entries.enumerated() {
      let y = top + 4 + k * 12
      for dy in 1..<6 { line(Double(x + 4), Double(y + dy), Double(x + 15), Double(y + dy), entry.1) }
      text(entry.0, x: x + 20, y: y)
    }
  }
}
