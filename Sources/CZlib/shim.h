#ifndef GANC_CZLIB_SHIM_H
#define GANC_CZLIB_SHIM_H
#include <zlib.h>
#endif
