#!/usr/bin/env bash
# The reverse proxy streams: 1 GiB down and 1 GiB up through the release binary (the image's build,
# scripts/build-release.sh) in front of the Python test app, with the proxy's resident memory flat
# (its peak RSS, VmHWM, at most FLAKS_RSS_MARGIN_MB above what it was after a warm-up request;
# no whole-body buffering), both bodies checked by length and SHA-256.
# Prints PASS/FAIL lines; exits 1 on a failure.
#   scripts/proxy-stream-check.sh              # SIZE_MB=1024 by default
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${SIZE_MB:-1024}
margin=${FLAKS_RSS_MARGIN_MB:-48}
bin=$(scripts/build-release.sh 2>/dev/null)
work=$(mktemp -d /tmp/flaks-proxy-stream.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s%s\n' "$1" "${2:+ -- $2}"; failures=$((failures + 1)); }

python3 Tests/FlaksServerTests/Upstreams/app.py 0 stream > "$work/app.out" 2>/dev/null & pids+=($!)
for _ in $(seq 1 100); do [ -s "$work/app.out" ] && break; sleep 0.1; done
app_port=$(head -n1 "$work/app.out")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$port"], loops: 1, threads: 2}
limits: {max_body: 2GiB}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        proxy: "http://127.0.0.1:$app_port"
YAML
"$bin" serve --config "$work/flaks.yaml" > "$work/flaks.log" 2>&1 & fpid=$!; pids+=($fpid)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$port/stream?n=1048576" -o /dev/null || { fail "warm-up request"; exit 1; }
rss_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$fpid/status"; }
base=$(rss_kb VmRSS)
bytes=$((size_mb * 1048576))

expected=$(python3 - "$bytes" <<'PY'
import hashlib, sys
n = int(sys.argv[1]); block = bytes(range(256)) * 256; h = hashlib.sha256()
while n > 0:
    part = block[:min(n, len(block))]; h.update(part); n -= len(part)
print(h.hexdigest())
PY
)
got=$(curl -sf "http://127.0.0.1:$port/stream?n=$bytes" | sha256sum | cut -d' ' -f1) || got=none
[ "$got" = "$expected" ] && pass "$size_mb MiB download through the proxy, SHA-256 intact" || fail "$size_mb MiB download" "sha $got"

truncate -s "${size_mb}M" "$work/up.bin"
zeros=$(python3 -c "import hashlib,sys; h=hashlib.sha256(); b=bytes(1<<20)
for _ in range($size_mb): h.update(b)
print(h.hexdigest())")
answer=$(curl -sf -T "$work/up.bin" "http://127.0.0.1:$port/upload") || answer=none
if python3 -c "import json,sys; a=json.loads(sys.argv[1]); sys.exit(0 if a.get('length')==$bytes and a.get('sha256')=='$zeros' else 1)" "$answer" 2>/dev/null; then
  pass "$size_mb MiB upload through the proxy, SHA-256 intact"
else
  fail "$size_mb MiB upload" "${answer:0:200}"
fi
peak=$(rss_kb VmHWM)
growth=$(( (peak - base) / 1024 ))
echo "      RSS after warm-up $((base / 1024)) MiB, peak $((peak / 1024)) MiB"
[ "$growth" -le "$margin" ] && pass "proxy RSS flat (peak +$growth MiB, limit +$margin MiB)" || fail "proxy RSS flat" "peak grew by $growth MiB"
[ $failures -eq 0 ] || { echo "proxy-stream-check: FAILED ($failures)"; exit 1; }
echo "proxy-stream-check: ok"
