#!/usr/bin/env bash
# Smoke test of the release binary, run the way the container image runs it (there is no Docker
# engine in CI): the fully static release build (scripts/build-release.sh), a temp copy of the image's /srv/flaks
# (config.yaml + sites/ from this repository), a non-root system user, tini in front when it is
# installed (the image's ENTRYPOINT), the repository's config.yaml on a free loopback port.
# Then one request per route kind, the example service (config.yaml's `services:`, proxied on
# /api/: its instances run as the server's user, keep their pids across a reload that does not
# change them, and are gone after SIGTERM), `flaks probe`, a SIGHUP reload after editing the
# manifest, and SIGTERM -> exit status 0 within 10 s.
#
# Prints one PASS/FAIL/SKIP line per check; exits 1 if any check failed.
#   scripts/smoke-release.sh
#   FLAKS_SMOKE_KEEP=1 scripts/smoke-release.sh     # keep the temp dir (and the server log)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s%s\n' "$1" "${2:+ -- $2}"; failures=$((failures + 1)); }
skip() { printf 'SKIP  %s%s\n' "$1" "${2:+ -- $2}"; }
note() { printf '      %s\n' "$*"; }

# ---- tools ------------------------------------------------------------------------------------
as_root=false
[ "$(id -u)" = 0 ] && as_root=true
need=()
command -v curl >/dev/null || need+=(curl)
command -v tini >/dev/null || need+=(tini)
if [ ${#need[@]} -gt 0 ] && $as_root && command -v apt-get >/dev/null; then
  echo "smoke: installing ${need[*]}"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
    || echo "smoke: could not install ${need[*]}"
fi
command -v curl >/dev/null || { fail "curl available" "install curl"; echo "smoke: FAILED (1 check)"; exit 1; }

# ---- build --------------------------------------------------------------------------------------
echo "smoke: scripts/build-release.sh (the image's build: fully static, lld, hot-function order)"
buildlog=$(mktemp)
if ! bin=$(scripts/build-release.sh 2>"$buildlog"); then
  tail -n 20 "$buildlog"; fail "release build"; echo "smoke: FAILED"; exit 1
fi
tail -n 2 "$buildlog"; rm -f "$buildlog"
if [ -x "$bin" ]; then pass "release build ($bin)"; else fail "release build" "no $bin"; exit 1; fi
if readelf -lW "$bin" | grep -q "program interpreter"; then fail "fully static binary" "it asks for a dynamic loader"
else pass "fully static binary (no dynamic loader, no shared libraries)"; fi

# ---- image layout -------------------------------------------------------------------------------
tmp=$(mktemp -d /tmp/flaks-smoke.XXXXXX)
chmod 0755 "$tmp"
root=$tmp/srv/flaks
mkdir -p "$root" "$tmp/usr/local/bin"
install -m 0755 "$bin" "$tmp/usr/local/bin/flaks"
flaks=$tmp/usr/local/bin/flaks
cp "$repo/config.yaml" "$root/config.yaml"
cp -R "$repo/sites" "$root/sites"
chmod -R a+rX "$root"
manifest=$root/config.yaml
log=$tmp/server.log

pid=
svc_seen=   # pids of the service instances seen in /status (killed on an early exit)
finished=false
# On any exit: stop the server we started (tini's pid, then its flaks child if tini is gone
# first), remove the temp dir, and say so when the script stopped early.
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    local child
    child=$(pgrep -P "$pid" 2>/dev/null || true)
    kill -KILL "$pid" 2>/dev/null || true
    for c in $child; do kill -KILL "$c" 2>/dev/null || true; done
  fi
  for p in $svc_seen; do kill -KILL "$p" 2>/dev/null || true; done
  if [ "${FLAKS_SMOKE_KEEP:-}" = 1 ]; then echo "smoke: kept $tmp"; else rm -rf "$tmp"; fi
  $finished || echo "smoke: FAILED (stopped early, after $failures failed checks)"
}
trap cleanup EXIT

# ---- the server's user --------------------------------------------------------------------------
runas=()
if $as_root; then
  id -u flaks-smoke >/dev/null 2>&1 \
    || useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin flaks-smoke
  uid=$(id -u flaks-smoke); gid=$(id -g flaks-smoke)
  runas=(setpriv --reuid="$uid" --regid="$gid" --init-groups --inh-caps=-all --bounding-set=-all)
  pass "non-root user flaks-smoke (uid $uid)"
else
  skip "switch to a non-root system user" "not running as root; the server runs as $(id -un) (uid $(id -u))"
fi
init=()
if command -v tini >/dev/null; then
  init=("$(command -v tini)" -s --)   # -s: subreaper, since here tini is not PID 1
else
  skip "tini in front of flaks (the image's ENTRYPOINT)" "tini is not installed; running flaks directly"
fi
run() { "${runas[@]}" "$@"; }   # for foreground commands only: a backgrounded function is a subshell

# ---- the manifest as the image holds it ---------------------------------------------------------
if out=$("$flaks" check --config "$manifest" 2>&1); then
  pass "flaks check on the image's config.yaml"
else
  fail "flaks check on the image's config.yaml" "the image built from this tree would not start:"
  printf '%s\n' "$out" | sed 's/^/        /'
  # Keep going with empty placeholders for missing static roots, so the other checks still run.
  missing=$(printf '%s\n' "$out" | sed -n 's/.*static root "\([^"]*\)" does not exist.*/\1/p')
  if [ -n "$missing" ]; then
    note "continuing with empty placeholder directories for the missing static roots"
    while IFS= read -r d; do case "$d" in "$root"/*) mkdir -p "$d" ;; esac; done <<<"$missing"
    chmod -R a+rX "$root"
  fi
fi

# ---- start --------------------------------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
base=
for _attempt in 1 2 3; do
  port=$(free_port)
  # A simple command, so that $! is the process itself (setpriv and tini exec), not a subshell.
  FLAKS_LISTEN=127.0.0.1:$port "${runas[@]}" "${init[@]}" "$flaks" serve --config "$manifest" >"$log" 2>&1 &
  pid=$!
  up=false
  for _ in $(seq 1 100); do   # up to 10 s
    kill -0 "$pid" 2>/dev/null || break
    if "$flaks" probe --timeout 1 "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=true; break; fi
    sleep 0.1
  done
  if $up; then base=http://127.0.0.1:$port; break; fi
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
  pid=
  grep -q 'cannot start' "$log" || break   # retry only when the port was taken meanwhile
done
if [ -z "$base" ]; then
  fail "server starts and answers /healthz within 10 s" "log follows"
  sed 's/^/        /' "$log"
  finished=true; echo "smoke: FAILED ($failures checks)"; exit 1
fi
pass "server up on $base (pid $pid${init:+, under tini})"
owner=$(ps -o user= -p "$(pgrep -P "$pid" -x flaks 2>/dev/null || echo "$pid")" 2>/dev/null | tr -d ' ')
note "serving as user: ${owner:-?}"

# ---- requests -----------------------------------------------------------------------------------
# get NAME EXPECTED_STATUS PATH [HOST] -> sets $code, $body (file), $head (file)
body=$tmp/body; head=$tmp/head
get() {
  local host=${4:-}
  local args=(-sS --max-time 5 -o "$body" -D "$head" -w '%{http_code}')
  [ -n "$host" ] && args+=(-H "Host: $host")
  code=$(curl "${args[@]}" "$base$3" 2>"$tmp/curl.err") || code="curl: $(cat "$tmp/curl.err")"
  [ "$code" = "$2" ]
}
# expect NAME STATUS PATH HOST [same-as-file | contains-text]
expect_file() {   # NAME PATH HOST FILE: 200 and the body equals the file
  if [ ! -f "$4" ]; then fail "$1" "${4#"$root"/} is not in this tree"; return; fi
  if get "$1" 200 "$2" "$3" && cmp -s "$body" "$4"; then pass "$1"
  else fail "$1" "status $code$(head -c 120 "$body" | tr '\n' ' ' | sed 's/^/, body: /')"; fi
}
expect_text() {   # NAME STATUS PATH HOST TEXT: that status and the body contains TEXT
  if get "$1" "$2" "$3" "$4" && grep -qF -- "$5" "$body"; then pass "$1"
  else fail "$1" "wanted $2 with \"$5\"; got status $code$(head -c 120 "$body" | tr '\n' ' ' | sed 's/^/, body: /')"; fi
}

expect_file "static file from sites/plain (GET /about.html)" /about.html "" "$root/sites/plain/about.html"
expect_file "static index of the default host (GET /)" / "" "$root/sites/plain/index.html"
expect_file "docs host by Host header (docs.localhost /guide/)" /guide/ docs.localhost "$root/sites/docs/guide/index.html"
expect_file "SPA fallback (app.localhost /any/client/route)" /any/client/route app.localhost "$root/sites/spa/index.html"
expect_text "CGI shell script (/cgi-bin/hello.sh)" 200 /cgi-bin/hello.sh "" "Hello from a shell CGI script!"
expect_text "CGI python script (/cgi-bin/env.py)" 200 /cgi-bin/env.py "" "GATEWAY_INTERFACE=CGI/1.1"
expect_text "CGI perl script (/cgi-bin/form.pl?name=smoke)" 200 "/cgi-bin/form.pl?name=smoke" "" "smoke"
if get x 301 /old && grep -qi '^location: /about.html' "$head"; then pass "redirect /old -> 301 /about.html"
else fail "redirect /old -> 301 /about.html" "status $code, $(grep -i '^location:' "$head" | tr -d '\r')"; fi
expect_text "respond /hello" 200 /hello "" "hello from flaks"
expect_text "health /healthz" 200 /healthz "" "ok"
expect_text "status /status (JSON)" 200 /status "" '"version":'
if grep -Eq 'handler:[[:space:]]*metrics' "$manifest"; then
  expect_text "metrics /metrics (Prometheus text)" 200 /metrics "" "# TYPE"
else
  skip "metrics /metrics" "config.yaml mounts no handler: metrics"
fi
# ---- the supervised service ---------------------------------------------------------------------
# The ready instances of service NAME in /status, as "pid pid ..." (empty when none or no such service).
service_pids() {
  curl -sS --max-time 5 "$base/status" 2>/dev/null | python3 -c '
import json, sys
try:
    s = json.load(sys.stdin).get("services", {}).get(sys.argv[1], {})
except ValueError:
    s = {}
print(" ".join(str(i["pid"]) for i in s.get("instances", []) if i.get("state") == "ready"))' "$1"
}
svc_pids=
if grep -Eq '^services:' "$manifest" && grep -Eq 'service:[[:space:]]*hello' "$manifest"; then
  # A request before an instance is ready waits for one (ready_timeout), so no polling is needed.
  expect_text "service route /api/ (sites/services/hello.py behind proxy: {service: hello})" 200 /api/ "" '"service": "hello"'
  expect_text "service route strips the prefix (/api/echo -> /echo)" 200 "/api/echo?smoke=1" "" '"path": "/echo"'
  for _ in $(seq 1 50); do   # up to 5 s for both instances
    svc_pids=$(service_pids hello)
    [ "$(wc -w <<<"$svc_pids")" -ge 2 ] && break
    sleep 0.1
  done
  svc_seen=$svc_pids
  if [ "$(wc -w <<<"$svc_pids")" = 2 ]; then pass "status lists 2 ready instances of service hello (pids $svc_pids)"
  else fail "status lists 2 ready instances of service hello" "ready pids: '${svc_pids}'"; fi
  users=$(for p in $svc_pids; do ps -o user= -p "$p" 2>/dev/null; done | tr -d ' ' | sort -u | tr '\n' ' ')
  if $as_root; then
    if [ "$users" = "flaks-smoke " ]; then pass "service instances run as the server's user (flaks-smoke)"
    else fail "service instances run as the server's user" "users: '${users}'"; fi
  fi
  if grep -q '\[hello#[01]\] hello#[01] listening on 127.0.0.1:' "$log"; then pass "service output lines in the server log ([hello#N] ...)"
  else fail "service output lines in the server log ([hello#N] ...)"; fi
else
  skip "the example service" "config.yaml has no services block with hello"
fi

if out=$(run "$flaks" probe "$base/healthz" 2>&1); then pass "flaks probe $base/healthz (exit 0, as the server's user)"
else fail "flaks probe $base/healthz" "$out"; fi
if ! run "$flaks" probe "$base/no-such-page" >/dev/null 2>&1; then pass "flaks probe exits non-zero on a 404"
else fail "flaks probe exits non-zero on a 404"; fi

# ---- SIGHUP reload after an edit ----------------------------------------------------------------
if get x 200 /smoke-reload smoke.test; then
  fail "reload: /smoke-reload absent before the edit" "already answers 200"
fi
edited=$tmp/config.yaml.new
cp "$manifest" "$edited"
if [ -n "$(tail -c 1 "$edited")" ]; then echo >>"$edited"; fi
cat >>"$edited" <<'YAML'

  # added by scripts/smoke-release.sh
  - names: ["smoke.test"]
    routes:
      - path: /smoke-reload
        respond: "reloaded by SIGHUP\n"
        type: text/plain
YAML
chmod a+r "$edited"
mv "$edited" "$manifest"   # rename, as editors and ConfigMap updates do
if out=$("$flaks" check --config "$manifest" 2>&1); then
  kill -HUP "$pid" || true
  ok=false
  for _ in $(seq 1 50); do   # up to 5 s
    if get x 200 /smoke-reload smoke.test && grep -qF "reloaded by SIGHUP" "$body"; then ok=true; break; fi
    sleep 0.1
  done
  if $ok; then pass "SIGHUP reload: the new respond route answers"
  else fail "SIGHUP reload: the new respond route answers" "last status $code"; fi
  expect_text "after reload: existing routes still serve (/hello)" 200 /hello "" "hello from flaks"
  if [ -n "$svc_pids" ]; then
    after=$(service_pids hello)
    if [ "$after" = "$svc_pids" ]; then pass "after reload: the unchanged service kept its processes (pids $after)"
    else fail "after reload: the unchanged service kept its processes" "before '$svc_pids', after '$after'"; fi
    expect_text "after reload: the service route still serves (/api/)" 200 /api/ "" '"service": "hello"'
  fi
else
  fail "SIGHUP reload" "the edited manifest does not check: $out"
fi

# ---- SIGTERM: drain and exit 0 within 10 s ------------------------------------------------------
# A request in flight when SIGTERM arrives (a CGI script that takes 1 s, added to the temp copy
# only) must still complete.
slow=$root/sites/cgi-bin/smoke-slow.sh
printf '#!/bin/sh\nsleep 1\nprintf "Content-Type: text/plain\\n\\nslow done\\n"\n' >"$slow"
chmod 0755 "$slow"
curl -sS --max-time 15 -o "$tmp/slow.body" -w '%{http_code}' "$base/cgi-bin/smoke-slow.sh" \
  >"$tmp/slow.code" 2>"$tmp/slow.err" &
slow_pid=$!
sleep 0.4
start=$(date +%s%N)
kill -TERM "$pid" || true
gone=false
for _ in $(seq 1 100); do   # up to 10 s
  kill -0 "$pid" 2>/dev/null || { gone=true; break; }
  sleep 0.1
done
if $gone; then
  rc=0; wait "$pid" || rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  if [ "$rc" = 0 ]; then pass "SIGTERM: exit status 0 after ${ms} ms"
  else fail "SIGTERM: exit status 0" "exit status $rc after ${ms} ms"; fi
else
  fail "SIGTERM: exit within 10 s" "still running; killing pid $pid"
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
fi
pid=
wait "$slow_pid" 2>/dev/null || true
if [ "$(cat "$tmp/slow.code")" = 200 ] && grep -qF "slow done" "$tmp/slow.body"; then
  pass "SIGTERM: the request in flight completed (200)"
else
  fail "SIGTERM: the request in flight completed" "status $(cat "$tmp/slow.code") $(cat "$tmp/slow.err")"
fi
if grep -q 'draining' "$log"; then pass "server log shows the drain"; else fail "server log shows the drain"; fi
if [ -n "$svc_pids" ]; then
  left=
  for p in $svc_pids; do kill -0 "$p" 2>/dev/null && left="$left $p"; done
  if [ -z "$left" ]; then pass "SIGTERM: no service instance left (pids $svc_pids gone)"
  else fail "SIGTERM: no service instance left" "still running:$left"; fi
  if grep -q 'service hello: stopped' "$log"; then pass "server log shows the service stopped"
  else fail "server log shows the service stopped"; fi
fi

finished=true
if [ "$failures" -gt 0 ]; then
  echo "smoke: FAILED ($failures checks). Server log (last 20 lines):"
  tail -n 20 "$log" | sed 's/^/        /'
  exit 1
fi
echo "smoke: all checks passed"
