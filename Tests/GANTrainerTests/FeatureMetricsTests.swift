import Foundation
import Testing
@testable import GANTrainer

/// Seeded normal draws (Box-Muller over a linear congruential generator).
struct Draws {
  var state: UInt64
  mutating func uniform() -> Double {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return (Double(state >> 11) + 0.5) * 0x1p-53
  }
  mutating func normal() -> Double { (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform()) }
  /// n rows of d values: mean + scale * N(0, 1) per coordinate.
  mutating func gaussian(_ n: Int, _ d: Int, mean: [Double], scale: [Double]) -> [Float] {
    (0..<(n * d)).map { Float(mean[$0 % d] + scale[$0 % d] * normal()) }
  }
}

@Suite("Feature metrics: FD, KID, precision/recall, density/coverage")
struct FeatureMetricsTests {
  @Test("FD of diagonal Gaussians is |m1 - m2|^2 + sum (sqrt a - sqrt b)^2")
  func frechetDiagonal() {
    let d = 3
    let m1 = [0.0, 1, 2], m2 = [1.0, 1, 0]
    let a = [1.0, 4, 9], b = [4.0, 1, 9]
    func diag(_ v: [Double]) -> [Double] { (0..<(d * d)).map { $0 % (d + 1) == 0 ? v[$0 / (d + 1)] : 0 } }
    let fd = FeatureMetrics.frechetDistance(mean: m1, covariance: diag(a), mean: m2, covariance: diag(b))
    // |m1 - m2|^2 = 1 + 0 + 4; (1 - 2)^2 + (2 - 1)^2 + (3 - 3)^2 = 2.
    #expect(abs(fd - 7) < 1e-9, "FD \(fd)")
  }

  @Test("FD of non-commuting 2x2 covariances: tr sqrt(C1 C2) = sqrt(tr(C1 C2) + 2 sqrt(det(C1 C2)))")
  func frechetRotated() {
    let c1 = [2.0, 0.6, 0.6, 1.0], c2 = [1.0, -0.4, -0.4, 3.0]
    let p = [c1[0] * c2[0] + c1[1] * c2[2], c1[0] * c2[1] + c1[1] * c2[3], c1[2] * c2[0] + c1[3] * c2[2], c1[2] * c2[1] + c1[3] * c2[3]]
    let crossTrace = (p[0] + p[3] + 2 * (p[0] * p[3] - p[1] * p[2]).squareRoot()).squareRoot()
    let expected = 0.25 + (c1[0] + c1[3] + c2[0] + c2[3]) - 2 * crossTrace
    let fd = FeatureMetrics.frechetDistance(mean: [0, 0.5], covariance: c1, mean: [0, 0], covariance: c2)
    #expect(abs(fd - expected) < 1e-9, "FD \(fd), expected \(expected)")
  }

  @Test("FD of samples approaches the closed form; identical sets give 0")
  func frechetSamples() {
    var r = Draws(state: 7)
    let d = 4, n = 20000
    let x = r.gaussian(n, d, mean: [0, 0, 0, 0], scale: [1, 1, 1, 1])
    let y = r.gaussian(n, d, mean: [1, 0, 2, 0], scale: [2, 2, 2, 2])
    // |mu|^2 = 5, each axis (1 - 2)^2 = 1: FD = 9.
    let fd = FeatureMetrics.frechetDistance(x, y, rowsX: n, rowsY: n, dimension: d)
    #expect(abs(fd - 9) < 0.3, "FD \(fd)")
    #expect(FeatureMetrics.frechetDistance(x, x, rowsX: n, rowsY: n, dimension: d) < 1e-6)
  }

  @Test("Jacobi eigenvalues reconstruct the matrix")
  func eigen() {
    var r = Draws(state: 3)
    let n = 6
    var a = [Double](repeating: 0, count: n * n)
    for i in 0..<n { for j in i..<n { a[i * n + j] = r.normal(); a[j * n + i] = a[i * n + j] } }
    let (values, vectors) = FeatureMetrics.symmetricEigen(a, n: n)
    for i in 0..<n {
      for j in 0..<n {
        let back = (0..<n).reduce(0.0) { $0 + vectors[i * n + $1] * values[$1] * vectors[j * n + $1] }
        #expect(abs(back - a[i * n + j]) < 1e-10)
      }
    }
  }

  /// The unbiased MMD^2 with k(x, y) = (x.y/d + 1)^3, written out directly.
  func mmd(_ x: [Float], _ y: [Float], n: Int, d: Int) -> Double {
    func k(_ a: Int, _ xa: [Float], _ b: Int, _ yb: [Float]) -> Double {
      var dot = 0.0
      for j in 0..<d { dot += Double(xa[a * d + j]) * Double(yb[b * d + j]) }
      return pow(dot / Double(d) + 1, 3)
    }
    var sxx = 0.0, syy = 0.0, sxy = 0.0
    for i in 0..<n {
      for j in 0..<n {
        if i != j { sxx += k(i, x, j, x); syy += k(i, y, j, y) }
        sxy += k(i, x, j, y)
      }
    }
    let m = Double(n)
    return (sxx + syy) / (m * (m - 1)) - 2 * sxy / (m * m)
  }

  @Test("KID on the whole set is the unbiased MMD^2 written out; identical distributions give about 0")
  func kid() throws {
    var r = Draws(state: 11)
    let n = 60, d = 5
    let x = r.gaussian(n, d, mean: [0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1])
    let y = r.gaussian(n, d, mean: [0.5, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1])
    let whole = try FeatureMetrics.kernelInceptionDistance(x, y, rowsX: n, rowsY: n, dimension: d, subsets: 3, subsetSize: n)
    #expect(abs(whole.mean - mmd(x, y, n: n, d: d)) < 1e-6 * max(1, abs(whole.mean)), "KID \(whole.mean)")
    #expect(whole.std < 1e-9)  // every subset is the whole set
    let big = 2000
    let a = r.gaussian(big, d, mean: [0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1]), b = r.gaussian(big, d, mean: [0, 0, 0, 0, 0], scale: [1, 1, 1, 1, 1])
    let same = try FeatureMetrics.kernelInceptionDistance(a, b, rowsX: big, rowsY: big, dimension: d, subsets: 20, subsetSize: 500)
    let shifted = try FeatureMetrics.kernelInceptionDistance(a, b.map { $0 + 1 }, rowsX: big, rowsY: big, dimension: d, subsets: 20, subsetSize: 500)
    #expect(abs(same.mean) < 3 * same.std + 1e-3, "KID of one distribution \(same.mean) +- \(same.std)")
    #expect(shifted.mean > 20 * max(same.std, 1e-4), "shifted KID \(shifted.mean)")
  }

  @Test("precision, recall, density and coverage on hand-made points")
  func handMade() throws {
    // Real points on a line at 0, 1, ..., 9 (2-D, y = 0); k = 1: each real
    // ball has radius 1. Generated: 0.5, 4.2 inside; 30 and 40 far away.
    let real: [Float] = (0..<10).flatMap { [Float($0), Float(0)] }
    let generated: [Float] = [0.5, 0, 4.2, 0, 30, 0, 40, 0]
    let m = try FeatureMetrics.manifold(real: real, generated: generated, rowsX: 10, rowsY: 4, dimension: 2, kPR: 1, kDC: 1)
    #expect(m.precision == 0.5)
    // Generated balls (k = 1): 0.5 -> 3.7 (nearest 4.2), 4.2 -> 3.7, 30 -> 10, 40 -> 10. Real points within:
    // of 0.5: 0..4; of 4.2: 1..7; of 30: none (20 > 10); of 40: none -> 0..7 recalled = 8 of 10.
    #expect(m.recall == 0.8)
    // 0.5 lies in the balls of 0 and 1; 4.2 in those of 4 and 5 (3 is 1.2 away): 4 memberships / (k * 4).
    #expect(m.density == 1.0)
    // Real balls holding a generated point: 0, 1, 4, 5.
    #expect(m.coverage == 0.4)
  }

  @Test("density is about 1 and coverage about 1 - 2^-k for two samples of one distribution")
  func sameDistribution() throws {
    var r = Draws(state: 5)
    let n = 1500, d = 8
    let mean = [Double](repeating: 0, count: d), scale = [Double](repeating: 1, count: d)
    let a = r.gaussian(n, d, mean: mean, scale: scale), b = r.gaussian(n, d, mean: mean, scale: scale)
    let m = try FeatureMetrics.manifold(real: a, generated: b, rowsX: n, rowsY: n, dimension: d)
    #expect(abs(m.density - 1) < 0.1, "density \(m.density)")
    #expect(m.coverage > 0.9, "coverage \(m.coverage)")
    #expect(m.precision > 0.6 && m.recall > 0.6, "precision \(m.precision) recall \(m.recall)")
    let far = try FeatureMetrics.manifold(real: a, generated: b.map { $0 + 10 }, rowsX: n, rowsY: n, dimension: d)
    #expect(far == FeatureMetrics.Manifold(precision: 0, recall: 0, density: 0, coverage: 0))
  }

  @Test("KS statistics and correlation differences of tables")
  func tables() {
    // Column 0 equal, column 1 shifted by half its range: KS 0.5.
    let real: [Float] = [0, 0, 1, 1, 2, 2, 3, 3]
    let generated: [Float] = [0, 2, 1, 3, 2, 4, 3, 5]
    let ks = Evaluation.ksStatistics(real, generated, columns: 2)
    #expect(ks == [0, 0.5])
    let anti: [Float] = [0, 3, 1, 2, 2, 1, 3, 0]
    let c = Evaluation.correlationDifference(real, anti, columns: 2)
    #expect(abs(c.largest - 2) < 1e-12 && abs(c.matrix[1] + 2) < 1e-12)
  }
}
