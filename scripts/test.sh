#!/usr/bin/env bash
# Installs what the tests need (when missing and running as root), then runs `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v python3 >/dev/null || need+=(python3)
command -v perl >/dev/null || need+=(perl)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
swift build
swift test --parallel 2>&1 | tee /tmp/flaks-test.log
