#!/usr/bin/env bash
# Builds the libFuzzer target for the ACME client (FuzzACME: a hostile CA's responses into the
# order machine, plus the JSON, problem-document, time and ARI codecs) and runs it for
# FUZZ_SECONDS (default 60), seeded with Tests/FlaksACMETests/Corpus (recorded exchanges with the
# fake CA). Fails on any crash, broken invariant or sanitizer report; a crasher is copied into
# FuzzTesting/FailCases/ as acme-crash-..., which FlaksACMETests replays on every `swift test`.
set -euo pipefail
cd "$(dirname "$0")/../FuzzTesting"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library --product FuzzACME
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
set +e
.build/debug/FuzzACME "$work" ../Tests/FlaksACMETests/Corpus -max_total_time="${FUZZ_SECONDS:-60}" \
  -max_len=16384 -timeout=10 -artifact_prefix="$work/" -print_final_stats=1 2>&1 | tail -25
rc=${PIPESTATUS[0]}
set -e
for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
  [ -e "$f" ] && cp "$f" "FailCases/acme-$(basename "$f")" && echo "fuzz: crasher saved as FuzzTesting/FailCases/acme-$(basename "$f")"
done
exit "$rc"
