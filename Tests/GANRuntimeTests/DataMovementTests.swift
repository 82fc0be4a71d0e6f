import CKernels
import Testing
@testable import GANRuntime

@Suite("NCHW and nChw16c conversions")
struct LayoutConversionTests {
  @Test("every element lands where the layouts say, both ways, for pixel counts around the 16-pixel register transpose", arguments: [1, 15, 16, 17, 35, 49, 196])
  func roundTrip(_ hw: Int) {
    let n = 3, c = 32, count = n * c * hw
    let plain = (0..<count).map { Float($0) }
    var blocked = [Float](repeating: -1, count: count), back = [Float](repeating: -1, count: count)
    ganc_nchw_blocks(plain, &blocked, Int64(c), Int64(hw), 0, Int64(n * c / 16), 1)
    ganc_nchw_blocks(blocked, &back, Int64(c), Int64(hw), 0, Int64(n * c / 16), 0)
    var misplaced = 0
    for i in 0..<n {
      for ch in 0..<c {
        for p in 0..<hw where blocked[((i * (c / 16) + ch / 16) * hw + p) * 16 + ch % 16] != plain[(i * c + ch) * hw + p] { misplaced += 1 }
      }
    }
    #expect(misplaced == 0, "hw \(hw): \(misplaced) elements misplaced in nChw16c")
    #expect(back == plain, "hw \(hw): the round trip changed the tensor")
  }
}

@Suite("Operand reads of the elementwise loop")
struct OperandReadTests {
  /// Runs the one-instruction program `load 0` over first..<end with `source`
  /// as operand 0, tile by tile, and returns what each element read.
  func reads(_ source: ganc_ew_source, first: Int, end: Int, count: Int, tile: Int) -> [Float] {
    var source = source
    source.reg = 0
    var code = [ganc_ew_instruction()]
    code[0].kind = Int32(GANC_EW_SET)
    var out = [Float](repeating: .nan, count: count)
    var scratch = [Float](repeating: 0, count: 2 * tile)
    out.withUnsafeMutableBufferPointer { o in
      scratch.withUnsafeMutableBufferPointer { s in
        ganc_ew_run(&code, 1, &source, 1, nil, 0, nil, nil, o.baseAddress, Int64(first), Int64(end), s.baseAddress, Int64(tile), 1)
      }
    }
    return Array(out[first..<end])
  }

  @Test("broadcasts and per-channel nChw16c operands read the right element from any start, across tiles and runs")
  func cursors() {
    let values = (0..<4096).map { Float($0) }
    values.withUnsafeBufferPointer { v in
      /// Operand 0 read as `pattern`, described the way the kernel describes it to C.
      func source(_ pattern: LoadPattern) -> ganc_ew_source {
        ElementwiseKernel.source(register: 0, .load(0), patterns: [pattern], operands: [UnsafeMutablePointer(mutating: v.baseAddress!)])!
      }
      // A [6, 5, 7] operand broadcast as [6, 1, 7] over [6, 5, 7] (strides [7, 0, 1]), and as [1, 5, 1] (strides [0, 1, 0]).
      let cases: [([Int], [Int])] = [([6, 5, 7], [7, 0, 1]), ([6, 5, 7], [0, 1, 0]), ([210], [1]), ([30, 7], [0, 1]), ([30, 7], [1, 0])]
      for (shape, strides) in cases {
        let s = source(.broadcast(shape: shape, strides: strides))
        let count = shape.reduce(1, *)
        func expected(_ i: Int) -> Float {
          var rest = i, offset = 0
          for d in (0..<shape.count).reversed() {
            offset += (rest % shape[d]) * strides[d]
            rest /= shape[d]
          }
          return values[offset]
        }
        let ranges: [(Int, Int, Int)] = [(0, count, 256), (3, count, 16), (17, 200, 5), (100, 101, 7), (0, count, 1)]
        for (first, end, tile) in ranges {
          let got = reads(s, first: first, end: end, count: count, tile: tile)
          #expect(got == (first..<end).map(expected), "shape \(shape) strides \(strides) from \(first) to \(end), tile \(tile)")
        }
      }
      // Per-channel operand of an [3, 32, 5, 7] nChw16c domain: 2 channel blocks of 35 pixels.
      let s = source(.blockedChannels(hw: 35, blocks: 2))
      let count = 3 * 32 * 35
      let ranges: [(Int, Int, Int)] = [(0, count, 256), (5, count, 16), (561, 2000, 33), (1119, 1121, 3)]
      for (first, end, tile) in ranges {
        let got = reads(s, first: first, end: end, count: count, tile: tile)
        let expected = (first..<end).map { (i: Int) -> Float in
          let block = (i / (16 * 35)) % 2
          return values[16 * block + i % 16]
        }
        #expect(got == expected, "nChw16c channels from \(first) to \(end), tile \(tile)")
      }
    }
  }
}
