import CLibXML2
import GANDiagnostics

/// Collects libxml2's structured errors for one parse or validation. It is
/// reached from C callbacks through the parser context's `_private` pointer
/// (libxml2 2.9 passes the context itself as the callback's user data).
final class XMLErrorCollector {
  let file: String
  var diagnostics: [Diagnostic] = []
  var doctypeLine: Int? = nil
  /// Locations of converted nodes, so schema errors get a column.
  var nodeLocations: [UnsafeMutableRawPointer: SourceLocation] = [:]
  let id: DiagnosticID

  init(file: String, id: DiagnosticID) {
    self.file = file
    self.id = id
  }

  func add(_ error: xmlError) {
    guard error.level != XML_ERR_NONE, error.level != XML_ERR_WARNING else { return }
    var message = error.message.map { String(cString: $0) } ?? "unknown XML error"
    while message.last == "\n" || message.last == " " { message.removeLast() }
    if message.hasPrefix("Excessive depth in document") {
      message = "the document nests elements more than 256 levels deep"
    }
    var location = SourceLocation(file: file, line: Int(error.line), column: Int(error.int2))
    if let node = error.node, let known = nodeLocations[node] {
      location = known
    } else if id == .schemaInvalid {
      location.column = 0
    }
    if location.line <= 0 { location = .file(file) }
    // Never report more than a screenful from one document.
    guard diagnostics.count < 20 else { return }
    let text = id == .schemaInvalid ? "does not match the ganc schema: \(message)" : message
    diagnostics.append(.error(id, text, at: location, help: help(for: error)))
  }

  private func help(for error: xmlError) -> String? {
    if id == .schemaInvalid { return "see `ganc schema` for the allowed elements and attributes" }
    switch Int(error.code) {
    case Int(XML_ERR_ENTITY_LOOP.rawValue), Int(XML_ERR_UNDECLARED_ENTITY.rawValue),
      Int(XML_WAR_UNDECLARED_ENTITY.rawValue):
      return "specs use no entities: write the text itself, or &amp; &lt; &gt; &quot; &apos;"
    case Int(XML_ERR_INTERNAL_ERROR.rawValue):
      return "specs nest a few levels deep; this document nests far deeper than any spec needs"
    default:
      return "fix the XML syntax at this position"
    }
  }
}

/// A parsed document: our located element tree plus libxml2's tree, kept
/// alive for schema validation.
final class ParsedXML {
  let root: XMLElement
  fileprivate let doc: xmlDocPtr
  let collector: XMLErrorCollector

  fileprivate init(root: XMLElement, doc: xmlDocPtr, collector: XMLErrorCollector) {
    self.root = root
    self.doc = doc
    self.collector = collector
  }

  deinit { xmlFreeDoc(doc) }

  /// Validates against `schema`, returning its errors as diagnostics.
  func validate(against schema: CompiledSchema) -> [Diagnostic] {
    schema.validate(doc, locations: collector.nodeLocations, file: collector.file)
  }
}

/// Parses spec XML with libxml2 under safe options: no entity substitution,
/// no network, no DTD loading or validation, the default depth limit, and any
/// DOCTYPE refused outright (specs need none), which ends billion-laughs and
/// quadratic-blowup documents before they start.
enum SafeXMLParser {
  static let options: Int32 = Int32(
    XML_PARSE_NONET.rawValue | XML_PARSE_BIG_LINES.rawValue | XML_PARSE_NOERROR.rawValue
      | XML_PARSE_NOWARNING.rawValue | XML_PARSE_NOCDATA.rawValue)

  static func parse(text: String, file: String) -> (ParsedXML?, [Diagnostic]) {
    xmlInitParser()
    guard let ctxt = xmlNewParserCtxt() else {
      return (nil, [.error(.xmlMalformed, "cannot create an XML parser", at: .file(file))])
    }
    defer { xmlFreeParserCtxt(ctxt) }
    let collector = XMLErrorCollector(file: file, id: .xmlMalformed)
    let box = Unmanaged.passRetained(collector)
    defer { box.release() }
    ctxt.pointee._private = box.toOpaque()
    ctxt.pointee.sax.pointee.serror = { user, error in
      guard let user, let error else { return }
      let ctxt = user.assumingMemoryBound(to: xmlParserCtxt.self)
      guard let priv = ctxt.pointee._private else { return }
      Unmanaged<XMLErrorCollector>.fromOpaque(priv).takeUnretainedValue().add(error.pointee)
    }
    ctxt.pointee.sax.pointee.internalSubset = { user, _, _, _ in
      guard let user else { return }
      let ctxt = user.assumingMemoryBound(to: xmlParserCtxt.self)
      if let priv = ctxt.pointee._private {
        let c = Unmanaged<XMLErrorCollector>.fromOpaque(priv).takeUnretainedValue()
        c.doctypeLine = Int(ctxt.pointee.input?.pointee.line ?? 0)
      }
      xmlStopParser(ctxt)
    }
    let bytes = Array(text.utf8)
    let doc = bytes.withUnsafeBufferPointer { buf in
      buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
        xmlCtxtReadMemory(ctxt, p, Int32(buf.count), file, "UTF-8", options)
      }
    }
    if let line = collector.doctypeLine {
      if let doc { xmlFreeDoc(doc) }
      var locator = TagLocator(text: text, file: file)
      let loc =
        locator.nextStartTag(named: "!DOCTYPE").map { locator.location(ofOffset: $0.start) }
        ?? SourceLocation(file: file, line: max(line, 1), column: 1)
      return (
        nil,
        [
          .error(
            .doctypeRefused, "a DOCTYPE declaration is not allowed in a spec", at: loc,
            help: "delete the <!DOCTYPE ...> declaration; specs need no DTD or entities")
        ]
      )
    }
    guard let doc, ctxt.pointee.wellFormed != 0, collector.diagnostics.isEmpty else {
      if let doc { xmlFreeDoc(doc) }
      var diags = collector.diagnostics
      if diags.isEmpty {
        diags.append(.error(.xmlMalformed, "the file is not well-formed XML", at: .file(file)))
      }
      // The first error is the cause; the rest usually follow from it.
      return (nil, Array(diags.prefix(1)))
    }
    guard let rootNode = xmlDocGetRootElement(doc) else {
      xmlFreeDoc(doc)
      return (nil, [.error(.xmlMalformed, "the document has no root element", at: .file(file))])
    }
    var locator = TagLocator(text: text, file: file)
    let root = convert(rootNode, locator: &locator, collector: collector)
    return (ParsedXML(root: root, doc: doc, collector: collector), [])
  }

  private static func string(_ p: UnsafePointer<xmlChar>?) -> String {
    guard let p else { return "" }
    return String(cString: p)
  }

  private static func qualifiedName(_ name: UnsafePointer<xmlChar>?, _ ns: xmlNsPtr?) -> String {
    let local = string(name)
    if let ns, let prefix = ns.pointee.prefix { return "\(string(prefix)):\(local)" }
    return local
  }

  private static func convert(
    _ node: xmlNodePtr, locator: inout TagLocator, collector: XMLErrorCollector
  ) -> XMLElement {
    let name = qualifiedName(node.pointee.name, node.pointee.ns)
    let tag = locator.nextStartTag(named: name)
    let location =
      tag.map { locator.location(ofOffset: $0.start + 1) }
      ?? SourceLocation(file: collector.file, line: Int(xmlGetLineNo(node)), column: 0)
    collector.nodeLocations[UnsafeMutableRawPointer(node)] = location
    var attributes: [XMLAttribute] = []
    var attr = node.pointee.properties
    while let a = attr {
      let attrName = qualifiedName(a.pointee.name, a.pointee.ns)
      var value = ""
      if let raw = xmlNodeListGetString(node.pointee.doc, a.pointee.children, 1) {
        value = String(cString: raw)
        ganc_xml_free(raw)
      }
      let attrLocation =
        tag.flatMap { locator.attributeOffset(attrName, in: $0) }.map {
          locator.location(ofOffset: $0)
        } ?? location
      collector.nodeLocations[UnsafeMutableRawPointer(a)] = attrLocation
      attributes.append(XMLAttribute(name: attrName, value: value, location: attrLocation))
      attr = a.pointee.next
    }
    var children: [XMLElement] = []
    var textLocation: SourceLocation? = nil
    var child = node.pointee.children
    while let c = child {
      switch c.pointee.type {
      case XML_ELEMENT_NODE:
        children.append(convert(c, locator: &locator, collector: collector))
      case XML_TEXT_NODE, XML_CDATA_SECTION_NODE:
        let content = string(c.pointee.content)
        if textLocation == nil, content.contains(where: { !$0.isWhitespace }) {
          textLocation = SourceLocation(
            file: collector.file, line: Int(xmlGetLineNo(c)), column: 0)
        }
      default:
        break
      }
      child = c.pointee.next
    }
    return XMLElement(
      name: name, location: location, attributes: attributes, children: children,
      textLocation: textLocation)
  }
}

/// An XSD compiled once by libxml2.
final class CompiledSchema: @unchecked Sendable {
  private let schema: xmlSchemaPtr

  init?(xsd: String) {
    xmlInitParser()
    let bytes = Array(xsd.utf8)
    let parsed: xmlSchemaPtr? = bytes.withUnsafeBufferPointer { buf in
      buf.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buf.count) { p in
        guard let pctxt = xmlSchemaNewMemParserCtxt(p, Int32(buf.count)) else { return nil }
        defer { xmlSchemaFreeParserCtxt(pctxt) }
        xmlSchemaSetParserStructuredErrors(pctxt, { _, _ in }, nil)
        return xmlSchemaParse(pctxt)
      }
    }
    guard let parsed else { return nil }
    schema = parsed
  }

  deinit { xmlSchemaFree(schema) }

  fileprivate func validate(
    _ doc: xmlDocPtr, locations: [UnsafeMutableRawPointer: SourceLocation], file: String
  ) -> [Diagnostic] {
    guard let vctxt = xmlSchemaNewValidCtxt(schema) else { return [] }
    defer { xmlSchemaFreeValidCtxt(vctxt) }
    let collector = XMLErrorCollector(file: file, id: .schemaInvalid)
    collector.nodeLocations = locations
    let box = Unmanaged.passRetained(collector)
    defer { box.release() }
    xmlSchemaSetValidStructuredErrors(
      vctxt,
      { user, error in
        guard let user, let error else { return }
        Unmanaged<XMLErrorCollector>.fromOpaque(user).takeUnretainedValue().add(error.pointee)
      }, box.toOpaque())
    _ = xmlSchemaValidateDoc(vctxt, doc)
    return collector.diagnostics
  }
}
