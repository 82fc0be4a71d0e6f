import Foundation
import GANData
import GANDiagnostics

/// What the checker knows about the real data without loading it.
public struct DataInfo: Hashable, Sendable {
  /// The shape of one sample.
  public var shape: Shape
  /// How many samples a file holds (nil for fresh draws).
  public var count: Int?
  /// The number of classes (largest label + 1) when the data is labelled.
  public var classes: Int?
  /// The range samples are scaled into (nil when unbounded, e.g. standardised columns).
  public var range: ClosedRange<Double>?
  /// Column names, for CSV.
  public var columns: [String]?
}

/// Reads the headers of data files (IDX, CSV, NPY) to learn their shapes and
/// refuse malformed or truncated ones before any training starts.
enum DataProbe {
  static func probe(_ data: DataSpec, diagnostics: inout [Diagnostic]) -> DataInfo? {
    switch data.source {
    case .ring(let modes, let radius, let std, let samples):
      guard sane(modes, samples, data, &diagnostics) else { return nil }
      let extent = radius + 3 * std
      return DataInfo(shape: [2], count: samples > 0 ? samples : nil, classes: nil, range: -extent...extent)
    case .grid(let size, let spacing, let std, let samples):
      guard size <= 1000, sane(size * size, samples, data, &diagnostics) else {
        if size > 1000 {
          diagnostics.append(
            .error(
              .tooLarge, "a grid of \(size) x \(size) modes is too large", at: data.location(of: "size"),
              help: "use at most 1000 modes per side"))
        }
        return nil
      }
      let extent = Double(size - 1) / 2 * spacing + 3 * std
      return DataInfo(shape: [2], count: samples > 0 ? samples : nil, classes: nil, range: -extent...extent)
    case .idx(let images, let labels):
      return probeIDX(images: images, labels: labels, data, &diagnostics)
    case .csv(let path, let columns, let header):
      return probeCSV(path, columns: columns, header: header, data, &diagnostics)
    case .npy(let path):
      return probeNPY(path, data, &diagnostics)
    }
  }

  private static func sane(_ modes: Int, _ samples: Int, _ data: DataSpec, _ d: inout [Diagnostic]) -> Bool {
    if modes > 1_000_000 {
      d.append(.error(.tooLarge, "\(modes) modes is too many", at: data.location(of: "modes"), help: "use at most 1,000,000 modes"))
      return false
    }
    if samples > 100_000_000 {
      d.append(
        .error(
          .tooLarge, "a fixed set of \(samples) points is too large to hold", at: data.location(of: "samples"),
          help: "use at most 100,000,000 samples, or 0 for fresh draws"))
      return false
    }
    return true
  }

  // MARK: IDX

  static func readPrefix(_ path: String, count: Int) -> [UInt8]? { Compressed.readPrefix(path, count: count) }

  /// Whether `path` is a regular file to read; reports why not. Devices,
  /// FIFOs and kernel files are refused without being read.
  private static func exists(_ path: String, _ attribute: String, _ data: DataSpec, _ d: inout [Diagnostic]) -> Bool {
    switch FileCheck.regularFile(path) {
    case .regular(let handle):
      try? handle.close()
      return true
    case .notRegular(let what):
      d.append(
        .error(
          .fileNotRegular, "the data file \(path) is \(what), not a regular file; it was not read",
          at: data.location(of: attribute), help: "name a data file saved on disk"))
      return false
    case .unreadable:
      d.append(
        .error(
          .dataMissing, "cannot read the data file \(path)", at: data.location(of: attribute),
          help: "check the file's permissions"))
      return false
    case .missing, .folder:
      break
    }
    let fashion = path.contains("fashion-mnist")
    d.append(
      .error(
        .dataMissing, "the data file \(path) does not exist", at: data.location(of: attribute),
        help: fashion ? "install Debian's dataset-fashion-mnist (scripts/setup.sh does)" : "relative paths are resolved from the spec's folder"))
    return false
  }

  private static func probeIDX(images: String, labels: String?, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(images, "images", data, &d) else { return nil }
    let header: IDX.ImageHeader
    switch IDX.imageHeader(readPrefix(images, count: IDX.imageHeaderSize) ?? []) {
    case .success(let h): header = h
    case .failure(let problem):
      d.append(
        .error(
          .dataFormat, "\(images): \(problem.description)", at: data.location(of: "images"),
          help: "ganc reads IDX images with magic 0x00000803 (N x H x W unsigned bytes), plain or .gz"))
      return nil
    }
    let (n, h, w) = (header.count, header.height, header.width)
    if !images.hasSuffix(".gz"), let size = fileSize(images), size != 16 + n * h * w {
      d.append(
        .error(
          .dataFormat, "\(images) holds \(size - 16) bytes of pixels, but its header promises \(n) x \(h) x \(w) = \(n * h * w)",
          at: data.location(of: "images"), help: "the file is truncated or damaged"))
      return nil
    }
    var info = DataInfo(shape: [1, h, w], count: n, classes: nil, range: -1...1)
    if let labels {
      guard exists(labels, "labels", data, &d) else { return nil }
      guard let bytes = readPrefix(labels, count: 8 + n + 1), let count = IDX.labelCount(bytes) else {
        d.append(
          .error(
            .dataFormat, "\(labels) is not an IDX label file", at: data.location(of: "labels"),
            help: "ganc reads IDX labels with magic 0x00000801 (N unsigned bytes), plain or .gz"))
        return nil
      }
      guard count == n else {
        d.append(
          .error(
            .dataLabels, "\(labels) holds \(count) labels for \(n) images", at: data.location(of: "labels"),
            help: "pair each image file with its own label file"))
        return nil
      }
      guard bytes.count == 8 + n else {
        d.append(
          .error(
            .dataFormat, "\(labels) is truncated: \(bytes.count - 8) of \(n) labels", at: data.location(of: "labels"),
            help: "the file is damaged; install it again"))
        return nil
      }
      info.classes = Int(bytes[8...].max() ?? 0) + 1
    }
    return info
  }

  static func fileSize(_ path: String) -> Int? { Compressed.fileSize(path) }

  // MARK: CSV

  private static func probeCSV(_ path: String, columns: [String]?, header: Bool, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(path, "path", data, &d) else { return nil }
    guard let bytes = readPrefix(path, count: 1 << 16) else { return nil }
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = CSV.lines(text).map(\.text)
    if bytes.count == 1 << 16, lines.count > 1 { lines.removeLast() }  // may be cut mid-line
    guard !lines.isEmpty else {
      d.append(.error(.dataFormat, "\(path) is empty", at: data.location(of: "path"), help: "a CSV file needs rows of numbers"))
      return nil
    }
    let cells = CSV.cells
    var names: [String]
    var firstRow = 1
    if header {
      names = cells(lines[0])
      firstRow = 2
    } else {
      names = (0..<cells(lines[0]).count).map { "c\($0)" }
      if columns != nil {
        d.append(
          .error(
            .dataColumns, "'columns' names header columns, but header=\"false\"", at: data.location(of: "columns"),
            help: "set header=\"true\" or leave columns out"))
        return nil
      }
    }
    var selected = Array(names.indices)
    if let columns {
      selected = []
      for c in columns {
        guard let i = names.firstIndex(of: c) else {
          d.append(
            .error(
              .dataColumns, "\(path) has no column '\(c)'", at: data.location(of: "columns"),
              help: Suggestion.help(for: c, in: names, what: "column")))
          return nil
        }
        selected.append(i)
      }
    }
    guard lines.count >= firstRow else {
      d.append(.error(.dataFormat, "\(path) has a header but no rows", at: data.location(of: "path"), help: "add rows of numbers"))
      return nil
    }
    for (offset, line) in lines.dropFirst(firstRow - 1).prefix(100).enumerated() {
      let row = cells(line)
      guard row.count == names.count else {
        d.append(
          .error(
            .dataFormat, "\(path):\(offset + firstRow): \(row.count) values, but the file has \(names.count) columns",
            at: data.location(of: "path"), help: "every row needs one value per column"))
        return nil
      }
      for i in selected where Double(row[i]) == nil || !(Double(row[i])!.isFinite) {
        d.append(
          .error(
            .dataFormat, "\(path):\(offset + firstRow): the value in column '\(names[i])' is not a number",
            at: data.location(of: "path"), help: "choose numeric columns with columns=\"...\""))
        return nil
      }
    }
    return DataInfo(shape: [selected.count], count: nil, classes: nil, range: nil, columns: selected.map { names[$0] })
  }

  // MARK: NPY

  private static func probeNPY(_ path: String, _ data: DataSpec, _ d: inout [Diagnostic]) -> DataInfo? {
    guard exists(path, "path", data, &d) else { return nil }
    guard let bytes = readPrefix(path, count: 1 << 16), let h = NPY.header(bytes) else {
      d.append(
        .error(
          .dataFormat, "\(path) is not a NumPy .npy file", at: data.location(of: "path"),
          help: "save the array with numpy.save"))
      return nil
    }
    guard let size = NPY.itemSizes[h.descr] else {
      d.append(
        .error(
          .dataFormat, "\(path) holds elements of type '\(h.descr)', which ganc does not read", at: data.location(of: "path"),
          help: "save float32 or float64 data: array.astype('float32')"))
      return nil
    }
    guard !h.fortran else {
      d.append(
        .error(
          .dataFormat, "\(path) is in Fortran order", at: data.location(of: "path"),
          help: "save a C-ordered array: numpy.save(path, numpy.ascontiguousarray(a))"))
      return nil
    }
    guard let n = h.shape.first, n > 0, h.shape.allSatisfy({ $0 > 0 }) else {
      d.append(
        .error(
          .dataFormat, "\(path) has shape \(h.shape), with no samples", at: data.location(of: "path"),
          help: "the first axis is the sample axis"))
      return nil
    }
    guard h.shape.count <= 13 else {
      d.append(
        .error(
          .dataFormat, "\(path) has \(h.shape.count - 1) axes per sample; ganc reads at most 12", at: data.location(of: "path"),
          help: "reshape the samples to fewer axes (a feature vector, or C H W images) before saving"))
      return nil
    }
    var total = size
    for s in h.shape {
      let (p, o) = total.multipliedReportingOverflow(by: s)
      guard !o else { return nil }
      total = p
    }
    if !path.hasSuffix(".gz"), let fileBytes = fileSize(path), fileBytes < h.offset + total {
      d.append(
        .error(
          .dataFormat, "\(path) is truncated: \(fileBytes - h.offset) of \(total) data bytes", at: data.location(of: "path"),
          help: "the file is damaged; save it again"))
      return nil
    }
    let shape = h.shape.count == 1 ? [1] : Array(h.shape.dropFirst())
    return DataInfo(shape: shape, count: n, classes: nil, range: nil)
  }
}
