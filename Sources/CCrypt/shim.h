#ifndef CCRYPT_SHIM_H
#define CCRYPT_SHIM_H
// libxcrypt (Debian's libcrypt-dev): crypt_rn for bcrypt ($2b$/$2y$/$2a$) and SHA-512-crypt ($6$),
// crypt_gensalt_rn for the fixed settings of the dummy check. Thread-safe: the state lives in the
// caller's `struct crypt_data`.
#include <crypt.h>
#endif
