import Foundation
import GANRuntime

/// Distances between two sets of feature vectors (rows of `dimension`
/// floats): a judge's features of real and of generated samples.
public enum FeatureMetrics {
  /// Mean and (unbiased, N - 1) covariance of `rows` feature vectors.
  public static func moments(_ x: [Float], rows: Int, dimension d: Int) -> (mean: [Double], covariance: [Double]) {
    var mean = [Double](repeating: 0, count: d)
    for r in 0..<rows { for j in 0..<d { mean[j] += Double(x[r * d + j]) } }
    for j in 0..<d { mean[j] /= Double(rows) }
    var cov = [Double](repeating: 0, count: d * d)
    var centred = [Double](repeating: 0, count: d)
    for r in 0..<rows {
      for j in 0..<d { centred[j] = Double(x[r * d + j]) - mean[j] }
      for i in 0..<d {
        let ci = centred[i]
        for j in i..<d { cov[i * d + j] += ci * centred[j] }
      }
    }
    let scale = 1 / Double(max(rows - 1, 1))
    for i in 0..<d {
      for j in i..<d {
        cov[i * d + j] *= scale
        cov[j * d + i] = cov[i * d + j]
      }
    }
    return (mean, cov)
  }

  /// Eigenvalues and eigenvectors (columns of `vectors`) of a symmetric n x n
  /// matrix, by cyclic Jacobi rotations (accurate for the small, positive
  /// semi-definite covariances of features).
  public static func symmetricEigen(_ matrix: [Double], n: Int) -> (values: [Double], vectors: [Double]) {
    var a = matrix
    var v = [Double](repeating: 0, count: n * n)
    for i in 0..<n { v[i * n + i] = 1 }
    for _ in 0..<100 {
      var off = 0.0, diagonal = 0.0
      for i in 0..<n {
        diagonal += a[i * n + i] * a[i * n + i]
        for j in (i + 1)..<max(n, i + 1) { off += a[i * n + j] * a[i * n + j] }
      }
      if off <= 1e-30 * max(diagonal, 1e-300) { break }
      for p in 0..<n {
        for q in (p + 1)..<max(n, p + 1) {
          let apq = a[p * n + q]
          guard abs(apq) > 1e-300 else { continue }
          let theta = (a[q * n + q] - a[p * n + p]) / (2 * apq)
          let t = (theta >= 0 ? 1.0 : -1.0) / (abs(theta) + (theta * theta + 1).squareRoot())
          let c = 1 / (t * t + 1).squareRoot(), s = t * c
          for k in 0..<n {
            let akp = a[k * n + p], akq = a[k * n + q]
            a[k * n + p] = c * akp - s * akq
            a[k * n + q] = s * akp + c * akq
          }
          for k in 0..<n {
            let apk = a[p * n + k], aqk = a[q * n + k]
            a[p * n + k] = c * apk - s * aqk
            a[q * n + k] = s * apk + c * aqk
          }
          for k in 0..<n {
            let vkp = v[k * n + p], vkq = v[k * n + q]
            v[k * n + p] = c * vkp - s * vkq
            v[k * n + q] = s * vkp + c * vkq
          }
        }
      }
    }
    return ((0..<n).map { a[$0 * n + $0] }, v)
  }

  /// The Frechet distance between N(m1, c1) and N(m2, c2):
  /// |m1 - m2|^2 + tr(c1) + tr(c2) - 2 tr((c1^1/2 c2 c1^1/2)^1/2) (Heusel et al. 2017;
  /// the middle product has the same trace root as (c1 c2)^1/2 and is symmetric).
  public static func frechetDistance(mean m1: [Double], covariance c1: [Double], mean m2: [Double], covariance c2: [Double]) -> Double {
    let d = m1.count
    var distance = 0.0
    for j in 0..<d { distance += (m1[j] - m2[j]) * (m1[j] - m2[j]) }
    var traces = 0.0
    for j in 0..<d { traces += c1[j * d + j] + c2[j * d + j] }
    // c1^1/2 from c1's eigen decomposition.
    let (values, vectors) = symmetricEigen(c1, n: d)
    var root = [Double](repeating: 0, count: d * d)
    for k in 0..<d {
      let s = max(values[k], 0).squareRoot()
      guard s > 0 else { continue }
      for i in 0..<d {
        let vik = vectors[i * d + k] * s
        for j in 0..<d { root[i * d + j] += vik * vectors[j * d + k] }
      }
    }
    let middle = multiply(multiply(root, c2, d), root, d)
    var symmetric = middle
    for i in 0..<d { for j in 0..<d { symmetric[i * d + j] = (middle[i * d + j] + middle[j * d + i]) / 2 } }
    let crossTrace = symmetricEigen(symmetric, n: d).values.reduce(0) { $0 + max($1, 0).squareRoot() }
    return max(distance + traces - 2 * crossTrace, 0)
  }

  static func multiply(_ a: [Double], _ b: [Double], _ n: Int) -> [Double] {
    var out = [Double](repeating: 0, count: n * n)
    for i in 0..<n {
      for k in 0..<n {
        let aik = a[i * n + k]
        if aik == 0 { continue }
        for j in 0..<n { out[i * n + j] += aik * b[k * n + j] }
      }
    }
    return out
  }

  /// FD of two feature sets.
  public static func frechetDistance(_ x: [Float], _ y: [Float], rowsX: Int, rowsY: Int, dimension d: Int) -> Double {
    let a = moments(x, rows: rowsX, dimension: d), b = moments(y, rows: rowsY, dimension: d)
    return frechetDistance(mean: a.mean, covariance: a.covariance, mean: b.mean, covariance: b.covariance)
  }

  /// Dot products of every pair of rows: a Gram matrix (through oneDNN).
  struct Gram {
    let values: [Float]
    let rows: Int, columns: Int
    init(_ a: [Float], _ b: [Float], rowsA: Int, rowsB: Int, dimension d: Int) throws {
      values = try Runtime.productTransposed(a, b, m: rowsA, n: rowsB, k: d)
      rows = rowsA
      columns = rowsB
    }
    @inline(__always) subscript(i: Int, j: Int) -> Double { Double(values[i * columns + j]) }
  }

  /// KID: the unbiased MMD^2 with the cubic polynomial kernel
  /// k(x, y) = (x.y / d + 1)^3, averaged over `subsets` random subsets of
  /// `subsetSize` rows of each set (Binkowski et al. 2018); mean and standard deviation.
  public static func kernelInceptionDistance(
    _ x: [Float], _ y: [Float], rowsX: Int, rowsY: Int, dimension d: Int, subsets: Int = 100, subsetSize: Int = 1000, seed: UInt64 = 0
  ) throws -> (mean: Double, std: Double) {
    let xx = try Gram(x, x, rowsA: rowsX, rowsB: rowsX, dimension: d)
    let yy = try Gram(y, y, rowsA: rowsY, rowsB: rowsY, dimension: d)
    let xy = try Gram(x, y, rowsA: rowsX, rowsB: rowsY, dimension: d)
    return kid(xx: xx, yy: yy, xy: xy, dimension: d, subsets: subsets, subsetSize: subsetSize, seed: seed)
  }

  static func kid(xx: Gram, yy: Gram, xy: Gram, dimension d: Int, subsets: Int, subsetSize: Int, seed: UInt64) -> (mean: Double, std: Double) {
    let m = min(subsetSize, xx.rows, yy.rows)
    guard m >= 2 else { return (.nan, .nan) }
    @inline(__always) func k(_ dot: Double) -> Double {
      let v = dot / Double(d) + 1
      return v * v * v
    }
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    func choose(_ n: Int) -> [Int] {
      // A seeded partial Fisher-Yates: m distinct rows of n.
      var order = Array(0..<n)
      for i in 0..<m {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        let j = i + Int((state >> 33) % UInt64(n - i))
        order.swapAt(i, j)
      }
      return Array(order.prefix(m))
    }
    var values: [Double] = []
    for _ in 0..<subsets {
      let a = choose(xx.rows), b = choose(yy.rows)
      var sxx = 0.0, syy = 0.0, sxy = 0.0
      for i in 0..<m {
        for j in 0..<m {
          if i != j {
            sxx += k(xx[a[i], a[j]])
            syy += k(yy[b[i], b[j]])
          }
          sxy += k(xy[a[i], b[j]])
        }
      }
      let mm = Double(m)
      values.append(sxx / (mm * (mm - 1)) + syy / (mm * (mm - 1)) - 2 * sxy / (mm * mm))
    }
    let mean = values.reduce(0, +) / Double(values.count)
    let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(max(values.count, 1))
    return (mean, variance.squareRoot())
  }

  /// Squared distances read from dot products, |a|^2 + |b|^2 - 2 a.b, as
  /// they are needed (no N x N table beyond the Gram matrix).
  struct SquaredDistances {
    let gram: Gram
    let normsA: [Double], normsB: [Double]
    init(_ gram: Gram, normsA: [Double], normsB: [Double]) {
      self.gram = gram
      self.normsA = normsA
      self.normsB = normsB
    }
    @inline(__always) subscript(i: Int, j: Int) -> Double { max(normsA[i] + normsB[j] - 2 * gram[i, j], 0) }
  }

  /// Each row's squared distance to its k-th nearest neighbour within its own set (itself excluded).
  static func radii(_ within: SquaredDistances, rows: Int, k: Int) -> [Double] {
    (0..<rows).map { i in
      var nearest = [Double](repeating: .infinity, count: k)
      for j in 0..<rows where j != i {
        let v = within[i, j]
        if v < nearest[k - 1] {
          var p = k - 1
          while p > 0 && nearest[p - 1] > v {
            nearest[p] = nearest[p - 1]
            p -= 1
          }
          nearest[p] = v
        }
      }
      return nearest[k - 1]
    }
  }

  /// Precision, recall (k = 3; Kynkaanniemi et al. 2019), density and
  /// coverage (k = 5; Naeem et al. 2020) of generated features `y` against real features `x`.
  public struct Manifold: Sendable, Equatable {
    public var precision: Double
    public var recall: Double
    public var density: Double
    public var coverage: Double
  }

  public static func manifold(real x: [Float], generated y: [Float], rowsX: Int, rowsY: Int, dimension d: Int, kPR: Int = 3, kDC: Int = 5) throws -> Manifold {
    let xx = try Gram(x, x, rowsA: rowsX, rowsB: rowsX, dimension: d)
    let yy = try Gram(y, y, rowsA: rowsY, rowsB: rowsY, dimension: d)
    let xy = try Gram(x, y, rowsA: rowsX, rowsB: rowsY, dimension: d)
    return manifold(xx: xx, yy: yy, xy: xy, kPR: kPR, kDC: kDC)
  }

  static func manifold(xx: Gram, yy: Gram, xy: Gram, kPR: Int, kDC: Int) -> Manifold {
    let (n, m) = (xx.rows, yy.rows)
    let normsX = (0..<n).map { xx[$0, $0] }, normsY = (0..<m).map { yy[$0, $0] }
    let dxx = SquaredDistances(xx, normsA: normsX, normsB: normsX)
    let dyy = SquaredDistances(yy, normsA: normsY, normsB: normsY)
    let dxy = SquaredDistances(xy, normsA: normsX, normsB: normsY)
    let realPR = radii(dxx, rows: n, k: min(kPR, n - 1)), fakePR = radii(dyy, rows: m, k: min(kPR, m - 1))
    let realDC = radii(dxx, rows: n, k: min(kDC, n - 1))
    // Precision: generated samples inside some real sample's k-NN ball; recall: the converse.
    var precise = 0, recalled = 0, inside = 0, covered = 0
    for j in 0..<m where (0..<n).contains(where: { dxy[$0, j] <= realPR[$0] }) { precise += 1 }
    for i in 0..<n where (0..<m).contains(where: { dxy[i, $0] <= fakePR[$0] }) { recalled += 1 }
    // Density counts every real ball a generated sample falls in; coverage, the real balls holding one.
    for i in 0..<n {
      var any = false
      for j in 0..<m where dxy[i, j] <= realDC[i] {
        inside += 1
        any = true
      }
      if any { covered += 1 }
    }
    return Manifold(
      precision: Double(precise) / Double(m), recall: Double(recalled) / Double(n),
      density: Double(inside) / Double(kDC * m), coverage: Double(covered) / Double(n))
  }

  /// Everything `ganc eval --judge` reports about two feature sets.
  public struct Report: Sendable {
    public var fd: Double
    public var kidMean: Double
    public var kidStd: Double
    public var manifold: Manifold
    public var count: Int
    public var dimension: Int
  }

  public static func report(real x: [Float], generated y: [Float], rows: Int, dimension d: Int, seed: UInt64 = 0) throws -> Report {
    let xx = try Gram(x, x, rowsA: rows, rowsB: rows, dimension: d)
    let yy = try Gram(y, y, rowsA: rows, rowsB: rows, dimension: d)
    let xy = try Gram(x, y, rowsA: rows, rowsB: rows, dimension: d)
    let kid = kid(xx: xx, yy: yy, xy: xy, dimension: d, subsets: 100, subsetSize: min(1000, max(rows / 2, 2)), seed: seed)
    return Report(
      fd: frechetDistance(x, y, rowsX: rows, rowsY: rows, dimension: d), kidMean: kid.mean, kidStd: kid.std,
      manifold: manifold(xx: xx, yy: yy, xy: xy, kPR: 3, kDC: 5), count: rows, dimension: d)
  }
}
