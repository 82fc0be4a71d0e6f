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
  public static func imageGrid(_ samples: [Float], shape: [Int], count: Int, scale: Int = 2, columns: Int? = nil) -> Canvas {
    let (c, h, w) = (shape[0], shape[1], shape[2])
    let columns = columns ?? Int(Double(count).squareRoot().rounded(.up)), rows = (count + columns - 1) / columns
    let pad = 2
    var canvas = Canvas(width: columns * (w * scale + pad) + pad, height: rows * (h * scale + pad) + pad, background: (40, 40, 40))
    for n in 0..<count {
      let ox = pad + (n % columns) * (w * scale + pad), oy = pad + (n / columns) * (h * scale + pad)
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

  /// Generated points (orange) over real ones (blue), with the mode centres as crosses.
  public static func scatter(real: [(Double, Double)], generated: [(Double, Double)], centres: [(Double, Double)], size: Int = 480) -> Canvas {
    var canvas = Canvas(width: size, height: size)
    let all = real + generated + centres
    let finite = all.filter { $0.0.isFinite && $0.1.isFinite }
    let extent = max(finite.map { max(abs($0.0), abs($0.1)) }.max() ?? 1, 1e-6) * 1.1
    func px(_ v: Double) -> Double { (v / extent + 1) / 2 * Double(size - 1) }
    func py(_ v: Double) -> Double { (1 - (v / extent + 1) / 2) * Double(size - 1) }
    canvas.line(px(-extent), py(0), px(extent), py(0), (220, 220, 220))
    canvas.line(px(0), py(-extent), px(0), py(extent), (220, 220, 220))
    for p in real { canvas.dot(px(p.0), py(p.1), radius: 1, (31, 119, 180), alpha: 0.5) }
    for p in generated where p.0.isFinite && p.1.isFinite { canvas.dot(px(p.0), py(p.1), radius: 1, (255, 127, 14), alpha: 0.6) }
    for c in centres {
      canvas.line(px(c.0) - 4, py(c.1), px(c.0) + 4, py(c.1), (0, 0, 0))
      canvas.line(px(c.0), py(c.1) - 4, px(c.0), py(c.1) + 4, (0, 0, 0))
    }
    canvas.rectangle(0, 0, size - 1, size - 1, (0, 0, 0))
    return canvas
  }

  /// Loss curves over steps: D loss blue, G loss orange, on a shared axis.
  public static func curves(_ series: [[(Double, Double)]], colours: [(UInt8, UInt8, UInt8)], width: Int = 720, height: Int = 360) -> Canvas {
    var canvas = Canvas(width: width, height: height)
    let points = series.flatMap { $0 }.filter { $0.1.isFinite }
    guard let minX = points.map(\.0).min(), let maxX = points.map(\.0).max() else { return canvas }
    let lo = points.map(\.1).min()!, hi = points.map(\.1).max()!
    let span = max(hi - lo, 1e-9), margin = 20.0
    func px(_ x: Double) -> Double { margin + (x - minX) / max(maxX - minX, 1) * (Double(width) - 2 * margin) }
    func py(_ y: Double) -> Double { Double(height) - margin - (y - lo) / span * (Double(height) - 2 * margin) }
    if lo < 0 && hi > 0 { canvas.line(px(minX), py(0), px(maxX), py(0), (220, 220, 220)) }
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
    canvas.rectangle(Int(margin) - 1, Int(margin) - 1, width - Int(margin), height - Int(margin), (0, 0, 0))
    return canvas
  }
}
