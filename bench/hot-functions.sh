#!/usr/bin/env bash
# Regenerates Sources/FlaksCLI/hot-functions.order: the functions a serving flaks runs, found by
# running the image's build under valgrind's callgrind with bench/workload-mixed.sh as traffic
# (counters zeroed after start-up, so start-up-only code is left out). lld places these functions
# next to each other (Package.swift), so a serving process touches a few 64 KiB windows of code
# instead of ~75 scattered ones. Run on demand after larger changes or a toolchain update;
# names that no longer exist are ignored by the linker. Needs valgrind and curl.
#   bench/hot-functions.sh
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "needs valgrind (apt-get install -y valgrind)"; exit 1; }
bin=$(scripts/build-release.sh)
work=$(mktemp -d /tmp/flaks-hot.XXXXXX)
# valgrind cannot read the DWARF of a Swift static binary; the symbol table is enough.
strip --strip-debug -o "$work/flaks" "$bin"
PORT=${PORT:-18380}
FLAKS_LISTEN="127.0.0.1:$PORT" valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/cg.out" \
  "$work/flaks" serve --config config.yaml >"$work/server.log" 2>&1 &
vg=$!
trap 'kill $vg 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do curl -s -m 2 -o /dev/null "http://127.0.0.1:$PORT/hello" && break; sleep 1; done
callgrind_control -z $vg >/dev/null
PORT=$PORT bench/workload-mixed.sh >/dev/null 2>&1
PORT=$PORT bench/workload-mixed.sh >/dev/null 2>&1
callgrind_control -d $vg >/dev/null
kill $vg; wait $vg 2>/dev/null || true
nm --defined-only "$work/flaks" | awk '{print $3}' | sort -u > "$work/defined"
cat "$work"/cg.out.* | sed -nE 's/^c?fn=\([0-9]+\) (.*)$/\1/p' | sort -u > "$work/ran"
comm -12 "$work/ran" "$work/defined" > Sources/FlaksCLI/hot-functions.order
echo "$(wc -l < Sources/FlaksCLI/hot-functions.order) functions in Sources/FlaksCLI/hot-functions.order"
