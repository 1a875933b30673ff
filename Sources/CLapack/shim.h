#ifndef EOSTRACE_CLAPACK_SHIM_H
#define EOSTRACE_CLAPACK_SHIM_H
#include <cblas.h>
#include <lapacke.h>
#endif
