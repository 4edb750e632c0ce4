#!/usr/bin/env bash
# Installs what the build and the tests need (when missing and running as root), then runs `swift test`.
#   build: the C libraries Flaks links (Debian -dev packages): OpenSSL (TLS, digests), zlib, brotli and
#          zstd (compression), libxcrypt (htpasswd hashes)
#   tests: python3, perl and curl (CGI scripts and clients), php8.2-fpm (FastCGI against a real php-fpm),
#          apache2-utils (htpasswd -B makes the bcrypt files), openssl (test certificates), nodejs (upstream apps)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
need=()
for pkg in "${FLAKS_BUILD_PACKAGES[@]}" "${FLAKS_TEST_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "test.sh: installing ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "test.sh: missing packages: ${need[*]} (install them with apt-get as root)" >&2
  fi
fi
swift build
swift test --parallel 2>&1 | tee /tmp/flaks-test.log
