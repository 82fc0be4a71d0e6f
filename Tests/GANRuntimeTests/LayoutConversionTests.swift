import CKernels
import Testing

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
