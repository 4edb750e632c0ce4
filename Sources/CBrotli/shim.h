#ifndef CBROTLI_SHIM_H
#define CBROTLI_SHIM_H
// Brotli from Debian's libbrotli-dev: the encoder (responses) and the decoder (the tests decode
// what the encoder wrote). The static archives libbrotlienc.a, libbrotlidec.a and
// libbrotlicommon.a are in the package.
#include <brotli/encode.h>
#include <brotli/decode.h>
#endif
