/// "Did you mean" suggestions by edit distance.
enum Suggestion {
  /// The Levenshtein distance between `a` and `b`, case-insensitive.
  static func distance(_ a: String, _ b: String) -> Int {
    let x = Array(a.lowercased()), y = Array(b.lowercased())
    if x.isEmpty { return y.count }
    if y.isEmpty { return x.count }
    var previous = Array(0...y.count)
    var current = [Int](repeating: 0, count: y.count + 1)
    for i in 1...x.count {
      current[0] = i
      for j in 1...y.count {
        let cost = x[i - 1] == y[j - 1] ? 0 : 1
        current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
      }
      swap(&previous, &current)
    }
    return previous[y.count]
  }

  /// The candidate closest to `word`, if it is close enough to be a likely typo.
  static func closest(to word: String, in candidates: [String]) -> String? {
    var best: (String, Int)? = nil
    for c in candidates {
      let d = distance(word, c)
      if best == nil || d < best!.1 { best = (c, d) }
    }
    guard let (candidate, d) = best else { return nil }
    let limit = max(2, min(word.count, candidate.count) / 3)
    if d <= limit { return candidate }
    // A prefix or containment match ("lr-rate" -> "lr", "leaky" -> "leaky-relu").
    let w = word.lowercased()
    if w.count >= 3, let hit = candidates.first(where: { $0.lowercased().hasPrefix(w) || w.hasPrefix($0.lowercased()) && $0.count >= 3 }) {
      return hit
    }
    return nil
  }

  /// A help line naming the closest candidate, or listing them all when few.
  static func help(for word: String, in candidates: [String], what: String) -> String {
    if let c = closest(to: word, in: candidates) { return "did you mean '\(c)'?" }
    if candidates.count <= 12 {
      return "\(what) is one of: " + candidates.map { "'\($0)'" }.joined(separator: ", ")
    }
    return "see `ganc schema` for every \(what)"
  }
}
