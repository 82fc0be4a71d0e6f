#ifndef GANC_CPNG_SHIM_H
#define GANC_CPNG_SHIM_H
// The simplified libpng API: no setjmp/longjmp error handling to cross.
#include <png.h>
#endif
