import GANCompiler
import GANIR
import GANRuntime
import Testing
@testable import GANTrainer

@Suite("DiffAugment's draws")
struct AugmentationTests {
  func draw(_ d: ProgramInput.AugmentationDraw, _ shape: [Int], stream: Int) -> [Float] {
    var values = [Float](repeating: -7, count: shape.reduce(1, *))
    values.withUnsafeMutableBufferPointer {
      ProgramFeeder.fillAugmentation($0, d, shape: shape, SeededStream(seed: 3, RandomStream(.augmentation, stream)))
    }
    return values
  }

  @Test("colour factors lie in DiffAugment's ranges and repeat for the same stream only")
  func colour() {
    let b = draw(.brightness, [500, 1, 1, 1], stream: 1), s = draw(.saturation, [500, 1, 1, 1], stream: 2), c = draw(.contrast, [500, 1, 1, 1], stream: 3)
    #expect(b.allSatisfy { $0 >= -0.5 && $0 < 0.5 } && s.allSatisfy { $0 >= 0 && $0 < 2 } && c.allSatisfy { $0 >= 0.5 && $0 < 1.5 })
    #expect(b.min()! < -0.4 && b.max()! > 0.4)
    #expect(draw(.brightness, [500, 1, 1, 1], stream: 1) == b)
    #expect(draw(.brightness, [500, 1, 1, 1], stream: 9) != b)
  }

  @Test("shifts are one-hot over -s...s, every shift drawn")
  func shifts() {
    let width = 2 * TrainingGraphBuilder.shiftRange(28) + 1
    #expect(width == 9)
    let v = draw(.shiftRows, [900, width], stream: 4)
    var seen = Set<Int>()
    for i in 0..<900 {
      let row = Array(v[(i * width)..<((i + 1) * width)])
      #expect(row.filter { $0 == 1 }.count == 1 && row.filter { $0 == 0 }.count == width - 1)
      seen.insert(row.firstIndex(of: 1)!)
    }
    #expect(seen.count == width)
  }

  @Test("cut-outs are one rectangle of at most half the sides, zero inside and one outside")
  func cutout() {
    let (n, h, w) = (200, 28, 28)
    let side = TrainingGraphBuilder.cutoutSize(h)
    #expect(side == 14)
    let v = draw(.cutout, [n, 1, h, w], stream: 5)
    var full = 0
    for i in 0..<n {
      let zeros = (0..<(h * w)).filter { v[i * h * w + $0] == 0 }
      #expect(v[(i * h * w)..<((i + 1) * h * w)].allSatisfy { $0 == 0 || $0 == 1 })
      let rows = Set(zeros.map { $0 / w }), cols = Set(zeros.map { $0 % w })
      #expect(!zeros.isEmpty && zeros.count == rows.count * cols.count, "sample \(i): not a rectangle")
      #expect(rows.count <= side && cols.count <= side && rows.max()! - rows.min()! == rows.count - 1)
      if zeros.count == side * side { full += 1 }
    }
    // About (15/29)^2 of the squares lie wholly inside the image; the rest are clipped.
    #expect(full > n / 8 && full < n / 2)
  }
}
