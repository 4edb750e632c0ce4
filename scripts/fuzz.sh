#!/usr/bin/env bash
# Builds the libFuzzer target for the request parser and runs it for FUZZ_SECONDS (default 60).
# Fails on any crash or sanitizer report; a crasher is copied into FuzzTesting/FailCases/.
set -euo pipefail
cd "$(dirname "$0")/../FuzzTesting"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
.build/debug/FuzzParser "$work" ../Tests/FlaksHTTPTests/Corpus -max_total_time="${FUZZ_SECONDS:-60}" \
  -max_len=2048 -artifact_prefix="$work/" -print_final_stats=1 2>&1 | tail -25
rc=${PIPESTATUS[0]}
set -e
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
  [ -e "$f" ] && cp "$f" FailCases/ && echo "fuzz: crasher saved as FuzzTesting/FailCases/$(basename "$f")"
done
exit "$rc"
