#!/usr/bin/env bash
# Builds the libFuzzer target for the TLS read path (FuzzTLS) and runs it for FUZZ_SECONDS
# (default 60), seeded with Tests/FlaksTLSTests/Corpus (real ClientHellos and records).
# Fails on any crash or sanitizer report; a crasher is copied into FuzzTesting/FailCases/ as
# tls-crash-..., which FlaksTLSTests replays on every `swift test`.
set -euo pipefail
cd "$(dirname "$0")/../FuzzTesting"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product FuzzTLS
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
.build/debug/FuzzTLS "$work" ../Tests/FlaksTLSTests/Corpus -max_total_time="${FUZZ_SECONDS:-60}" \
  -max_len=8192 -artifact_prefix="$work/" -print_final_stats=1 2>&1 | tail -25
rc=${PIPESTATUS[0]}
set -e
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
  [ -e "$f" ] && cp "$f" "FailCases/tls-$(basename "$f")" && echo "fuzz: crasher saved as FuzzTesting/FailCases/tls-$(basename "$f")"
done
exit "$rc"
