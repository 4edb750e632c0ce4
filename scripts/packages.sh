# The Debian packages Flaks needs, in one place (sourced by scripts/test.sh, scripts/run.sh and CI;
# the Dockerfile names the same build packages).
# Build: the C libraries linked through system library targets (headers and static archives).
FLAKS_BUILD_PACKAGES=(libssl-dev zlib1g-dev libbrotli-dev libzstd-dev libcrypt-dev)
# Tests: real CGI interpreters and clients, php-fpm with DokuWiki (a real PHP application: php8.2-xml
# comes with it) and mbstring, htpasswd, openssl, node for upstream apps, pebble (an ACME CA).
FLAKS_TEST_PACKAGES=(python3 perl curl php8.2-fpm dokuwiki php8.2-mbstring apache2-utils openssl nodejs pebble)
# CI's proof stages, a real browser and a TLS scanner (scripts/browser-check.sh, scripts/tls-scan.sh
# install them when missing; .ci/run installs them before those stages; scripts/test.sh does not).
FLAKS_CHECK_PACKAGES=(chromium libnss3-tools testssl.sh)
