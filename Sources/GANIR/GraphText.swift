import Foundation

/// The text form of a graph, one node a line:
///
///     %2 = matmul transB %0, %1 : [512, 256]
///     %5 = fused matmul transB { head; load 2; add r0 r1; const 0; max r2 r3 } %0, %1, %4 : [512, 256]
///     output "d_loss" %9
///
/// `Graph(parsing:)` reads it back; print -> parse -> print is the identity.
extension Graph {
  static func attributes(_ op: Op) -> String {
    switch op {
    case .input(let n), .parameter(let n), .assign(let n): return "\"\(n)\""
    case .constant(let c): return "\(c)"
    case .random(let s): return "stream=\(s)"
    case .matmul(let a, let b): return [a ? "transA" : nil, b ? "transB" : nil].compactMap { $0 }.joined(separator: " ")
    case .conv(let c), .convTranspose(let c), .convWeight(let c): return c.text
    case .reduceSum(let axes), .reduceMax(let axes): return "axes=" + axes.map(String.init).joined(separator: ",")
    case .concat(let axis): return "axis=\(axis)"
    case .slice(let axis, let start): return "axis=\(axis) start=\(start)"
    case .pad(let axis, let before): return "axis=\(axis) before=\(before)"
    case .fused(let k):
      var s = ""
      if let head = k.head { s = ([head.mnemonic, attributes(head)].filter { !$0.isEmpty }).joined(separator: " ") + " " }
      let code = k.code.map { i -> String in
        switch i {
        case .head: return "head"
        case .load(let j): return "load \(j)"
        case .constant(let c): return "const \(c)"
        case .unary(let f, let a): return "\(f.rawValue) r\(a)"
        case .binary(let f, let a, let b): return "\(f.rawValue) r\(a) r\(b)"
        }
      }
      let stores = k.stores.map { "store \"\($0.name)\" r\($0.register)" }
      let sum = k.reduction.map { ["sum axes=" + $0.axes.map(String.init).joined(separator: ",") + " of [" + $0.domain.map(String.init).joined(separator: ", ") + "]"] } ?? []
      return s + "{ " + (code + stores + sum).joined(separator: "; ") + " }"
    case .unary, .binary, .broadcast, .reshape, .gather, .scatterAdd, .convert, .stopGradient, .allReduce: return ""
    }
  }

  /// The text of one node, without the trailing newline.
  public func line(_ id: ValueID) -> String {
    let n = nodes[id]
    var parts = ["%\(id) =", n.op.mnemonic]
    let a = Self.attributes(n.op)
    if !a.isEmpty { parts.append(a) }
    if !n.inputs.isEmpty { parts.append(n.inputs.map { "%\($0)" }.joined(separator: ", ")) }
    parts.append(": [" + n.shape.map(String.init).joined(separator: ", ") + "]")
    if n.layout != .plain { parts.append(n.layout.rawValue) }
    return parts.joined(separator: " ")
  }

  /// The whole graph as text.
  public var text: String {
    var out = ""
    for i in nodes.indices { out += line(i) + "\n" }
    for o in outputs { out += "output \"\(outputNames[o] ?? "")\" %\(o)\n" }
    return out
  }

  /// Reads the text form back.
  public init(parsing text: String) throws {
    self.init()
    for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
      let line = raw.trimmingCharacters(in: .whitespaces)
      if line.isEmpty || line.hasPrefix("//") { continue }
      do {
        try parseLine(line)
      } catch let e as IRError {
        throw IRError("line \(number + 1): \(e.message)")
      }
    }
  }

  private mutating func parseLine(_ line: String) throws {
    var t = Tokens(line)
    if t.peek == "output" {
      t.next()
      let name = try t.string()
      let v = try t.value()
      outputs.append(v)
      outputNames[v] = name
      return
    }
    let id = try t.value()
    guard id == nodes.count else { throw IRError("expected %\(nodes.count), found %\(id)") }
    try t.expect("=")
    let mnemonic = t.next()
    let op = try parseOp(mnemonic, &t)
    var inputs: [ValueID] = []
    while t.peek.hasPrefix("%") {
      inputs.append(try t.value())
      if t.peek == "," { t.next() }
    }
    try t.expect(":")
    let shape = try t.shape()
    var layout = Layout.plain
    if !t.peek.isEmpty {
      guard let l = Layout(rawValue: t.next()) else { throw IRError("unknown layout '\(t.items[t.index - 1])'") }
      layout = l
    }
    try add(op, inputs, shape: shape, layout: layout)
  }

  private func parseOp(_ m: String, _ t: inout Tokens) throws -> Op {
    func keyed(_ key: String) throws -> String {
      let tok = t.next()
      guard tok.hasPrefix(key + "=") else { throw IRError("expected \(key)=..., found '\(tok)'") }
      return String(tok.dropFirst(key.count + 1))
    }
    func int(_ key: String) throws -> Int {
      guard let v = Int(try keyed(key)) else { throw IRError("\(key) must be an integer") }
      return v
    }
    func pair(_ s: String, _ sep: Character) throws -> [Int] {
      let v = s.split(separator: sep).compactMap { Int($0) }
      guard !v.isEmpty else { throw IRError("bad numbers '\(s)'") }
      return v
    }
    func conv() throws -> ConvAttributes {
      let s = try pair(try keyed("stride"), "x"), p = try pair(try keyed("pad"), ","), d = try pair(try keyed("dilation"), "x")
      guard s.count == 2, p.count == 4, d.count == 2 else { throw IRError("bad convolution attributes") }
      return ConvAttributes(stride: (s[0], s[1]), padding: (p[0], p[1], p[2], p[3]), dilation: (d[0], d[1]))
    }
    if let f = UnaryFunction(rawValue: m) { return .unary(f) }
    if let f = BinaryFunction(rawValue: m) { return .binary(f) }
    switch m {
    case "input": return .input(try t.string())
    case "param": return .parameter(try t.string())
    case "assign": return .assign(try t.string())
    case "const":
      guard let c = Double(t.next()) else { throw IRError("const needs a number") }
      return .constant(c)
    case "random": return .random(stream: try int("stream"))
    case "matmul":
      var a = false, b = false
      while t.peek == "transA" || t.peek == "transB" { if t.next() == "transA" { a = true } else { b = true } }
      return .matmul(transposeA: a, transposeB: b)
    case "conv": return .conv(try conv())
    case "conv_transpose": return .convTranspose(try conv())
    case "conv_weight": return .convWeight(try conv())
    case "reduce_sum": return .reduceSum(axes: try pair(try keyed("axes"), ","))
    case "reduce_max": return .reduceMax(axes: try pair(try keyed("axes"), ","))
    case "broadcast": return .broadcast
    case "reshape": return .reshape
    case "gather": return .gather
    case "scatter_add": return .scatterAdd
    case "convert": return .convert
    case "stop_gradient": return .stopGradient
    case "all_reduce": return .allReduce
    case "concat": return .concat(axis: try int("axis"))
    case "slice":
      let axis = try int("axis")
      return .slice(axis: axis, start: try int("start"))
    case "pad":
      let axis = try int("axis")
      return .pad(axis: axis, before: try int("before"))
    case "fused":
      var head: Op? = nil
      if t.peek != "{" { head = try parseOp(t.next(), &t) }
      try t.expect("{")
      var code: [Instruction] = []
      var stores: [KernelStore] = []
      var reduction: KernelReduction? = nil
      var words: [String] = []
      func register(_ s: String) throws -> Int {
        guard s.hasPrefix("r"), let v = Int(s.dropFirst()) else { throw IRError("expected a register, found '\(s)'") }
        return v
      }
      func flush() throws {
        guard let first = words.first else { return }
        if reduction != nil { throw IRError("the sum comes last") }
        if first == "sum" {
          guard words.count >= 4, words[1].hasPrefix("axes="), words[2] == "of", words[3] == "[", words.last == "]" else {
            throw IRError("expected 'sum axes=A,B of [shape]'")
          }
          let axes = words[1].dropFirst(5).split(separator: ",").map { Int($0) }
          let domain = words[4..<(words.count - 1)].filter { $0 != "," }.map { Int($0) }
          guard !axes.contains(nil), !domain.contains(nil) else { throw IRError("bad numbers in a sum") }
          reduction = KernelReduction(axes: axes.map { $0! }, domain: domain.map { $0! })
          words = []
          return
        }
        switch (first, words.count) {
        case ("store", 3):
          guard words[1].count >= 2, words[1].hasPrefix("\""), words[1].hasSuffix("\"") else { throw IRError("store needs a quoted name") }
          stores.append(KernelStore(name: String(words[1].dropFirst().dropLast()), register: try register(words[2])))
        case _ where !stores.isEmpty: throw IRError("instructions must come before the stores")
        case ("head", 1): code.append(.head)
        case ("load", 2): code.append(.load(Int(words[1]) ?? -1))
        case ("const", 2): code.append(.constant(Double(words[1]) ?? .nan))
        case (_, 2):
          guard let f = UnaryFunction(rawValue: first) else { throw IRError("unknown unary '\(first)'") }
          code.append(.unary(f, try register(words[1])))
        case (_, 3):
          guard let f = BinaryFunction(rawValue: first) else { throw IRError("unknown binary '\(first)'") }
          code.append(.binary(f, try register(words[1]), try register(words[2])))
        default: throw IRError("bad instruction '\(words.joined(separator: " "))'")
        }
        words = []
      }
      while t.peek != "}" {
        let w = t.next()
        if w.isEmpty { throw IRError("unterminated kernel") }
        if w == ";" { try flush() } else { words.append(w) }
      }
      try flush()
      t.next()
      return .fused(FusedKernel(head: head, code: code, stores: stores, reduction: reduction))
    default:
      throw IRError("unknown op '\(m)'")
    }
  }
}

/// Splits a line into words, strings, and the punctuation `= : , { } ; [ ]`.
struct Tokens {
  var items: [String]
  var index = 0

  init(_ line: String) {
    var items: [String] = []
    var current = ""
    var inString = false
    for ch in line {
      if inString {
        current.append(ch)
        if ch == "\"" { items.append(current); current = ""; inString = false }
      } else if ch == "\"" {
        if !current.isEmpty { items.append(current) }
        current = "\""
        inString = true
      } else if ch == " " || ch == "\t" {
        if !current.isEmpty { items.append(current); current = "" }
      } else if "=:,{};[]".contains(ch) && !(ch == "=" && !current.isEmpty && current != "%") && !(ch == "," && current.contains("=")) {
        if !current.isEmpty { items.append(current); current = "" }
        items.append(String(ch))
      } else {
        current.append(ch)
      }
    }
    if !current.isEmpty { items.append(current) }
    self.items = items
  }

  var peek: String { index < items.count ? items[index] : "" }

  @discardableResult
  mutating func next() -> String {
    defer { index += 1 }
    return peek
  }

  mutating func expect(_ s: String) throws {
    let t = next()
    if t != s { throw IRError("expected '\(s)', found '\(t)'") }
  }

  mutating func string() throws -> String {
    let t = next()
    guard t.count >= 2, t.hasPrefix("\""), t.hasSuffix("\"") else { throw IRError("expected a quoted name, found '\(t)'") }
    return String(t.dropFirst().dropLast())
  }

  mutating func value() throws -> ValueID {
    let t = next()
    guard t.hasPrefix("%"), let v = Int(t.dropFirst()) else { throw IRError("expected a value like %3, found '\(t)'") }
    return v
  }

  mutating func shape() throws -> [Int] {
    try expect("[")
    var dims: [Int] = []
    while peek != "]" {
      guard let d = Int(next()) else { throw IRError("bad shape") }
      dims.append(d)
      if peek == "," { next() }
    }
    next()
    return dims
  }
}
