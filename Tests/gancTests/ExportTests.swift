import Foundation
import GANData
import GANTestSupport
import GANTrainer
import Testing

/// The fields of one protocol-buffer message: (field, wire type, value or bytes).
private func fields(_ bytes: ArraySlice<UInt8>) -> [(field: Int, varint: UInt64, bytes: ArraySlice<UInt8>)] {
  var out: [(Int, UInt64, ArraySlice<UInt8>)] = []
  var i = bytes.startIndex
  func varint() -> UInt64 {
    var v: UInt64 = 0, shift: UInt64 = 0
    while true {
      let b = bytes[i]
      i += 1
      v |= UInt64(b & 0x7F) << shift
      if b & 0x80 == 0 { return v }
      shift += 7
    }
  }
  while i < bytes.endIndex {
    let key = varint()
    switch key & 7 {
    case 0: out.append((Int(key >> 3), varint(), []))
    case 1: out.append((Int(key >> 3), 0, bytes[i..<(i + 8)])); i += 8
    case 5: out.append((Int(key >> 3), 0, bytes[i..<(i + 4)])); i += 4
    default:
      let n = Int(varint())
      out.append((Int(key >> 3), 0, bytes[i..<(i + n)]))
      i += n
    }
  }
  return out
}

private func text(_ b: ArraySlice<UInt8>) -> String { String(decoding: b, as: UTF8.self) }

@Suite("ganc export and ganc sample --noise")
struct ExportTests {
  @Test("the ONNX model says opset 17, IR 8, input z [batch, latent], output samples [batch, 2], and only ONNX operators")
  func onnxStructure() throws {
    let (folder, run, code) = trainedRun(ringSpec(steps: 10, threads: 1, checkpointEvery: 10))
    #expect(code == 0)
    let exported = runGanc(["export", run])
    #expect(exported.code == 0, "\(exported.err)")
    #expect(exported.out.contains("inputs: z [batch, 4] float32") && exported.out.contains("outputs: samples [batch, 2] float32"), "\(exported.out)")
    let model = [UInt8](try Data(contentsOf: URL(fileURLWithPath: run + "/generator.onnx")))[...]
    let top = fields(model)
    #expect(top.first { $0.field == 1 }?.varint == 8)
    let opset = try #require(top.first { $0.field == 8 })
    #expect(fields(opset.bytes).first { $0.field == 2 }?.varint == 17)
    let graph = fields(try #require(top.first { $0.field == 7 }).bytes)
    let ops = Set(graph.filter { $0.field == 1 }.compactMap { n in fields(n.bytes).first { $0.field == 4 }.map { text($0.bytes) } })
    // Two dense layers with ReLU and a linear one: products, bias additions, activations.
    #expect(ops.isSubset(of: ["Gemm", "Add", "Relu", "Identity", "Shape", "Slice", "Concat", "Expand"]), "\(ops)")
    #expect(ops.contains("Gemm") && ops.contains("Relu"))
    func valueInfo(_ field: Int) -> (String, [String]) {
      let v = fields(graph.first { $0.field == field }!.bytes)
      let tensor = fields(fields(v.first { $0.field == 2 }!.bytes)[0].bytes)
      let dims = fields(tensor.first { $0.field == 2 }!.bytes).map { d -> String in
        let f = fields(d.bytes)[0]
        return f.field == 2 ? text(f.bytes) : String(f.varint)
      }
      return (text(v.first { $0.field == 1 }!.bytes), dims)
    }
    #expect(valueInfo(11) == ("z", ["batch", "4"]))
    #expect(valueInfo(12) == ("samples", ["batch", "2"]))
    // The initializers hold G's weights: 4*32 + 32 + 32*32 + 32 + 32*2 + 2 numbers, and a few shape constants.
    let floats = graph.filter { $0.field == 5 }.map { fields($0.bytes) }.filter { t in t.first { $0.field == 2 }?.varint == 1 }
    let count = floats.reduce(0) { n, t in n + t.first { $0.field == 9 }!.bytes.count / 4 }
    #expect(count == 4 * 32 + 32 + 32 * 32 + 32 + 32 * 2 + 2)
  }

  @Test("safetensors export: G's state_dict names, EMA weights in place of the live ones, --step picks a kept checkpoint")
  func safetensors() throws {
    let text = ringSpec(steps: 20, extra: "ema=\"0.9\"", threads: 1, checkpointEvery: 10).replacingOccurrences(of: "<output ", with: "<output keep=\"2\" ")
    let (folder, run, code) = trainedRun(text)
    #expect(code == 0)
    let at10 = folder.appendingPathComponent("g10.safetensors").path, at20 = folder.appendingPathComponent("g20.safetensors").path
    #expect(runGanc(["export", run, "--format", "safetensors", "--step", "10", "--out", at10]).code == 0)
    #expect(runGanc(["export", run, "--format", "safetensors", "--out", at20]).code == 0)
    let g10 = try Checkpoint.read(at10), g20 = try Checkpoint.read(at20)
    let checkpoint10 = try Checkpoint.read(Trainer.historyPath(run: run, step: 10))
    #expect(g10.tensors.map(\.name).sorted() == ["0.bias", "0.weight", "1.bias", "1.weight", "2.bias", "2.weight"])
    #expect(g10.metadata["ganc.step"] == "10" && g20.metadata["ganc.step"] == "20")
    for t in g10.tensors {
      #expect(t.values == checkpoint10.tensor("ema.generator." + t.name))
      #expect(t.values != checkpoint10.tensor("generator." + t.name))
    }
    #expect(g10.tensors[0].values != g20.tensors[0].values)
    let missing = runGanc(["export", run, "--step", "5"])
    #expect(missing.code != 0 && missing.err.contains("10, 20"), "\(missing.err)")
  }

  @Test("ganc sample --noise uses the given noise (the same rows give the same samples), --save-noise writes what it drew; bad noise or labels are errors")
  func givenNoise() throws {
    let (folder, run, code) = trainedRun(ringSpec(steps: 10, threads: 1, checkpointEvery: 10))
    #expect(code == 0)
    let z: [Float] = (0..<12).map { Float($0) / 6 - 1 }
    let noise = folder.appendingPathComponent("z.npy").path
    try NPYWriter.write(z + z, shape: [6, 4], to: noise)
    let out = folder.appendingPathComponent("s.npy").path
    let sampled = runGanc(["sample", run, "--noise", noise, "--format", "npy", "--out", out])
    #expect(sampled.code == 0 && sampled.out.contains("wrote 6 samples"), "\(sampled.err)")
    let stored = try NPY.read(out, sampleSize: 2)
    let values = (0..<12).map { stored.element($0) }
    #expect(Array(values[0..<6]) == Array(values[6..<12]))
    #expect(Set(values).count > 1)
    let narrow = folder.appendingPathComponent("narrow.npy").path
    try NPYWriter.write(z, shape: [4, 3], to: narrow)
    let bad = runGanc(["sample", run, "--noise", narrow, "--format", "npy"])
    #expect(bad.code == 2 && bad.err.contains("narrow.npy") && bad.err.contains("sample size 4"), "\(bad.err)")
    // --save-noise writes the drawn noise; fed back with --noise it gives the same samples.
    let saved = folder.appendingPathComponent("saved.npy").path, drawn = folder.appendingPathComponent("drawn.csv").path
    let again = folder.appendingPathComponent("again.csv").path
    #expect(runGanc(["sample", run, "-n", "70", "--seed", "4", "--format", "csv", "--out", drawn, "--save-noise", saved]).code == 0)
    #expect(try NPY.read(saved, sampleSize: 4).header.shape == [70, 4])
    #expect(runGanc(["sample", run, "--noise", saved, "--format", "csv", "--out", again]).code == 0)
    #expect(try String(contentsOfFile: drawn, encoding: .utf8) == String(contentsOfFile: again, encoding: .utf8))
    let labels = runGanc(["sample", run, "--noise", noise, "--labels", noise])
    #expect(labels.code == 2 && labels.err.contains("not conditional"), "\(labels.err)")
  }
}
