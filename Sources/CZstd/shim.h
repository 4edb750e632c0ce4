#ifndef CZSTD_SHIM_H
#define CZSTD_SHIM_H
// Zstandard from Debian's libzstd-dev (libzstd.a is in the package).
// ZSTD_STATIC_LINKING_ONLY exposes ZSTD_c_srcSizeHint (a hint, unlike the pledged size, which is a
// contract): it lets a stream of a known small size use small tables. It is part of the
// "experimental" section, which is why it needs the define; the release binary links libzstd
// statically, so the parameter's number cannot differ between build and run.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#include <zstd_errors.h>

/// ZSTD_c_srcSizeHint is an enum alias of an experimental parameter; a function keeps the Swift side
/// independent of how the header spells it.
static inline ZSTD_cParameter czstd_param_src_size_hint(void) { return ZSTD_c_srcSizeHint; }
#endif
