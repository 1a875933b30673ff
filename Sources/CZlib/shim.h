#ifndef EOSTRACE_CZLIB_SHIM_H
#define EOSTRACE_CZLIB_SHIM_H
#include <zlib.h>
#endif
