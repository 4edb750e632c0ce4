#!/usr/bin/env bash
# A real browser loads the example sites over HTTPS from Flaks (issue 15's "Proof").
#
# The test makes its own CA (ECDSA P-256, openssl) and one leaf per name signed by it: a.test
# (serving sites/plain, the default site of config.yaml) and b.test (sites/docs), each host with
# its own certificate, chosen by SNI. Flaks (FLAKS_BIN, else the debug build of this checkout:
# `swift build --product flaks`) serves them on `tls_listen` at a free 127.0.0.1 port. Headless
# Chromium, with `--host-resolver-rules` mapping the names to 127.0.0.1 and a throwaway HOME whose
# NSS database (~/.pki/nssdb, what Chromium on Linux reads for locally trusted roots) trusts the
# test CA (`certutil -A -t "C,,"`), must then:
#   - load https://a.test:PORT/ with the page's content in the DOM (--dump-dom), its script run
#     (sites/plain/assets/app.js rewrites #js-status: the JS came over TLS with its type), and the
#     CSS, logo and image fetched over the same TLS listener (access log, JSON: tls_version, sni);
#   - load https://b.test:PORT/ (the docs site: a second certificate picked by SNI);
# and the test can fail:
#   - with a HOME whose NSS database does not trust the CA the page must NOT load
#     (net::ERR_CERT_AUTHORITY_INVALID);
#   - a name no certificate covers (c.test, which gets a.test's certificate as the default) must
#     NOT load (net::ERR_CERT_COMMON_NAME_INVALID).
# A screenshot of a.test goes to the temp dir (kept with FLAKS_BROWSER_KEEP=1, or copied to
# FLAKS_BROWSER_SCREENSHOT=path).
#
# Installs chromium and libnss3-tools (certutil) when missing and run as root. Chromium runs with
# --no-sandbox only as root (Chromium refuses to start as root with its sandbox on) or with
# FLAKS_BROWSER_NO_SANDBOX=1 (a container without user namespaces); each run is bounded by
# `timeout 60`. Everything started here is ended by pid.
#
# Prints one PASS/FAIL line per check; exits 1 if any check failed.
#   scripts/browser-check.sh
#   FLAKS_BIN=/path/to/flaks FLAKS_BROWSER_KEEP=1 scripts/browser-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

failures=0
pass() { printf 'PASS  %s\n' "$1"; }
fail() { printf 'FAIL  %s%s\n' "$1" "${2:+ -- $2}"; failures=$((failures + 1)); }
note() { printf '      %s\n' "$*"; }

# ---- tools ------------------------------------------------------------------------------------
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v certutil >/dev/null || need+=(libnss3-tools)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "browser-check: installing ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null \
      || echo "browser-check: could not install ${need[*]}"
  fi
fi
for t in chromium certutil openssl curl; do
  command -v "$t" >/dev/null || { fail "$t available" "apt-get install -y chromium libnss3-tools openssl curl"; exit 1; }
done
chromium_version=$(chromium --version 2>/dev/null | head -n 1 || true)

# ---- flaks --------------------------------------------------------------------------------------
if [ -n "${FLAKS_BIN:-}" ]; then
  flaks=$FLAKS_BIN
else
  echo "browser-check: swift build --product flaks"
  swift build --product flaks 2>&1 | tail -n 1
  flaks="$(swift build --show-bin-path)/flaks"
fi
[ -x "$flaks" ] || { fail "flaks binary" "no $flaks"; exit 1; }

tmp=$(mktemp -d /tmp/flaks-browser.XXXXXX)
pid=
finished=false
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  if [ -n "${FLAKS_BROWSER_SCREENSHOT:-}" ] && [ -s "$tmp/a.test.png" ]; then
    cp "$tmp/a.test.png" "$FLAKS_BROWSER_SCREENSHOT" || true
  fi
  if [ "${FLAKS_BROWSER_KEEP:-}" = 1 ]; then echo "browser-check: kept $tmp"; else rm -rf "$tmp"; fi
  $finished || echo "browser-check: FAILED (stopped early, after $failures failed checks)"
}
trap cleanup EXIT

# A free loopback port (the kernel's choice; a race with another process is possible but harmless:
# the server then fails to bind and the check says so).
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  else
    echo $((20000 + RANDOM % 20000))
  fi
}

# ---- a CA and two leaves ----------------------------------------------------------------------
cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -keyout ca.key -out ca.pem -subj "/CN=Flaks browser-check CA $$" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
for name in a.test b.test; do
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$name.key" -out "$name.csr" \
    -subj "/CN=$name" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' \
    "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -sha256 \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
done
if openssl verify -CAfile ca.pem a.test.pem b.test.pem >/dev/null 2>&1; then
  pass "test CA and leaves for a.test, b.test (ECDSA P-256, openssl verify)"
else
  fail "test CA and leaves" "openssl verify failed"; exit 1
fi

# Two NSS databases in two throwaway HOMEs: one trusts the CA, one is empty.
mkdir -p home-trust/.pki/nssdb home-empty/.pki/nssdb
certutil -d sql:"$tmp/home-trust/.pki/nssdb" -N --empty-password
certutil -d sql:"$tmp/home-empty/.pki/nssdb" -N --empty-password
certutil -d sql:"$tmp/home-trust/.pki/nssdb" -A -t "C,," -n flaks-test -i ca.pem
if certutil -d sql:"$tmp/home-trust/.pki/nssdb" -L | grep -q '^flaks-test  *C,,'; then
  pass "test CA trusted in a throwaway NSS database (certutil -A -t C,,)"
else
  fail "test CA in the NSS database"; exit 1
fi

# ---- the server ---------------------------------------------------------------------------------
http_port=$(free_port)
tls_port=$(free_port)
cat > flaks.yaml <<YAML
server: {listen: ["127.0.0.1:$http_port"], tls_listen: ["127.0.0.1:$tls_port"], loops: 1, threads: 2}
log: {access: $tmp/access.log, format: json, level: info}
hosts:
  - names: ["a.test"]
    tls: {cert: $tmp/a.test.pem, key: $tmp/a.test.key}
    errors: {404: /404.html}
    routes:
      - path: /
        static: $repo/sites/plain
  - names: ["b.test"]
    tls: {cert: $tmp/b.test.pem, key: $tmp/b.test.key}
    routes:
      - path: /
        static: $repo/sites/docs
YAML
"$flaks" serve --config flaks.yaml > server.log 2>&1 &
pid=$!
up=false
for _ in $(seq 1 100); do
  kill -0 "$pid" 2>/dev/null || break
  if (exec 3<>/dev/tcp/127.0.0.1/"$tls_port") 2>/dev/null; then up=true; break; fi
  sleep 0.1
done
if $up; then pass "flaks serves tls_listen 127.0.0.1:$tls_port ($flaks)"
else fail "flaks starts" "$(tail -n 5 server.log)"; exit 1; fi

# curl first: if this fails the server is at fault, not the browser.
body=$(curl -sS --max-time 10 --cacert ca.pem --resolve "a.test:$tls_port:127.0.0.1" "https://a.test:$tls_port/" 2>&1 || true)
case "$body" in *"<h1>It works.</h1>"*) pass "curl trusting the test CA gets https://a.test:$tls_port/";;
  *) fail "curl https://a.test:$tls_port/" "$(printf '%s' "$body" | head -c 200)";; esac

# ---- the browser --------------------------------------------------------------------------------
sandbox=()
if [ "$(id -u)" = 0 ] || [ "${FLAKS_BROWSER_NO_SANDBOX:-}" = 1 ]; then sandbox=(--no-sandbox); fi
# browse HOME OUT URL [extra chromium args]: one bounded headless Chromium run; DOM on OUT.dom,
# stderr on OUT.err. Every name maps to 127.0.0.1; nothing else is resolved.
browse() {
  local home=$1 out=$2 url=$3; shift 3
  HOME=$home timeout 60 chromium --headless=new "${sandbox[@]}" --disable-gpu --disable-dev-shm-usage --no-first-run \
    --no-default-browser-check --disable-background-networking --disable-component-update \
    --disable-sync --user-data-dir="$tmp/profile-$out" \
    --host-resolver-rules="MAP a.test 127.0.0.1, MAP b.test 127.0.0.1, MAP c.test 127.0.0.1, EXCLUDE localhost" \
    "$@" "$url" > "$out.dom" 2> "$out.err"
}
[ ${#sandbox[@]} -gt 0 ] && note "chromium runs with --no-sandbox (running as root)"
note "${chromium_version:-chromium}"

t0=$(date +%s)
rc=0; browse "$tmp/home-trust" a-trusted "https://a.test:$tls_port/" --dump-dom || rc=$?
if [ "$rc" -ne 0 ]; then
  fail "chromium loads https://a.test:$tls_port/ with the CA trusted" "exit $rc: $(grep -v dbus a-trusted.err | tail -n 3)"
elif grep -q '<h1>It works.</h1>' a-trusted.dom; then
  pass "chromium loads https://a.test:$tls_port/ with the CA trusted: the page's <h1>It works.</h1> is in the DOM"
else
  fail "chromium loads https://a.test:$tls_port/ with the CA trusted" "no <h1>It works.</h1> in the DOM: $(grep -v dbus a-trusted.err | tail -n 3)"
fi
if grep -q 'JavaScript ran at' a-trusted.dom; then
  pass "the page's script ran (assets/app.js fetched over TLS)"
else
  fail "the page's script ran" "#js-status not rewritten"
fi

rc=0; browse "$tmp/home-trust" b-trusted "https://b.test:$tls_port/" --dump-dom || rc=$?
if [ "$rc" -eq 0 ] && grep -q '<h1>Flaks documentation</h1>' b-trusted.dom; then
  pass "chromium loads https://b.test:$tls_port/ (the docs site, its own certificate chosen by SNI)"
else
  fail "chromium loads https://b.test:$tls_port/" "exit $rc: $(grep -v dbus b-trusted.err | tail -n 3)"
fi

rc=0; browse "$tmp/home-trust" shot "https://a.test:$tls_port/" --screenshot="$tmp/a.test.png" --window-size=1024,640 || rc=$?
if [ "$rc" -eq 0 ] && [ -s "$tmp/a.test.png" ]; then pass "screenshot of https://a.test:$tls_port/ ($(stat -c %s "$tmp/a.test.png") bytes)"
else fail "screenshot of https://a.test:$tls_port/" "exit $rc"; fi

# The access log saw the browser's requests, over TLS, with the right SNI.
sleep 0.3
ua_lines=$(grep -c 'HeadlessChrome' access.log 2>/dev/null || true)
assets=$(grep 'HeadlessChrome' access.log 2>/dev/null | grep -c -E '"uri":"/assets/(style\.css|logo\.svg|pixel\.png|app\.js)"' || true)
tls13_a=$(grep 'HeadlessChrome' access.log 2>/dev/null | grep '"sni":"a.test"' | grep -c '"tls_version":"TLSv1.3"' || true)
sni_b=$(grep 'HeadlessChrome' access.log 2>/dev/null | grep -c '"sni":"b.test"' || true)
if [ "${assets:-0}" -ge 4 ] && [ "${tls13_a:-0}" -ge 5 ] && [ "${sni_b:-0}" -ge 1 ]; then
  pass "access log: $ua_lines browser requests over TLS (page + 4 assets for a.test with TLSv1.3 and SNI a.test, SNI b.test for the docs site)"
else
  fail "access log shows the browser's TLS requests" "assets=$assets tls13(a.test)=$tls13_a sni(b.test)=$sni_b"
  tail -n 5 access.log | sed 's/^/      /'
fi
awk '/HeadlessChrome/ {print; exit}' access.log 2>/dev/null | sed 's/"user_agent":"[^"]*",//; s/^/      /'

# ---- the test can fail --------------------------------------------------------------------------
rc=0; browse "$tmp/home-empty" a-untrusted "https://a.test:$tls_port/" --dump-dom || rc=$?
if grep -q '<h1>It works.</h1>' a-untrusted.dom; then
  fail "without the CA trusted the page does not load" "it loaded"
elif grep -q 'ERR_CERT_AUTHORITY_INVALID' a-untrusted.err; then
  pass "without the CA trusted the page does not load (net::ERR_CERT_AUTHORITY_INVALID)"
else
  fail "without the CA trusted the page does not load" "not for the expected reason: $(grep -v dbus a-untrusted.err | tail -n 2)"
fi

rc=0; browse "$tmp/home-trust" c-wrong-name "https://c.test:$tls_port/" --dump-dom || rc=$?
if grep -q '<h1>It works.</h1>' c-wrong-name.dom; then
  fail "a name no certificate covers does not load" "c.test loaded"
elif grep -q 'ERR_CERT_COMMON_NAME_INVALID' c-wrong-name.err; then
  pass "a name no certificate covers does not load (c.test gets a.test's certificate: net::ERR_CERT_COMMON_NAME_INVALID)"
else
  fail "a name no certificate covers does not load" "not for the expected reason: $(grep -v dbus c-wrong-name.err | tail -n 2)"
fi
note "browser runs took $(( $(date +%s) - t0 )) s"

# ---- the server survived ------------------------------------------------------------------------
if kill -0 "$pid" 2>/dev/null; then pass "flaks still running after the refused handshakes"
else fail "flaks still running" "$(tail -n 5 server.log)"; fi

finished=true
if [ "$failures" -gt 0 ]; then echo "browser-check: FAILED ($failures checks)"; exit 1; fi
echo "browser-check: all checks passed"
