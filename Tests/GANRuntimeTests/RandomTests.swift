import Foundation
import GANIR
import GANTestSupport
import Testing
@testable import GANRuntime

@Suite("Random normals for noise and initialisation")
struct RandomTests {
  @Test("the vectorised fill gives exactly the numbers of the one-at-a-time function, from any start")
  func fillMatchesScalar() {
    let stream = SeededStream(seed: 9, stream: 123)
    for (first, count) in [(0, 1), (0, 1037), (5, 33), (1 << 20, 100)] {
      var values = [Float](repeating: .nan, count: count)
      values.withUnsafeMutableBufferPointer { stream.fillNormal($0, first: first) }
      let mismatches = values.indices.filter { values[$0].bitPattern != Float(stream.normal(first + $0)).bitPattern }
      #expect(mismatches.isEmpty, "first \(first): \(mismatches.count) of \(count) differ")
    }
  }

  @Test("each number is Box-Muller over the stream's counter uniforms, within 1e-6 of the formula in double")
  func matchesTheFormula() {
    let stream = SeededStream(seed: 3, stream: 77)
    var values = [Float](repeating: 0, count: 200_000)
    values.withUnsafeMutableBufferPointer { stream.fillNormal($0) }
    let exact = values.indices.map { i in
      let u1 = max(stream.uniform(2 * i), 0x1p-25), u2 = stream.uniform(2 * i + 1)
      return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
    // Values are within a few units of 1, so relative-to-max(1, |y|) is absolute here.
    let worst = worstRelativeError(values, exact)
    #expect(worst < 1e-6, "worst difference \(worst)")
  }

  @Test("a million numbers over four streams have the normal's mean, variance and tails")
  func distribution() {
    let n = 1 << 18
    var all: [Float] = []
    for s in 0..<4 {
      var values = [Float](repeating: 0, count: n)
      values.withUnsafeMutableBufferPointer { SeededStream(seed: 1234, stream: s).fillNormal($0) }
      all += values
    }
    let count = Double(all.count)
    let mean = all.reduce(0.0) { $0 + Double($1) } / count
    let variance = all.reduce(0.0) { $0 + Double($1) * Double($1) } / count - mean * mean
    // Five standard errors: mean 1/sqrt(n), variance sqrt(2/n).
    #expect(abs(mean) < 5 / count.squareRoot(), "mean \(mean)")
    #expect(abs(variance - 1) < 5 * (2 / count).squareRoot(), "variance \(variance)")
    for (k, p) in [(1.0, 0.317310508), (2.0, 0.045500264), (3.0, 0.002699796)] {
      let share = Double(all.filter { abs(Double($0)) > k }.count) / count
      #expect(abs(share - p) < 5 * (p * (1 - p) / count).squareRoot(), "P(|z| > \(k)) = \(share), expected \(p)")
    }
    #expect(all.allSatisfy { $0.isFinite && abs($0) < 6 })
  }
}

@Suite("Random stream identities")
struct RandomStreamTests {
  @Test("different (purpose, index) pairs are different stream ids, even at indices a long run reaches")
  func distinct() {
    var seen: [Int: RandomStream] = [:]
    let indices = [0, 1, 9_999_999, 10_000_000, 30_000_000, 1_000_000_000, (1 << 40) - 1, Int(RandomStream.indexLimit) - 1]
    for purpose in RandomStream.Purpose.allCases {
      for index in indices {
        let s = RandomStream(purpose, index)
        #expect(seen[s.id] == nil, "\(s) and \(String(describing: seen[s.id])) share id \(s.id)")
        seen[s.id] = s
      }
    }
    // The old layout: D's noise of update 30,000,000 was G's noise of update 0.
    #expect(RandomStream(.discriminatorNoise, 30_000_000).id != RandomStream(.generatorNoise, 0).id)
  }

  @Test("op streams of different runs and programs never meet")
  func runs() {
    let a = RunRandom(seed: 1, purpose: .discriminatorStep, run: 5), b = RunRandom(seed: 1, purpose: .generatorStep, run: 5)
    let c = RunRandom(seed: 1, purpose: .discriminatorStep, run: 6)
    let ids = [a.stream(0), a.stream(65535), b.stream(0), c.stream(0), c.stream(1)]
    #expect(Set(ids).count == ids.count)
  }
}
