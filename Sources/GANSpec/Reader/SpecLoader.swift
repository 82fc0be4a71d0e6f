import Foundation
import GANData
import GANDiagnostics

/// Reads spec files from disk: refuses unreadable, empty, binary, oversized
/// and non-regular files, parses safely, validates against the schema,
/// resolves `src=` files (confined to the spec's folder tree, with
/// missing-file and cycle errors) and builds the typed `Spec`.
///
/// A diagnostic quotes lines only of files that are specs: the file the user
/// named when it is XML-looking, and layer files that parsed as `<network>`.
/// Anything else (a `src=` naming a token file, say) is reported by location
/// alone, so lint output shown to others reveals nothing of it.
public struct SpecLoader {
  /// The largest spec or layer file read (specs are a few kilobytes).
  public static let maximumFileSize = 8 << 20

  /// Every file read, for rendering source lines under diagnostics.
  public let sources: SourceStore
  public private(set) var diagnostics: [Diagnostic] = []
  /// Files read so far, in order (the spec first).
  public private(set) var files: [String] = []
  /// Folders (besides the spec's own tree) that includes may come from.
  public let allowedFolders: [String]

  public init(sources: SourceStore = SourceStore(), allowedFolders: [String] = []) {
    self.sources = sources
    self.allowedFolders = allowedFolders
  }

  /// Why a file could not be read as text.
  enum ReadFailure: Error {
    case diagnostic(Diagnostic)
  }

  /// Reads `path` as UTF-8 text, refusing what no spec can be. A device,
  /// FIFO, socket or kernel file (/proc, /sys, /dev) is refused from its
  /// metadata, without reading a byte (opening does not block on a FIFO).
  static func readText(_ path: String, at reference: SourceLocation?) -> Result<String, ReadFailure> {
    let where_ = reference ?? .file(path)
    func failure(_ id: DiagnosticID, _ message: String, help: String) -> Result<String, ReadFailure> {
      .failure(.diagnostic(.error(id, message, at: where_, help: help)))
    }
    switch FileCheck.regularFile(path) {
    case .missing:
      return failure(
        reference == nil ? .fileUnreadable : .srcMissing, "no such file: \(path)",
        help: reference == nil ? "check the path" : "paths in src= are relative to the file that names them")
    case .folder:
      return failure(.fileUnreadable, "\(path) is a folder, not a file", help: "name a spec file")
    case .notRegular(let what):
      return failure(
        .fileNotRegular, "\(path) is \(what), not a regular file; it was not read",
        help: "name a spec file saved on disk")
    case .unreadable:
      return failure(.fileUnreadable, "cannot read \(path)", help: "check the file's permissions")
    case .regular(let handle):
      defer { try? handle.close() }
      let data = (try? handle.read(upToCount: maximumFileSize + 1)) ?? Data()
      if data.count > maximumFileSize {
        return failure(
          .fileTooLarge, "\(path) is larger than \(maximumFileSize >> 20) MiB, too large for a spec",
          help: "a spec is a few kilobytes of XML; is this the right file?")
      }
      if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
        return .failure(
          .diagnostic(
            .error(
              .fileEmpty, "\(path) is empty", at: .file(path),
              help: "a spec starts with <gan name=\"...\" version=\"1\">; see `ganc schema`")))
      }
      if data.contains(0) || String(data: data, encoding: .utf8) == nil {
        let utf16 = data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF])
        return .failure(
          .diagnostic(
            .error(
              .fileNotText, "\(path) is not UTF-8 text", at: .file(path),
              help: utf16 ? "save the file as UTF-8" : "a spec is an XML text file; is this the right file?")))
      }
      return .success(String(decoding: data, as: UTF8.self))
    }
  }

  /// Whether text that failed to parse still looks like a spec someone is
  /// writing (so its lines may be quoted): it opens with an XML declaration,
  /// a comment, a doctype or `<gan`.
  static func looksLikeSpec(_ text: String) -> Bool {
    var t = Substring(text)
    if t.hasPrefix("\u{FEFF}") { t = t.dropFirst() }
    t = t.drop { $0.isWhitespace }
    return ["<?xml", "<!--", "<!DOCTYPE", "<gan", "<classifier"].contains { t.hasPrefix($0) }
  }

  /// Reads, parses and validates one XML file; nil after reporting why not.
  /// Its lines become quotable only when `quotable` says the parse is a spec.
  fileprivate mutating func parse(_ path: String, at reference: SourceLocation?, quotable: (ParsedXML?, String) -> Bool) -> ParsedXML? {
    switch Self.readText(path, at: reference) {
    case .failure(.diagnostic(let d)):
      diagnostics.append(d)
      return nil
    case .success(let text):
      files.append(path)
      let (parsed, errors) = SafeXMLParser.parse(text: text, file: path)
      if quotable(parsed, text) { sources.add(file: path, text: text) }
      diagnostics += errors
      return parsed
    }
  }

  /// Loads the spec at `path`, resolving its relative paths from `baseDirectory`
  /// (default: the spec's own folder). Returns nil when it could not be read
  /// into a `Spec`; `diagnostics` says why (and holds warnings either way).
  public mutating func load(_ path: String, baseDirectory: String? = nil) -> Spec? {
    let top = parse(path, at: nil) { parsed, text in parsed.map { ["gan", "classifier"].contains($0.root.name) } ?? Self.looksLikeSpec(text) }
    guard let parsed = top else { return nil }
    let schemaErrors = parsed.validate(against: XSDWriter.compiled!)
    var reader = SpecReader(file: path, directory: baseDirectory) { _, _, _ in nil }
    let directory = reader.directory
    // Includes stay inside the folder tree the spec's relative paths start from.
    let includes = IncludeLoader(
      sources: sources, spec: path, tree: directory, allowed: allowedFolders, schemaErrors: schemaErrors)
    reader = SpecReader(file: path, directory: baseDirectory) { [includes] src, reference, blocks in
      includes.load(src, from: directory, at: reference, blocks: blocks)
    }
    let spec = reader.readSpec(parsed.root)
    let structural = reader.diagnostics + includes.diagnostics
    diagnostics += structural
    files += includes.files
    // Our own checks say the same as the schema, with better words and a fix;
    // schema errors are shown only when those found nothing.
    if !structural.hasErrors { diagnostics += includes.schemaErrors }
    return diagnostics.hasErrors ? nil : spec
  }
}

/// Reads the layer files that `src=` names, recursively, each relative to the
/// file naming it. A class so that readers of nested files can call back into
/// it without a closure that holds itself (which leaked every parsed spec).
final class IncludeLoader {
  let sources: SourceStore
  /// Real paths of the folders includes may come from: the spec's tree and the allowed ones.
  let roots: [String]
  /// The same folders as written (standardised, symlinks kept).
  let lexicalRoots: [String]
  let treeName: String
  var stack: [String]
  var diagnostics: [Diagnostic] = []
  var schemaErrors: [Diagnostic]
  var files: [String] = []

  init(sources: SourceStore, spec: String, tree: String, allowed: [String], schemaErrors: [Diagnostic]) {
    self.sources = sources
    treeName = canonicalPath(tree.isEmpty ? "." : tree)
    roots = ([treeName] + allowed).compactMap { FileCheck.realPath($0) }
    lexicalRoots = ([treeName] + allowed).map(canonicalPath)
    stack = [FileCheck.realPath(spec) ?? canonicalPath(spec)]
    self.schemaErrors = schemaErrors
  }

  /// Whether `real` (a resolved path) lies in one of the allowed trees.
  func inside(_ real: String) -> Bool { roots.contains { FileCheck.isWithin(real, $0) } }

  func load(_ src: String, from folder: String, at reference: SourceLocation, blocks: [String: BlockDefinition]) -> [Layer]? {
    let resolved = src.hasPrefix("/") || folder.isEmpty ? src : folder + "/" + src
    // Checked before the file is touched: by its written path, then by its
    // real path (symlinks resolved), so a link out of the tree is refused too.
    let outside = Diagnostic.error(
      .srcOutsideFolder, "src=\"\(src)\" is outside the folder of the spec (\(treeName)); it was not read", at: reference,
      help: "keep layer files in the spec's folder or below it, or allow their folder with --allow-include DIR")
    let lexical = canonicalPath(resolved)
    guard (lexicalRoots + roots).contains(where: { FileCheck.isWithin(lexical, $0) }) else {
      diagnostics.append(outside)
      return nil
    }
    guard let real = FileCheck.realPath(resolved) else {
      diagnostics.append(
        .error(
          .srcMissing, "no such file: \(resolved)", at: reference,
          help: "paths in src= are relative to the file that names them"))
      return nil
    }
    guard inside(real) else {
      diagnostics.append(outside)
      return nil
    }
    if let index = stack.firstIndex(of: real) {
      diagnostics.append(
        .error(
          .srcCycle, "src=\"\(src)\" leads back to \(resolved), making a cycle", at: reference,
          notes: stack[index...].map { DiagnosticNote("\($0) is on the cycle") },
          help: "put the layers in one file and name it from the others"))
      return nil
    }
    var inner = SpecLoader(sources: sources)
    let parsed = inner.parse(resolved, at: reference) { parsed, _ in parsed?.root.name == "network" }
    files += inner.files
    guard let doc = parsed else {
      // A file that is not XML is named by location only; its errors would quote it.
      if inner.diagnostics.contains(where: { $0.id == .xmlMalformed }) {
        diagnostics.append(
          .error(
            .srcWrongRoot, "\(resolved) is not a layer file (not well-formed XML)", at: reference,
            help: "a layer file's root is <network> holding the layers"))
      } else {
        diagnostics += inner.diagnostics
      }
      return nil
    }
    guard doc.root.name == "network" else {
      diagnostics.append(
        .error(
          .srcWrongRoot, "the root of \(resolved) is <\(doc.root.name)>, not <network>",
          at: reference, help: "a layer file's root is <network> holding the layers"))
      return nil
    }
    diagnostics += inner.diagnostics
    schemaErrors += doc.validate(against: XSDWriter.compiled!)
    stack.append(real)
    defer { stack.removeLast() }
    let nestedFolder = (resolved as NSString).deletingLastPathComponent
    var networkReader = SpecReader(file: resolved) { [unowned self] s, l, b in self.load(s, from: nestedFolder, at: l, blocks: b) }
    networkReader.blocks = blocks
    let r = AttributeReader(doc.root, SpecSchema.networkFile)
    diagnostics += r.diagnostics
    var layers = networkReader.readLayers(doc.root)
    if let nested = r.raw("src") {
      if !doc.root.children.isEmpty {
        diagnostics.append(
          .error(
            .srcAndInline, "<network> has both src=\"\(nested)\" and layers of its own",
            at: r.location("src"), help: "keep the layers in one place"))
      } else {
        layers = load(nested, from: nestedFolder, at: r.location("src"), blocks: blocks) ?? []
      }
    }
    diagnostics += networkReader.diagnostics
    return layers
  }
}

/// A path made absolute (against the current directory) and standardised:
/// for recording where a spec lives.
public func canonicalPath(_ path: String) -> String {
  let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
  return (absolute as NSString).standardizingPath
}
