/// Stable message ids. Tools and tests match on these; never renumber one.
///
/// 00xx: files and XML; 01xx: structure and values; 02xx: references and
/// graphs; 03xx: shapes and sizes; 04xx: data; 05xx: training; 09xx: usage.
public enum DiagnosticID: String, Sendable, Codable, CaseIterable {
  // Files and XML.
  case fileUnreadable = "GAN0001"
  case fileEmpty = "GAN0002"
  case fileNotText = "GAN0003"
  case xmlMalformed = "GAN0004"
  case doctypeRefused = "GAN0005"
  case fileTooLarge = "GAN0006"
  case schemaInvalid = "GAN0007"
  case fileNotRegular = "GAN0008"

  // Structure and values.
  case wrongRoot = "GAN0100"
  case unknownElement = "GAN0101"
  case unknownAttribute = "GAN0102"
  case missingAttribute = "GAN0103"
  case missingElement = "GAN0104"
  case duplicateElement = "GAN0105"
  case unexpectedText = "GAN0106"
  case invalidInteger = "GAN0107"
  case invalidReal = "GAN0108"
  case invalidChoice = "GAN0109"
  case invalidBoolean = "GAN0110"
  case invalidShape = "GAN0111"
  case outOfRange = "GAN0112"
  case unsupportedVersion = "GAN0113"
  case invalidName = "GAN0114"
  case attributeNotApplicable = "GAN0115"

  // References and graphs.
  case srcMissing = "GAN0200"
  case srcCycle = "GAN0201"
  case srcAndInline = "GAN0202"
  case srcWrongRoot = "GAN0203"
  case duplicateID = "GAN0204"
  case unknownReference = "GAN0205"
  case forwardReference = "GAN0206"
  case emptyNetwork = "GAN0207"
  case labelMisuse = "GAN0208"
  case unusedOutput = "GAN0209"
  case reservedID = "GAN0210"
  case srcOutsideFolder = "GAN0211"
  case blockUnknown = "GAN0212"
  case blockParameter = "GAN0213"
  case blockRecursive = "GAN0214"
  case blockDuplicate = "GAN0215"

  // Shapes and sizes.
  case shapeMismatch = "GAN0300"
  case rankMismatch = "GAN0301"
  case nonPositiveSize = "GAN0302"
  case reshapeCount = "GAN0303"
  case generatorOutput = "GAN0304"
  case discriminatorOutput = "GAN0305"
  case tooLarge = "GAN0306"
  case packShape = "GAN0307"

  // Data.
  case dataMissing = "GAN0400"
  case dataFormat = "GAN0401"
  case dataLabels = "GAN0402"
  case dataColumns = "GAN0403"
  case dataRange = "GAN0404"

  // Training.
  case optimizerMissing = "GAN0500"
  case optimizerDuplicate = "GAN0501"
  case lossArchitecture = "GAN0502"
  case finalSigmoid = "GAN0503"
  case biasBeforeNorm = "GAN0504"
  case conditionalWithoutLabels = "GAN0505"
  case optionIgnored = "GAN0506"
  case normWithPenalty = "GAN0507"
  case labelsUnused = "GAN0508"
  case optimizerNet = "GAN0509"
  case classifierOutput = "GAN0510"
  case semiSupervised = "GAN0511"
  case featureMatching = "GAN0512"

  // Usage and I/O of the command itself.
  case usage = "GAN0900"
}
