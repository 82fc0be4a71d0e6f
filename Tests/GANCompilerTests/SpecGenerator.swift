import Foundation
import GANTestSupport
import GANIR
import Testing
@testable import GANCompiler
@testable import GANSpec

/// A seeded generator of valid specs: MLPs on 2-D data and small
/// convolutional nets on 1x8x8 images, with every layer kind mixed in.
struct SpecGenerator {
  var state: UInt64
  mutating func int(_ n: Int) -> Int { state &+= 1; return Int(CounterRandom.mix(state) % UInt64(n)) }
  mutating func pick(_ a: [String]) -> String { a[int(a.count)] }

  mutating func activation() -> String {
    pick([
      "", " activation=\"relu\"", " activation=\"leaky-relu\" slope=\"0.1\"", " activation=\"tanh\"", " activation=\"elu\"", " activation=\"gelu\"", " activation=\"silu\"", " activation=\"softplus\"",
      " activation=\"sigmoid\"",
    ])
  }

  mutating func hidden() -> String {
    var out = ""
    for _ in 0..<(1 + int(3)) {
      let units = 2 + int(7)
      switch int(7) {
      case 0: out += "<dense units=\"\(units)\" bias=\"false\"/><batchnorm/><activation kind=\"relu\"/>"
      case 1: out += "<maxout units=\"\(units)\" pieces=\"\(2 + int(2))\"/>"
      case 2: out += "<dense units=\"\(units)\"\(activation())/><dropout rate=\"0.25\"/>"
      case 3: out += "<dense units=\"\(units)\"/><layernorm/><activation kind=\"tanh\"/>"
      case 4:
        // A skip connection around one layer: the add reads the product's own input.
        state &+= 1
        let n = state
        out += "<dense id=\"p\(n)\" units=\"\(units)\"/><dense id=\"q\(n)\" units=\"\(units)\"\(activation())/><add inputs=\"p\(n) q\(n)\"/>"
      case 5:
        state &+= 1
        let n = state
        out += "<dense id=\"p\(n)\" units=\"\(units)\"/><dense id=\"q\(n)\" units=\"\(2 + int(3))\"\(activation())/><concat inputs=\"q\(n) p\(n)\"/>"
      default: out += "<dense units=\"\(units)\"\(activation())/>"
      }
    }
    return out
  }

  mutating func spec() -> (String, Bool) {
    let loss = pick(["non-saturating", "minimax", "least-squares", "hinge", "wasserstein", "wasserstein-gp"])
    let optimizer = pick(["kind=\"adam\" lr=\"1e-3\"", "kind=\"sgd\" lr=\"0.1\" momentum=\"0.9\"", "kind=\"rmsprop\" lr=\"1e-3\" momentum=\"0.5\"", "kind=\"sgd\" lr=\"0.1\""])
    let image = int(3) == 0
    let g: String, d: String, data: String
    if image {
      data = "<data source=\"npy\" path=\"img.npy\"/>"
      g =
        "<dense units=\"\(8 * (1 + int(2)) * 16)\"/><reshape shape=\"\(8 * (1 + int(1))) 4 4\"/>".replacingOccurrences(of: "units=\"256\"", with: "units=\"128\"")
        + "<deconv2d filters=\"3\" kernel=\"4\" stride=\"2\" padding=\"1\"\(activation())/><conv2d filters=\"1\" kernel=\"3\" padding=\"same\" activation=\"tanh\"/>"
      d = "<conv2d filters=\"4\" kernel=\"4\" stride=\"2\" padding=\"1\" activation=\"leaky-relu\"/><conv2d filters=\"4\" kernel=\"3\"\(activation())/><flatten/><dense units=\"1\"/>"
    } else {
      data = "<data source=\"ring\"/>"
      g = hidden() + "<dense units=\"2\"/>"
      d = hidden().replacingOccurrences(of: "<batchnorm/>", with: loss == "wasserstein-gp" ? "<layernorm/>" : "<batchnorm/>") + "<dense units=\"1\"/>"
    }
    let extra = loss == "wasserstein" ? " clip=\"0.5\"" : ""
    let ema = int(2) == 0 ? " ema=\"0.9\"" : ""
    return (
      """
      <gan name="gen" version="1">
        \(data)
        <latent size="\(2 + int(4))"/>
        <generator>\(g)</generator>
        <discriminator>\(d)</discriminator>
        <training steps="1" batch="\(1 + int(4) + (image ? 0 : 1))" loss="\(loss)" d-steps="\(1 + int(2))"\(extra)\(ema)>
          <optimizer net="generator" \(optimizer)/>
          <optimizer net="discriminator" \(optimizer)/>
        </training>
      </gan>
      """, image
    )
  }
}

func generatedSpecs(_ count: Int) -> [(String, Bool)] {
  var gen = SpecGenerator(state: 2026)
  return (0..<count).map { _ in gen.spec() }
}
