import Foundation
import GANCompiler

/// `RUN/report.html`: one self-contained page about a run, for people and
/// for sharing: the commands that made it, the spec, the compile summary,
/// the curves, the sample grids over time, the last metrics and the
/// evaluation. Every picture is inline (base64 PNG), and the page's content
/// security policy forbids any network request.
public enum RunReport {
  /// The sample grids shown at most (evenly spaced over the run, the last always).
  static let maxSamplePictures = 16

  /// Appends one invocation to `RUN/commands.txt` (the folder it ran in,
  /// then the command's words, `ganc` or `mpirun -np N ganc` first).
  public static func recordCommand(_ words: [String], run: String) {
    let directory = FileManager.default.currentDirectoryPath
    let line = "cd \(shellQuoted(directory)) && " + words.map(shellQuoted).joined(separator: " ") + "\n"
    let path = run + "/commands.txt"
    if let handle = FileHandle(forWritingAtPath: path) {
      handle.seekToEndOfFile()
      handle.write(Data(line.utf8))
      try? handle.close()
    } else {
      try? line.write(toFile: path, atomically: true, encoding: .utf8)
    }
  }

  static func shellQuoted(_ s: String) -> String {
    let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%")
    if !s.isEmpty && s.unicodeScalars.allSatisfy({ safe.contains($0) }) { return s }
    return "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  static func escaped(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
      .replacingOccurrences(of: "\"", with: "&quot;")
  }

  /// An inline picture of a PNG file, or nothing when it is missing.
  static func picture(_ path: String, alt: String) -> String? {
    guard let data = FileManager.default.contents(atPath: path), data.starts(with: [0x89, 0x50, 0x4E, 0x47]) else { return nil }
    return "<img alt=\"\(escaped(alt))\" src=\"data:image/png;base64,\(data.base64EncodedString())\">"
  }

  /// The sample pictures of the run, in step order (`final` last), thinned to `maxSamplePictures`.
  static func samplePictures(_ run: String) -> [(label: String, path: String)] {
    let folder = run + "/samples"
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).filter { $0.hasSuffix(".png") }
    let steps = names.compactMap { name -> (Int, String)? in
      guard name.hasPrefix("step-"), let step = Int(name.dropFirst(5).dropLast(4)) else { return nil }
      return (step, name)
    }.sorted { $0.0 < $1.0 }
    var chosen = steps
    if steps.count > maxSamplePictures - 1 {
      let k = maxSamplePictures - 1
      chosen = (0..<k).map { steps[($0 * (steps.count - 1)) / max(k - 1, 1)] }
    }
    var out = chosen.map { ("step \($0.0)", folder + "/" + $0.1) }
    if names.contains("final.png") { out.append(("end of training", folder + "/final.png")) }
    return out
  }

  /// Rows of a JSON report: nested keys joined with dots, lists of numbers shortened.
  static func rows(_ value: Any, prefix: String = "") -> [(String, String)] {
    switch value {
    case let d as [String: Any]:
      return d.keys.sorted().flatMap { rows(d[$0]!, prefix: prefix.isEmpty ? $0 : prefix + "." + $0) }
    case let a as [Any]:
      if a.allSatisfy({ $0 is [String: Any] }) {
        return a.enumerated().flatMap { rows($0.element, prefix: "\(prefix)[\($0.offset)]") }
      }
      let items = a.prefix(12).map { "\($0)" }.joined(separator: ", ")
      return [(prefix, "[" + items + (a.count > 12 ? ", ... (\(a.count))" : "") + "]")]
    case let n as NSNumber:
      let d = n.doubleValue
      return [(prefix, d == d.rounded() && abs(d) < 1e15 ? String(Int(d)) : String(format: "%.6g", d))]
    default:
      return [(prefix, "\(value)")]
    }
  }

  static func table(_ rows: [(String, String)]) -> String {
    "<table>" + rows.map { "<tr><th>\(escaped($0.0))</th><td>\(escaped($0.1))</td></tr>" }.joined() + "</table>"
  }

  /// The page of `trainer`'s run (its compiled model gives the summary).
  public static func html(_ trainer: Trainer) -> String {
    let run = trainer.runFolder, spec = trainer.checked.spec
    let fm = FileManager.default
    var body = "<h1>\(escaped(spec.name))</h1>\n"
    let kind = trainer.isClassifier ? "classifier" : "GAN"
    body +=
      "<p class=\"meta\">\(kind) run <code>\(escaped(run))</code>, at step \(trainer.step); report written "
      + "\(escaped(ISO8601DateFormatter().string(from: Date()))) by \(escaped(Trainer.compilerVersion)).</p>\n"

    body += "<h2>Reproduce</h2>\n"
    let commands = (try? String(contentsOfFile: run + "/commands.txt", encoding: .utf8))?.split(separator: "\n").map(String.init) ?? []
    let training = commands.filter { $0.contains(" ganc train ") }
    if training.isEmpty {
      body += "<pre>ganc train \(escaped(shellQuoted(run + "/spec.xml"))) --steps \(trainer.step) --out NEW-RUN</pre>\n"
    } else {
      body +=
        "<p>The commands that made this run, in order. Training is deterministic: run them again with a new folder for "
        + "<code>--out</code> (and the same for <code>--resume</code>) and they give the same weights.</p>\n"
      body += "<pre>" + training.map(escaped).joined(separator: "\n") + "</pre>\n"
    }
    body += "<p>Watch it in TensorBoard: <code>tensorboard --logdir \(escaped(shellQuoted(run)))</code>.</p>\n"

    body += "<h2>Curves</h2>\n"
    for (file, alt) in [("loss.png", "losses"), ("fd.png", "FD"), ("quality.png", "precision, recall, density, coverage")] {
      if let p = picture(run + "/" + file, alt: alt) { body += "<figure>\(p)<figcaption>\(file)</figcaption></figure>\n" }
    }
    if let text = try? String(contentsOfFile: run + "/metrics.csv", encoding: .utf8) {
      let lines = text.split(separator: "\n").map(String.init)
      if lines.count >= 2 {
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        let last = lines[lines.count - 1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        body += "<p>The last row of metrics.csv (\(lines.count - 1) steps):</p>\n" + table(zip(header, last).filter { !$0.1.isEmpty }.map { ($0.0, $0.1) }) + "\n"
      }
    }

    let samples = samplePictures(run)
    if !samples.isEmpty {
      body += "<h2>Samples over time</h2>\n<div class=\"grid\">\n"
      for (label, path) in samples {
        if let p = picture(path, alt: "samples, \(label)") { body += "<figure>\(p)<figcaption>\(escaped(label))</figcaption></figure>\n" }
      }
      body += "</div>\n"
    }

    body += "<h2>Evaluation</h2>\n"
    if let data = fm.contents(atPath: run + "/eval.json"), let json = try? JSONSerialization.jsonObject(with: data) {
      body += "<p>From <code>eval.json</code> (<code>ganc eval</code>):</p>\n" + table(rows(json)) + "\n"
    } else {
      body += "<p>Not evaluated yet: <code>ganc eval \(escaped(shellQuoted(run)))</code> measures the run and rewrites this page.</p>\n"
    }

    body += "<h2>Spec</h2>\n<pre>\(escaped(trainer.specText))</pre>\n"
    body += "<h2>Compiled</h2>\n<pre>\(escaped(CompileReport.summary(trainer.model)))</pre>\n"

    let files = ((try? fm.contentsOfDirectory(atPath: run)) ?? []).sorted().compactMap { name -> (String, String)? in
      guard let attributes = try? fm.attributesOfItem(atPath: run + "/" + name) else { return nil }
      if attributes[.type] as? FileAttributeType == .typeDirectory { return (name + "/", "") }
      return (name, CompileReport.bytes((attributes[.size] as? Int) ?? 0))
    }
    body += "<h2>Files</h2>\n" + table(files) + "\n"

    return """
      <!DOCTYPE html>
      <html lang="en">
      <head>
      <meta charset="utf-8">
      <meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
      <title>\(escaped(spec.name)): ganc run report</title>
      <style>
      body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
      h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
      .meta { color: #666; } pre { background: #f6f8fa; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
      table { border-collapse: collapse; font-size: 0.9em; } th, td { border: 1px solid #ddd; padding: 0.2em 0.6em; text-align: left; }
      th { background: #f6f8fa; font-weight: normal; font-family: monospace; }
      figure { display: inline-block; margin: 0.5em; vertical-align: top; } figcaption { text-align: center; color: #555; font-size: 0.9em; }
      img { max-width: 100%; image-rendering: pixelated; }
      .grid { display: flex; flex-wrap: wrap; align-items: flex-start; }
      </style>
      </head>
      <body>
      \(body)
      <script>
      // Marks the page once every picture has decoded (tests read it headless).
      window.addEventListener("load", () => {
        const images = Array.from(document.images);
        const shown = images.filter(i => i.complete && i.naturalWidth > 0).length;
        document.body.setAttribute("data-images", shown + " of " + images.length);
      });
      </script>
      </body>
      </html>

      """
  }

  /// Writes `RUN/report.html` (atomically).
  public static func write(_ trainer: Trainer) throws {
    try writeAtomically(Data(html(trainer).utf8), to: trainer.runFolder + "/report.html", what: "the report")
  }
}
