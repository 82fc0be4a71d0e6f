/// Writes the XSD of the spec language from `SpecSchema`.
///
/// XSD 1.0 cannot say that an attribute applies only to some values of
/// another (a ring's `modes`, an idx file's `images`), nor express shapes;
/// `ganc lint` checks those after validating.
public enum XSDWriter {
  private static func escape(_ s: String) -> String {
    s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
  }

  private static func typeName(_ kind: AttributeKind) -> String? {
    switch kind {
    case .count: return "xs:positiveInteger"
    case .natural: return "xs:nonNegativeInteger"
    case .integer: return "xs:integer"
    case .real: return "xs:double"
    case .boolean: return "xs:boolean"
    case .shape: return "shapeType"
    case .pair: return "pairType"
    case .naturalPair: return "naturalPairType"
    case .padding: return "paddingType"
    case .names: return "namesType"
    case .name: return "nameType"
    case .text: return "xs:string"
    case .choice: return nil
    }
  }

  /// `relaxed`: inside a block, where any value may be `$param`, every
  /// attribute is text (the reader checks the values after substitution).
  private static func attribute(_ a: AttributeDefinition, indent: String, relaxed: Bool = false) -> String {
    var head = "\(indent)<xs:attribute name=\"\(a.name)\""
    if relaxed {
      head += " type=\"xs:string\""
      if a.required { head += " use=\"required\"" }
      return head + "/>\n"
    }
    if let t = typeName(a.kind) { head += " type=\"\(t)\"" }
    if a.required { head += " use=\"required\"" }
    let doc = "\(indent)  <xs:annotation><xs:documentation>\(escape(a.summary + (a.documentedDefault.map { " (default \($0))" } ?? "")))</xs:documentation></xs:annotation>\n"
    guard case .choice(let values) = a.kind else {
      return head + ">\n" + doc + "\(indent)</xs:attribute>\n"
    }
    var out = head + ">\n" + doc
    out += "\(indent)  <xs:simpleType>\n\(indent)    <xs:restriction base=\"xs:token\">\n"
    for v in values { out += "\(indent)      <xs:enumeration value=\"\(escape(v))\"/>\n" }
    out += "\(indent)    </xs:restriction>\n\(indent)  </xs:simpleType>\n\(indent)</xs:attribute>\n"
    return out
  }

  private static func element(_ e: ElementDefinition, indent: String, minOccurs: Int? = nil, relaxed: Bool = false) -> String {
    var out = "\(indent)<xs:element name=\"\(e.name)\""
    if let minOccurs { out += " minOccurs=\"\(minOccurs)\"" }
    out += ">\n\(indent)  <xs:annotation><xs:documentation>\(escape(e.summary))</xs:documentation></xs:annotation>\n"
    out += "\(indent)  <xs:complexType>\n"
    let inner = indent + "    "
    switch e.children {
    case .empty:
      break
    case .layers:
      out += "\(inner)<xs:group ref=\"layer\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>\n"
    case .block:
      out += "\(inner)<xs:sequence>\n"
      out += element(SpecSchema.param, indent: inner + "  ", minOccurs: 0)
        .replacingOccurrences(of: "<xs:element name=\"param\" minOccurs=\"0\">", with: "<xs:element name=\"param\" minOccurs=\"0\" maxOccurs=\"unbounded\">")
      out += "\(inner)  <xs:group ref=\"blockLayer\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>\n"
      out += "\(inner)</xs:sequence>\n"
    case .all(let required, let optional):
      out += "\(inner)<xs:all>\n"
      for name in required { out += element(SpecSchema.elements[name]!, indent: inner + "  ") }
      for name in optional {
        out += element(SpecSchema.elements[name]!, indent: inner + "  ", minOccurs: 0)
      }
      out += "\(inner)</xs:all>\n"
    case .repeated(let name):
      out += "\(inner)<xs:sequence>\n"
      out += element(SpecSchema.elements[name]!, indent: inner + "  ", minOccurs: 0)
        .replacingOccurrences(
          of: "<xs:element name=\"\(name)\" minOccurs=\"0\">",
          with: "<xs:element name=\"\(name)\" minOccurs=\"0\" maxOccurs=\"unbounded\">")
      out += "\(inner)</xs:sequence>\n"
    }
    if e.children == .layers {
      // A layer group must be wrapped in a sequence.
      out = out.replacingOccurrences(
        of: "\(inner)<xs:group ref=\"layer\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>\n",
        with:
          "\(inner)<xs:sequence>\n\(inner)  <xs:group ref=\"layer\" minOccurs=\"0\" maxOccurs=\"unbounded\"/>\n\(inner)</xs:sequence>\n"
      )
    }
    for a in e.attributes { out += attribute(a, indent: indent + "    ", relaxed: relaxed) }
    // A use names its block's parameters as attributes of its own.
    if e.name == SpecSchema.use.name { out += "\(indent)    <xs:anyAttribute processContents=\"skip\"/>\n" }
    out += "\(indent)  </xs:complexType>\n\(indent)</xs:element>\n"
    return out
  }

  private static func patternType(_ name: String, _ pattern: String, base: String = "xs:token") -> String {
    """
      <xs:simpleType name="\(name)">
        <xs:restriction base="\(base)">
          <xs:pattern value="\(escape(pattern))"/>
        </xs:restriction>
      </xs:simpleType>

    """
  }

  /// The complete XSD document.
  public static func xsd() -> String {
    var out = """
      <?xml version="1.0" encoding="UTF-8"?>
      <!-- The ganc spec language, version 1. Generated by `ganc schema`; do not edit. -->
      <xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="unqualified">

      """
    out += element(SpecSchema.gan, indent: "  ")
    out += "\n" + element(SpecSchema.classifier, indent: "  ")
    out += "\n" + element(SpecSchema.networkFile, indent: "  ")
    for (group, relaxed) in [("layer", false), ("blockLayer", true)] {
      out += "\n  <xs:group name=\"\(group)\">\n    <xs:choice>\n"
      for layer in SpecSchema.layers + [SpecSchema.use] { out += element(layer, indent: "      ", relaxed: relaxed) }
      out += "    </xs:choice>\n  </xs:group>\n"
    }
    out += "\n"
    out += patternType("shapeType", "[0-9]+( [0-9]+)*")
    out += patternType("pairType", "[0-9]+(x[0-9]+)?")
    out += patternType("naturalPairType", "[0-9]+(x[0-9]+)?")
    out += patternType("paddingType", "[0-9]+(x[0-9]+)?|same|valid")
    out += patternType("nameType", "[A-Za-z_][A-Za-z0-9_.\\-]*")
    out += patternType("namesType", "[A-Za-z_][A-Za-z0-9_.\\-]*( [A-Za-z_][A-Za-z0-9_.\\-]*)*")
    out += "</xs:schema>\n"
    return out
  }

  /// The schema compiled once for validation.
  static let compiled: CompiledSchema? = CompiledSchema(xsd: xsd())
}
