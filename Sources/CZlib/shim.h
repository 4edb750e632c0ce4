#ifndef CZLIB_SHIM_H
#define CZLIB_SHIM_H
// zlib from Debian's zlib1g-dev (libz.a is in the package, so the static release link works).
// deflateInit2 / inflateInit2 are macros that pass ZLIB_VERSION and sizeof(z_stream); Swift does
// not import function-like macros, so these wrappers give it plain functions.
#include <zlib.h>

static inline int czlib_deflate_init2(z_streamp strm, int level, int window_bits, int mem_level, int strategy) {
    return deflateInit2(strm, level, Z_DEFLATED, window_bits, mem_level, strategy);
}
static inline int czlib_inflate_init2(z_streamp strm, int window_bits) {
    return inflateInit2(strm, window_bits);
}
#endif
