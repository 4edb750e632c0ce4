#!/usr/bin/env bash
# Builds the release binary the container image ships and prints its path:
# fully static (Swift stdlib, Foundation and glibc linked in, so the image needs no shared
# libraries for it), linked by lld with the functions serving runs placed together
# (Sources/FlaksCLI/hot-functions.order, see docs/memory.md). Used by the Dockerfile,
# scripts/smoke-release.sh and bench/loadfault.py.
#   scripts/build-release.sh            # build output goes to stderr, the path to stdout
#   FLAKS_SCRATCH_PATH=/tmp/flaks-static scripts/build-release.sh   # another build directory
set -euo pipefail
cd "$(dirname "$0")/.."
flags=(-c release --static-swift-stdlib -Xswiftc -static-executable --product flaks)
if [ -n "${FLAKS_SCRATCH_PATH:-}" ]; then flags+=(--scratch-path "$FLAKS_SCRATCH_PATH"); fi
swift build "${flags[@]}" >&2
echo "$(swift build "${flags[@]}" --show-bin-path)/flaks"
