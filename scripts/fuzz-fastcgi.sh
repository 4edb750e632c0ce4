#!/usr/bin/env bash
# Builds the libFuzzer target for the FastCGI response decoder and exchange (FuzzFastCGI) and runs
# it for FUZZ_SECONDS (default 60) on the seed corpus Tests/FlaksFastCGITests/Corpus.
# Fails on any crash or sanitizer report; a crasher is copied into FuzzTesting/FailCases/ with
# the prefix "fastcgi-", where FlaksFastCGITests' FuzzReplayTests replays it on every `swift test`.
set -euo pipefail
cd "$(dirname "$0")/../FuzzTesting"
swift build -c debug --product FuzzFastCGI -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
.build/debug/FuzzFastCGI "$work" ../Tests/FlaksFastCGITests/Corpus -max_total_time="${FUZZ_SECONDS:-60}" \
  -max_len=4096 -artifact_prefix="$work/" -print_final_stats=1 2>&1 | tail -25
rc=${PIPESTATUS[0]}
set -e
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
  [ -e "$f" ] && cp "$f" "FailCases/fastcgi-$(basename "$f")" && echo "fuzz: crasher saved as FuzzTesting/FailCases/fastcgi-$(basename "$f")"
done
exit "$rc"
