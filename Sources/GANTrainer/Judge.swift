import Foundation
import GANCompiler
import GANData
import GANIR
import GANRuntime
import GANSpec

/// Counting a classifier's answers.
public enum Classification {
  /// The index of the largest of `row[0..<classes]`.
  @inline(__always)
  static func argmax(_ row: ArraySlice<Float>, classes: Int) -> Int {
    var best = row.startIndex
    for i in row.startIndex..<(row.startIndex + classes) where row[i] > row[best] { best = i }
    return best - row.startIndex
  }

  /// The predicted class of each of `rows` rows of logits (the first
  /// `classes` columns: a semi-supervised D's last column is "generated").
  public static func predictions(logits: [Float], rows: Int, classes: Int) -> [Int] {
    let width = logits.count / max(rows, 1)
    return (0..<rows).map { argmax(logits[($0 * width)..<(($0 + 1) * width)], classes: min(classes, width)) }
  }

  /// The share of one-hot `targets` rows whose class has the largest logit.
  public static func accuracy(logits: [Float], targets: [Float], rows: Int) -> Double {
    let width = targets.count / max(rows, 1)
    let truth = predictions(logits: targets, rows: rows, classes: width)
    let guess = predictions(logits: logits, rows: rows, classes: width)
    return Double(zip(truth, guess).filter { $0 == $1 }.count) / Double(max(rows, 1))
  }
}

extension Trainer {
  /// What a judging net says about some samples: logits (rows x width) and
  /// the features of its penultimate layer (rows x dim).
  public struct Judgement: Sendable {
    public var logits: [Float]
    public var width: Int
    public var features: [Float]
    public var dimension: Int
    public var count: Int
  }

  /// The classes a judging net tells apart (a semi-supervised D's "generated" excluded).
  public var judgedClasses: Int {
    let out = checked.discriminator.outputShape.first ?? 1
    return training.loss == .semiSupervised ? out - 1 : out
  }

  /// Runs the judging net (a classifier, or a semi-supervised D) in
  /// inference mode over `count` samples.
  public func judge(_ samples: [Float], count: Int) throws -> Judgement {
    guard let program = runtime.program(.inference(checked.discriminator.role)), let x = program.input("x") else {
      throw RuntimeError("\(checked.spec.name) has no judging net: only a <classifier> or a semi-supervised GAN classifies")
    }
    let size = dataset.sampleSize
    guard samples.count >= count * size else { throw RuntimeError("judge: \(samples.count) values for \(count) samples of \(size)") }
    let batch = x.count / size
    var result = Judgement(logits: [], width: 0, features: [], dimension: 0, count: count)
    var first = 0
    var k = 0
    while first < count {
      let n = min(batch, count - first)
      samples.withUnsafeBufferPointer { s in
        x.baseAddress!.update(from: s.baseAddress! + first * size, count: n * size)
        // The last batch is padded with its first sample; the padding's answers are dropped.
        for b in n..<batch { x.baseAddress!.advanced(by: b * size).update(from: s.baseAddress! + first * size, count: size) }
      }
      try runtime.run(program, random: RunRandom(seed: seed, purpose: .otherProgram, run: k))
      guard let logits = program.outputs["logits"], let features = program.outputs["features"] else { throw RuntimeError("the judging program reports no logits") }
      result.width = logits.count / batch
      result.dimension = features.count / batch
      result.logits += logits.prefix(n * result.width)
      result.features += features.prefix(n * result.dimension)
      first += n
      k += 1
    }
    return result
  }

  /// The held-out labelled data of the spec (`<test>`), if it names one.
  public func testSet() throws -> Dataset? {
    guard let test = checked.spec.test else { return nil }
    return try Dataset(test, shape: checked.data.shape, seed: seed)
  }

  /// The share of `data`'s samples the judging net puts in their own class.
  public func accuracy(on data: Dataset) throws -> Double {
    guard let samples = data.allSamples(), let labels = data.labels, data.count > 0 else { throw DataError("the data has no labelled samples to score") }
    let judged = try judge(samples, count: data.count)
    let guesses = Classification.predictions(logits: judged.logits, rows: data.count, classes: judgedClasses)
    return Double(zip(guesses, labels).filter { Float($0) == $1 }.count) / Double(data.count)
  }
}

extension Trainer {
  /// A classifier's (or a semi-supervised D's) accuracy on the spec's
  /// `<test>` data, or nil when the spec names none.
  public func testAccuracy() throws -> (accuracy: Double, count: Int)? {
    guard let test = try testSet() else { return nil }
    return (try accuracy(on: test), test.count)
  }
}

/// A generator measured on a judge's features against real samples.
public struct JudgeEvaluation: Sendable {
  public var metrics: FeatureMetrics.Report
  /// For a conditional generator: the share of G(z, y) the judge puts in class y.
  public var classAccuracy: Double?
  /// The classes the judge finds among the generated samples (at least once).
  public var classesCovered: Int
  public var classes: Int
}

/// The pieces of an evaluation against a judge that stay fixed over a run:
/// the judge, the real samples and their features, and the judge's identity.
public final class JudgeSession {
  public let judge: Trainer
  public let judgeRun: String
  /// SHA-256 of the judge's checkpoint: two figures are comparable only with the same judge.
  public let checkpointSHA256: String
  public let count: Int
  /// Where the real samples come from, in words.
  public let realSource: String
  let realFeatures: [Float]

  /// Opens the judge for evaluating `run`'s generator on `count` samples; the
  /// real samples are `run`'s `<test>` data, else the judge's, else `run`'s training data.
  public init(judge: Trainer, judgeRun: String, for run: Trainer, count requested: Int) throws {
    guard judge.isClassifier || judge.training.loss == .semiSupervised else {
      throw DataError("\(judgeRun) is not a judge: its spec is a GAN that does not classify; train one with `ganc train specs/fashion-judge.xml` (a <classifier> spec)")
    }
    guard judge.checked.data.shape == run.checked.data.shape else {
      throw DataError(
        "the judge \(judgeRun) reads samples of shape \(judge.checked.data.shape.shapeText), but \(run.checked.spec.name) makes \(run.checked.data.shape.shapeText); use a judge trained on the same kind of data"
      )
    }
    self.judge = judge
    self.judgeRun = judgeRun
    checkpointSHA256 = try FileDigest.sha256(judge.checkpointPath)
    let real: Dataset
    if let test = try run.testSet() {
      (real, realSource) = (test, "\(run.checked.spec.name)'s test data")
    } else if let test = try judge.testSet() {
      (real, realSource) = (test, "the judge's test data")
    } else {
      (real, realSource) = (run.dataset, "\(run.checked.spec.name)'s training data")
    }
    let available = real.storage == nil ? requested : real.count
    let n = min(requested, available)
    guard n >= 2 else { throw DataError("the real data holds \(available) samples; the metrics need at least 2") }
    var samples = [Float](repeating: 0, count: n * real.sampleSize)
    samples.withUnsafeMutableBufferPointer { real.fill($0, labels: nil, batch: n, position: 0) }
    count = n
    realFeatures = try judge.judge(samples, count: n).features
  }

  /// The metrics of `count` samples of `samples` against the real set: the
  /// judge's floor (training images against test images) and ceiling (noise).
  public func compare(_ samples: [Float], count n: Int, seed: UInt64 = 0) throws -> FeatureMetrics.Report {
    let m = min(n, count)
    let judged = try judge.judge(samples, count: m)
    return try FeatureMetrics.report(real: Array(realFeatures.prefix(m * judged.dimension)), generated: judged.features, rows: m, dimension: judged.dimension, seed: seed)
  }

  /// Measures `run`'s generator now (its live or EMA weights) on the fixed noise of evaluations.
  public func evaluate(_ run: Trainer) throws -> JudgeEvaluation {
    let generated = try run.generate(count: count, noiseSeed: Trainer.noiseSeeds - 1)
    let judged = try judge.judge(generated, count: count)
    let metrics = try FeatureMetrics.report(real: realFeatures, generated: judged.features, rows: count, dimension: judged.dimension, seed: run.training.seed)
    let classes = judge.judgedClasses
    let guesses = Classification.predictions(logits: judged.logits, rows: count, classes: classes)
    var accuracy: Double? = nil
    if run.training.conditional {
      // generate() asks for class i mod classes of sample i.
      let asked = max(run.dataset.classes ?? 1, 1)
      accuracy = Double((0..<count).filter { guesses[$0] == $0 % asked }.count) / Double(count)
    }
    return JudgeEvaluation(metrics: metrics, classAccuracy: accuracy, classesCovered: Set(guesses).count, classes: classes)
  }
}
