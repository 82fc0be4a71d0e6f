import Foundation
import Testing
@testable import GANTrainer

@Suite("Plots people can read")
struct PlotTests {
  @Test("ticks are round numbers 1, 2 or 5 times a power of ten apart, covering the range")
  func ticks() {
    #expect(Plots.ticks(0, 1000) == [0, 200, 400, 600, 800, 1000])
    #expect(Plots.ticks(-0.37, 2.9) == [0, 1, 2])
    #expect(Plots.ticks(1, 300, count: 6) == [50, 100, 150, 200, 250, 300])
    let small = Plots.ticks(0.0012, 0.0049)
    #expect(small.count >= 3 && small.allSatisfy { $0 >= 0.0012 && $0 <= 0.0049 })
    #expect(Plots.ticks(2, 2) == [2])
    #expect(Plots.label(2000) == "2000" && Plots.label(0.25) == "0.25" && Plots.label(-1.5) == "-1.5" && Plots.label(0.0001) == "0.0001")
  }

  @Test("every character of a tick, a legend or a title has a glyph, and text stays in its box")
  func text() {
    for c in "0123456789.-+e ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz(),:/%=_'" {
      #expect(Font.glyphs[Character(c.uppercased())] != nil, "no glyph for \(c)")
      #expect(Font.glyph(c).count == Font.height)
    }
    var canvas = Canvas(width: 40, height: 12)
    canvas.text("10", x: 1, y: 1)
    var inked: [(Int, Int)] = []
    for y in 0..<12 { for x in 0..<40 where canvas.pixels[3 * (y * 40 + x)] == 0 { inked.append((x, y)) } }
    #expect(!inked.isEmpty)
    #expect(inked.allSatisfy { $0.0 >= 1 && $0.0 < 1 + Font.width("10") && $0.1 >= 1 && $0.1 < 1 + Font.height })
  }

  @Test("a titled sample grid says its step in a strip above the images")
  func gridTitle() {
    let samples = [Float](repeating: 0, count: 4 * 16)
    let plain = Plots.imageGrid(samples, shape: [1, 4, 4], count: 4)
    let titled = Plots.imageGrid(samples, shape: [1, 4, 4], count: 4, title: "step 5")
    #expect(titled.height == plain.height + 14 && titled.width == plain.width)
    // Light text on the dark strip.
    #expect((0..<(14 * titled.width)).contains { titled.pixels[3 * $0] > 200 })
  }

  @Test("loss curves have tick labels on both axes and a legend")
  func curves() {
    let d: [(Double, Double)] = (0..<100).map { i in (Double(i), 1 + 0.5 * Foundation.sin(Double(i) / 10)) }
    let canvas = Plots.curves([d], colours: [(31, 119, 180)], names: ["D loss"], title: "t")
    // Dark label pixels left of the plot frame (the value ticks) and below it (the step ticks).
    let dark = { (x: Int, y: Int) in canvas.pixels[3 * (y * canvas.width + x)] < 60 }
    #expect((30..<320).contains { y in (0..<56).contains { x in dark(x, y) } })
    #expect(((canvas.height - 38)..<(canvas.height - 2)).contains { y in (70..<700).contains { x in dark(x, y) } })
  }
}
