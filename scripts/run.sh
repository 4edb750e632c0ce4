#!/usr/bin/env bash
# Serves ./config.yaml (or the arguments given, e.g. `serve --config other.yaml`) with the release
# build, after installing the C libraries the build links when they are missing (as root, with apt-get).
#   ./scripts/run.sh                      # the example sites on http://localhost:8080
#   ./scripts/run.sh check --config config.yaml
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/packages.sh
need=()
for pkg in "${FLAKS_BUILD_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "run.sh: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "run.sh: missing packages: ${need[*]} (install them with apt-get as root)" >&2
  fi
fi
exec swift run -c release flaks "$@"
