/// Reverse-mode automatic differentiation as a graph-to-graph transform.
///
/// Gradient nodes are appended to the same graph as ordinary ops, built from
/// the per-op rules below, each of which uses only ops that have rules of
/// their own: the result can be differentiated again (a gradient penalty
/// differentiates D's input gradient).
public enum Autodiff {
  /// Appends the gradients of scalar `loss` with respect to `wrt`; returns
  /// them in the same order (a zero constant where `loss` does not depend on one).
  public static func gradients(of loss: ValueID, wrt: [ValueID], in g: inout Graph) throws -> [ValueID] {
    guard g.shape(loss).isEmpty else { throw IRError("the loss %\(loss) must be a scalar, not \(g.shape(loss))") }
    // Values on a path from some `wrt` to the loss.
    let end = g.nodes.count
    var fromWrt = [Bool](repeating: false, count: end)
    for w in wrt { fromWrt[w] = true }
    for i in 0..<end where !fromWrt[i] {
      if g[i].op.isDifferentiable, g[i].inputs.contains(where: { fromWrt[$0] }) { fromWrt[i] = true }
    }
    var toLoss = [Bool](repeating: false, count: end)
    toLoss[loss] = true
    for i in stride(from: end - 1, through: 0, by: -1) where toLoss[i] && g[i].op.isDifferentiable {
      for j in g[i].inputs { toLoss[j] = true }
    }
    let needed = (0..<end).map { fromWrt[$0] && toLoss[$0] }
    var adjoint: [ValueID: ValueID] = [loss: g.constant(1)]

    func accumulate(_ v: ValueID, _ d: ValueID, _ g: inout Graph) {
      guard needed[v] else { return }
      // A scalar broadcast into a bigger operand: sum the gradient back.
      var d = d
      if g.shape(v).isEmpty && !g.shape(d).isEmpty { d = g.sumAll(d) }
      adjoint[v] = adjoint[v].map { g.addv($0, d) } ?? d
    }

    for y in stride(from: loss, through: 0, by: -1) where needed[y] {
      guard let dy = adjoint[y] else { continue }
      let node = g[y]
      guard node.op.isDifferentiable else { continue }
      let x = node.inputs
      switch node.op {
      case .unary(let f):
        let a = x[0]
        let d: ValueID
        switch f {
        case .neg: d = g.unary(.neg, dy)
        case .exp: d = g.mul(dy, y)
        case .log: d = g.div(dy, a)
        case .sqrt: d = g.div(g.scale(dy, 0.5), y)
        case .rsqrt: d = g.mul(g.scale(dy, -0.5), g.mul(y, g.unary(.square, y)))
        case .tanh: d = g.mul(dy, g.sub(g.constant(1), g.unary(.square, y)))
        case .sigmoid: d = g.mul(dy, g.mul(y, g.sub(g.constant(1), y)))
        case .softplus: d = g.mul(dy, g.unary(.sigmoid, a))
        case .erf: d = g.mul(g.scale(dy, 2 / Double.pi.squareRoot()), g.unary(.exp, g.unary(.neg, g.unary(.square, a))))
        case .abs: d = g.mul(dy, g.sub(g.unary(.step, a), g.unary(.step, g.unary(.neg, a))))
        case .square: d = g.mul(g.scale(dy, 2), a)
        case .recip: d = g.unary(.neg, g.mul(dy, g.unary(.square, y)))
        case .step: continue
        case .leakyRelu(let slope):
          // From the output: y > 0 exactly where x > 0 (for slope >= 0).
          let mask = g.unary(.step, y)
          d = g.mul(dy, slope == 0 ? mask : g.addv(g.scale(mask, 1 - slope), g.constant(slope)))
        case .elu:
          // 1 above zero, exp(x) = y + 1 below.
          let mask = g.unary(.step, y)
          let below = g.addv(y, g.constant(1))
          d = g.mul(dy, g.addv(mask, g.mul(g.sub(g.constant(1), mask), below)))
        }
        accumulate(a, d, &g)
      case .binary(let f):
        let (a, b) = (x[0], x[1])
        switch f {
        case .add:
          accumulate(a, dy, &g)
          accumulate(b, dy, &g)
        case .sub:
          accumulate(a, dy, &g)
          if needed[b] { accumulate(b, g.unary(.neg, dy), &g) }
        case .mul:
          if needed[a] { accumulate(a, g.mul(dy, b), &g) }
          if needed[b] { accumulate(b, g.mul(dy, a), &g) }
        case .div:
          if needed[a] { accumulate(a, g.div(dy, b), &g) }
          if needed[b] { accumulate(b, g.unary(.neg, g.div(g.mul(dy, y), b)), &g) }
        case .max, .min:
          let mask = f == .max ? g.unary(.step, g.sub(a, b)) : g.unary(.step, g.sub(b, a))
          if needed[a] { accumulate(a, g.mul(dy, mask), &g) }
          if needed[b] { accumulate(b, g.mul(dy, g.sub(g.constant(1), mask)), &g) }
        case .equal: continue
        }
      case .matmul(let ta, let tb):
        let (a, b) = (x[0], x[1])
        if needed[a] {
          accumulate(a, ta ? try g.add(.matmul(transposeA: tb, transposeB: true), [b, dy]) : try g.add(.matmul(transposeA: false, transposeB: !tb), [dy, b]), &g)
        }
        if needed[b] {
          accumulate(b, tb ? try g.add(.matmul(transposeA: true, transposeB: ta), [dy, a]) : try g.add(.matmul(transposeA: !ta, transposeB: false), [a, dy]), &g)
        }
      case .conv(let c):
        let (a, w) = (x[0], x[1])
        if needed[a] { accumulate(a, try g.add(.convTranspose(c), [dy, w], shape: g.shape(a)), &g) }
        if needed[w] { accumulate(w, try g.add(.convWeight(c), [a, dy], shape: g.shape(w)), &g) }
      case .convTranspose(let c):
        let (a, w) = (x[0], x[1])
        if needed[a] { accumulate(a, try g.add(.conv(c), [dy, w]), &g) }
        if needed[w] { accumulate(w, try g.add(.convWeight(c), [dy, a], shape: g.shape(w)), &g) }
      case .convWeight(let c):
        let (a, e) = (x[0], x[1])
        if needed[a] { accumulate(a, try g.add(.convTranspose(c), [e, dy], shape: g.shape(a)), &g) }
        if needed[e] { accumulate(e, try g.add(.conv(c), [a, dy]), &g) }
      case .reduceSum:
        accumulate(x[0], g.broadcast(dy, g.shape(x[0])), &g)
      case .reduceMax(let axes):
        // Tied maxima share the gradient evenly (as torch.amax and
        // TensorFlow's reduce_max): the subgradient still sums to dy. Giving
        // each tie all of dy multiplied it by the number of ties, which weight
        // clipping makes common in a maxout critic (equal clipped rows).
        let full = g.shape(x[0])
        let mask = g.binary(.equal, x[0], g.broadcast(y, full))
        let share = g.div(dy, g.sum(mask, axes: axes))
        accumulate(x[0], g.mul(g.broadcast(share, full), mask), &g)
      case .broadcast:
        let from = g.shape(x[0]), to = node.shape
        if from.isEmpty {
          accumulate(x[0], g.sumAll(dy), &g)
        } else {
          accumulate(x[0], g.sum(dy, axes: (0..<to.count).filter { from[$0] == 1 && to[$0] != 1 }), &g)
        }
      case .convert:
        accumulate(x[0], dy, &g)
      case .allReduce:
        // y = sum over ranks of x: each rank's x reaches every rank's y.
        accumulate(x[0], try g.add(.allReduce, [dy]), &g)
      case .reshape:
        accumulate(x[0], g.reshape(dy, g.shape(x[0])), &g)
      case .concat(let axis):
        var start = 0
        for a in x {
          let s = g.shape(a)
          if needed[a] { accumulate(a, try g.add(.slice(axis: axis, start: start), [dy], shape: s), &g) }
          start += s[axis]
        }
      case .slice(let axis, let start):
        accumulate(x[0], try g.add(.pad(axis: axis, before: start), [dy], shape: g.shape(x[0])), &g)
      case .pad(let axis, let before):
        accumulate(x[0], try g.add(.slice(axis: axis, start: before), [dy], shape: g.shape(x[0])), &g)
      case .gather:
        if needed[x[0]] { accumulate(x[0], try g.add(.scatterAdd, [dy, x[1]], shape: g.shape(x[0])), &g) }
      case .scatterAdd:
        if needed[x[0]] { accumulate(x[0], try g.add(.gather, [dy, x[1]]), &g) }
      case .fused:
        throw IRError("autodiff runs before fusion; %\(y) is already fused")
      case .input, .parameter, .constant, .random, .assign, .stopGradient:
        continue
      }
    }
    return wrt.map { w in adjoint[w] ?? g.constant(0, g.shape(w)) }
  }
}
