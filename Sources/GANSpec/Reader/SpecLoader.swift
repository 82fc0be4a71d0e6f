import Foundation
import GANDiagnostics

/// Reads spec files from disk: refuses unreadable, empty, binary and oversized
/// files, parses safely, validates against the schema, resolves `src=` files
/// (with missing-file and cycle errors) and builds the typed `Spec`.
public struct SpecLoader {
  /// The largest spec or layer file read (specs are a few kilobytes).
  public static let maximumFileSize = 8 << 20

  /// Every file read, for rendering source lines under diagnostics.
  public let sources: SourceStore
  public private(set) var diagnostics: [Diagnostic] = []
  /// Files read so far, in order (the spec first).
  public private(set) var files: [String] = []

  public init(sources: SourceStore = SourceStore()) { self.sources = sources }

  /// Why a file could not be read as text.
  enum ReadFailure: Error {
    case diagnostic(Diagnostic)
  }

  /// Reads `path` as UTF-8 text, refusing what no spec can be.
  static func readText(_ path: String, at reference: SourceLocation?) -> Result<String, ReadFailure> {
    let where_ = reference ?? .file(path)
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      return .failure(.diagnostic(.error(
        reference == nil ? .fileUnreadable : .srcMissing, "no such file: \(path)", at: where_,
        help: reference == nil ? "check the path" : "paths in src= are relative to the spec's folder")))
    }
    guard !isDirectory.boolValue else {
      return .failure(.diagnostic(.error(.fileUnreadable, "\(path) is a folder, not a file", at: where_,
        help: "name a spec file")))
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
      return .failure(.diagnostic(.error(.fileUnreadable, "cannot read \(path)", at: where_,
        help: "check the file's permissions")))
    }
    defer { try? handle.close() }
    let data = (try? handle.read(upToCount: maximumFileSize + 1)) ?? Data()
    if data.count > maximumFileSize {
      return .failure(.diagnostic(.error(.fileTooLarge, "\(path) is larger than \(maximumFileSize >> 20) MiB, too large for a spec",
        at: where_, help: "a spec is a few kilobytes of XML; is this the right file?")))
    }
    if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
      return .failure(.diagnostic(.error(.fileEmpty, "\(path) is empty", at: .file(path),
        help: "a spec starts with <gan name=\"...\" version=\"1\">; see `ganc schema`")))
    }
    if data.contains(0) || String(data: data, encoding: .utf8) == nil {
      let utf16 = data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF])
      return .failure(.diagnostic(.error(.fileNotText, "\(path) is not UTF-8 text", at: .file(path),
        help: utf16 ? "save the file as UTF-8" : "a spec is an XML text file; is this the right file?")))
    }
    return .success(String(decoding: data, as: UTF8.self))
  }

  /// Reads, parses and validates one XML file; nil after reporting why not.
  private mutating func parse(_ path: String, at reference: SourceLocation?) -> ParsedXML? {
    switch Self.readText(path, at: reference) {
    case .failure(.diagnostic(let d)):
      diagnostics.append(d)
      return nil
    case .success(let text):
      sources.add(file: path, text: text)
      files.append(path)
      let (parsed, errors) = SafeXMLParser.parse(text: text, file: path)
      diagnostics += errors
      return parsed
    }
  }

  /// Loads the spec at `path`, resolving its relative paths from `baseDirectory`
  /// (default: the spec's own folder). Returns nil when it could not be read
  /// into a `Spec`; `diagnostics` says why (and holds warnings either way).
  public mutating func load(_ path: String, baseDirectory: String? = nil) -> Spec? {
    guard let parsed = parse(path, at: nil) else { return nil }
    var schemaErrors = parsed.validate(against: XSDWriter.compiled!)
    var stack = [canonicalPath(path)]
    var loaded: [ParsedXML] = [parsed]
    var reader = SpecReader(file: path, directory: baseDirectory) { _, _ in nil }
    let directory = reader.directory
    // Networks named by src= are read recursively, each relative to its own folder.
    var loadNetwork: ((String, String, SourceLocation) -> [Layer]?)!
    var srcDiagnostics: [Diagnostic] = []
    loadNetwork = { [sources] src, base, reference in
      let resolved = src.hasPrefix("/") || base.isEmpty ? src : base + "/" + src
      let key = canonicalPath(resolved)
      if let index = stack.firstIndex(of: key) {
        srcDiagnostics.append(.error(.srcCycle, "src=\"\(src)\" leads back to \(resolved), making a cycle", at: reference,
          notes: stack[index...].map { DiagnosticNote("\($0) is on the cycle") },
          help: "put the layers in one file and name it from the others"))
        return nil
      }
      var inner = SpecLoader(sources: sources)
      guard let doc = inner.parse(resolved, at: reference) else {
        srcDiagnostics += inner.diagnostics
        return nil
      }
      loaded.append(doc)
      schemaErrors += doc.validate(against: XSDWriter.compiled!)
      guard doc.root.name == "network" else {
        srcDiagnostics.append(.error(.srcWrongRoot, "the root of \(resolved) is <\(doc.root.name)>, not <network>",
          at: doc.root.location, help: "a layer file's root is <network> holding the layers"))
        return nil
      }
      stack.append(key)
      defer { stack.removeLast() }
      let folder = (resolved as NSString).deletingLastPathComponent
      var networkReader = SpecReader(file: resolved) { s, l in loadNetwork(s, folder, l) }
      let r = AttributeReader(doc.root, SpecSchema.networkFile)
      srcDiagnostics += r.diagnostics
      var layers = networkReader.readLayers(doc.root)
      if let nested = r.raw("src") {
        if !doc.root.children.isEmpty {
          srcDiagnostics.append(.error(.srcAndInline, "<network> has both src=\"\(nested)\" and layers of its own",
            at: r.location("src"), help: "keep the layers in one place"))
        } else {
          layers = loadNetwork(nested, folder, r.location("src")) ?? []
        }
      }
      srcDiagnostics += networkReader.diagnostics
      return layers
    }
    reader = SpecReader(file: path, directory: baseDirectory) { src, reference in loadNetwork(src, directory, reference) }
    let spec = reader.readSpec(parsed.root)
    let structural = reader.diagnostics + srcDiagnostics
    diagnostics += structural
    // Our own checks say the same as the schema, with better words and a fix;
    // schema errors are shown only when those found nothing.
    if !structural.hasErrors { diagnostics += schemaErrors }
    _ = loaded
    return diagnostics.hasErrors ? nil : spec
  }
}

/// A path made absolute (against the current directory) and standardised:
/// for src= cycle detection and for recording where a spec lives.
public func canonicalPath(_ path: String) -> String {
  let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  return (absolute as NSString).standardizingPath
}
