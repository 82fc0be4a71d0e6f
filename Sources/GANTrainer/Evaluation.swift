import Foundation

/// Quality metrics of a trained generator.
public enum Evaluation {
  /// PacGAN's metrics for mixtures of Gaussians (Lin et al. 2018): a sample is
  /// high quality when it lies within 3 standard deviations of its nearest
  /// mode centre; a mode is covered when it receives a high-quality sample.
  public struct Modes: Sendable {
    public var modes: Int
    public var covered: Int
    public var highQualityShare: Double
    /// KL divergence of the histogram of high-quality samples over modes from uniform.
    public var kl: Double
  }

  public static func modes(_ samples: [(Double, Double)], centres: [(Double, Double)], std: Double) -> Modes {
    var counts = [Int](repeating: 0, count: centres.count)
    var good = 0
    for p in samples where p.0.isFinite && p.1.isFinite {
      var best = 0, bestDistance = Double.infinity
      for (i, c) in centres.enumerated() {
        let d = ((p.0 - c.0) * (p.0 - c.0) + (p.1 - c.1) * (p.1 - c.1)).squareRoot()
        if d < bestDistance { bestDistance = d; best = i }
      }
      if bestDistance < 3 * std {
        counts[best] += 1
        good += 1
      }
    }
    let m = Double(centres.count)
    var kl = 0.0
    if good > 0 {
      for c in counts where c > 0 {
        let p = Double(c) / Double(good)
        kl += p * Foundation.log(p * m)
      }
    } else {
      kl = .infinity
    }
    return Modes(
      modes: centres.count, covered: counts.filter { $0 > 0 }.count,
      highQualityShare: samples.isEmpty ? 0 : Double(good) / Double(samples.count), kl: kl)
  }

  /// Image statistics against real images in [-1, 1].
  public struct Images: Sendable {
    /// Mean over pixels of |mean_generated - mean_real|.
    public var meanDistance: Double
    /// Mean over pixels of |std_generated - std_real|.
    public var stdDistance: Double
    /// Share of generated samples inside the k-NN ball of some real sample (Kynkaanniemi et al. 2019).
    public var precision: Double
    /// Share of real samples inside the k-NN ball of some generated sample.
    public var recall: Double
    public var k: Int
  }

  /// Features: average pooling to about 7x7 per channel (a fixed feature map).
  static func features(_ data: [Float], count: Int, shape: [Int]) -> [[Double]] {
    let (c, h, w) = (shape[0], shape[1], shape[2])
    let ph = max(1, h / 7), pw = max(1, w / 7)
    let oh = h / ph, ow = w / pw
    return (0..<count).map { n in
      var f: [Double] = []
      f.reserveCapacity(c * oh * ow)
      for ch in 0..<c {
        for i in 0..<oh {
          for j in 0..<ow {
            var s = 0.0
            for y in (i * ph)..<((i + 1) * ph) { for xx in (j * pw)..<((j + 1) * pw) { s += Double(data[((n * c + ch) * h + y) * w + xx]) } }
            f.append(s / Double(ph * pw))
          }
        }
      }
      return f
    }
  }

  static func distances(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] {
    a.map { u in b.map { v in zip(u, v).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot() } }
  }

  /// The distance to each point's k-th nearest neighbour within its own set.
  static func radii(_ d: [[Double]], k: Int) -> [Double] {
    d.map { row in row.sorted()[min(k, row.count - 1)] }  // index 0 is the point itself
  }

  public static func images(generated: [Float], real: [Float], count: Int, shape: [Int], k: Int = 3) -> Images {
    let size = shape.reduce(1, *)
    var meanD = 0.0, stdD = 0.0
    for p in 0..<size {
      var sg = 0.0, sg2 = 0.0, sr = 0.0, sr2 = 0.0
      for n in 0..<count {
        let g = Double(generated[n * size + p]), r = Double(real[n * size + p])
        sg += g; sg2 += g * g; sr += r; sr2 += r * r
      }
      let mg = sg / Double(count), mr = sr / Double(count)
      meanD += abs(mg - mr)
      stdD += abs(max(sg2 / Double(count) - mg * mg, 0).squareRoot() - max(sr2 / Double(count) - mr * mr, 0).squareRoot())
    }
    let fg = features(generated, count: count, shape: shape), fr = features(real, count: count, shape: shape)
    let rr = radii(distances(fr, fr), k: k), rg = radii(distances(fg, fg), k: k)
    let gr = distances(fg, fr)
    let precision = Double(gr.filter { row in row.enumerated().contains { $0.element <= rr[$0.offset] } }.count) / Double(count)
    var recalled = 0
    for j in 0..<count where (0..<count).contains(where: { gr[$0][j] <= rg[$0] }) { recalled += 1 }
    return Images(
      meanDistance: meanD / Double(size), stdDistance: stdD / Double(size), precision: precision,
      recall: Double(recalled) / Double(count), k: k)
  }

  /// Per-column mean and standard deviation, for tabular data.
  public static func columns(_ values: [Float], columns: Int) -> [(mean: Double, std: Double)] {
    let rows = values.count / max(columns, 1)
    return (0..<columns).map { c in
      var s = 0.0, s2 = 0.0
      for r in 0..<rows { let v = Double(values[r * columns + c]); s += v; s2 += v * v }
      let m = s / Double(max(rows, 1))
      return (m, max(s2 / Double(max(rows, 1)) - m * m, 0).squareRoot())
    }
  }

  /// The two-sample Kolmogorov-Smirnov statistic of each column: the largest
  /// gap between the empirical distribution functions of real and generated values.
  public static func ksStatistics(_ real: [Float], _ generated: [Float], columns: Int) -> [Double] {
    let rowsR = real.count / max(columns, 1), rowsG = generated.count / max(columns, 1)
    return (0..<columns).map { c in
      let a = (0..<rowsR).map { real[$0 * columns + c] }.sorted(), b = (0..<rowsG).map { generated[$0 * columns + c] }.sorted()
      var i = 0, j = 0, gap = 0.0
      while i < a.count && j < b.count {
        let v = min(a[i], b[j])
        while i < a.count && a[i] <= v { i += 1 }
        while j < b.count && b[j] <= v { j += 1 }
        gap = max(gap, abs(Double(i) / Double(a.count) - Double(j) / Double(b.count)))
      }
      return gap
    }
  }

  /// Pearson correlation matrix (columns x columns) of a table of rows.
  public static func correlations(_ values: [Float], columns: Int) -> [Double] {
    let rows = values.count / max(columns, 1)
    let stats = Self.columns(values, columns: columns)
    var out = [Double](repeating: 0, count: columns * columns)
    for i in 0..<columns {
      for j in i..<columns {
        var s = 0.0
        for r in 0..<rows { s += (Double(values[r * columns + i]) - stats[i].mean) * (Double(values[r * columns + j]) - stats[j].mean) }
        let denominator = Double(rows) * stats[i].std * stats[j].std
        let c = i == j ? 1 : (denominator > 0 ? s / denominator : 0)
        out[i * columns + j] = c
        out[j * columns + i] = c
      }
    }
    return out
  }

  /// The generated data's correlation matrix minus the real data's, with the
  /// largest and the mean absolute difference over the pairs of columns.
  public static func correlationDifference(_ real: [Float], _ generated: [Float], columns: Int) -> (matrix: [Double], largest: Double, mean: Double) {
    let r = correlations(real, columns: columns), g = correlations(generated, columns: columns)
    let matrix = zip(g, r).map { $0 - $1 }
    var largest = 0.0, total = 0.0
    for i in 0..<columns {
      for j in (i + 1)..<max(columns, i + 1) {
        largest = max(largest, abs(matrix[i * columns + j]))
        total += abs(matrix[i * columns + j])
      }
    }
    return (matrix, largest, columns > 1 ? total / Double(columns * (columns - 1) / 2) : 0)
  }
}
