#ifndef GANC_CLIBXML2_SHIM_H
#define GANC_CLIBXML2_SHIM_H
// Debian's libxml2 is built with ICU, whose headers clash with the ICU copy
// inside Swift's Foundation. ganc never touches the encoding-handler struct
// that needs them (only pointers to it), so leave ICU out of the import.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>

/// Frees memory that libxml2 allocated. Swift 6 cannot read the C global
/// `xmlFree` (a mutable global), so the call goes through this wrapper.
static inline void ganc_xml_free(void *p) { xmlFree(p); }
#endif
