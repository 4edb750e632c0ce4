#!/usr/bin/env bash
# Builds the libFuzzer targets for the request and the response parser and runs each for half of
# FUZZ_SECONDS (default 60 in total, CI's budget). Fails on any crash or sanitizer report; a crasher
# is copied into FuzzTesting/FailCases/ (requests) or FuzzTesting/ResponseFailCases/ (responses).
set -euo pipefail
cd "$(dirname "$0")/../FuzzTesting"
swift build -c debug -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
total=${FUZZ_SECONDS:-60}
each=$(( total / 2 > 0 ? total / 2 : 1 ))
status=0
# fuzz NAME SEED_CORPUS FAILCASES_DIR
fuzz() {
  local work rc f
  work=$(mktemp -d)
  echo "fuzz: $1 for ${each}s"
  set +e
  ".build/debug/$1" "$work" "$2" -max_total_time="$each" \
    -max_len=2048 -artifact_prefix="$work/" -print_final_stats=1 2>&1 | tail -25
  rc=${PIPESTATUS[0]}
  set -e
  for f in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do
    [ -e "$f" ] && cp "$f" "$3/" && echo "fuzz: crasher saved as FuzzTesting/$3/$(basename "$f")"
  done
  rm -rf "$work"
  [ "$rc" -eq 0 ] || status=$rc
}
fuzz FuzzParser ../Tests/FlaksHTTPTests/Corpus FailCases
fuzz FuzzResponseParser ../Tests/FlaksHTTPTests/ResponseCorpus ResponseFailCases
exit "$status"
