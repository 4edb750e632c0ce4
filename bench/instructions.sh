#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind: a figure that does not move with the
# machine's load, for A/B runs of changes to the request path (req/s here varies by +-15%).
# Serves a 1 KiB file from a one-loop server and sends REQUESTS keep-alive requests on one
# connection (after 100 to warm up), then prints Ir per request, reference-counting calls per
# request, and the functions with the most instructions of their own.
#   bench/instructions.sh                 # the image's build
#   FLAKS_BIN=/tmp/flaks-old bench/instructions.sh
#   PATHQ=/fixed bench/instructions.sh    # a respond: route instead of the file
#   KEEP_PROFILE=/tmp/cg.out bench/instructions.sh   # keep the callgrind output (callgrind_annotate --inclusive=yes)
#   APP_BIN=path/to/FlaksJSON PATHQ=/json bench/instructions.sh   # a view of bench/views (all threads counted)
#   TLS=1 bench/instructions.sh           # the same over HTTPS (TLS 1.3, ECDSA P-256, one keep-alive connection)
#   TLS=1 NEWCONN=1 REQUESTS=200 bench/instructions.sh   # one request per new TLS connection (full handshakes)
#   CGI=1 REQUESTS=300 bench/instructions.sh   # bench/cgi.sh's compiled CGI program (the server's side only:
#                                              # the child is not followed past its exec)
source "$(dirname "$0")/lib.sh"
need valgrind valgrind
build_flaks
REQUESTS=${REQUESTS:-900}
PORT=${PORT:-18390}
work=$(mktemp -d /tmp/flaks-instr.XXXXXX)
head -c 1024 /dev/urandom > "$work/1k.bin"
head -c 65536 /dev/urandom > "$work/64k.bin"   # PATHQ=/64k.bin: the sendfile path
cat > "$work/c.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT"], loops: 1, threads: 2, idle_release: 0s}
limits: {max_keepalive_requests: 100000}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /fixed
        respond: "ok\\n"
      - path: /
        static: $work
YAML
PATHQ=${PATHQ:-/1k.bin}
if [ -n "${CGI:-}" ]; then
  mkdir -p "$work/cgi-bin"
  printf '#include <stdio.h>\nint main(void) { fputs("Content-Type: text/plain\\r\\n\\r\\nhello\\n", stdout); return 0; }\n' > "$work/hello.c"
  gcc -O2 -o "$work/cgi-bin/hello" "$work/hello.c"
  sed -i "s|^      - path: /fixed$|      - path: /cgi-bin/\n        cgi: $work/cgi-bin\n      - path: /fixed|" "$work/c.yaml"
  PATHQ=/cgi-bin/hello
fi
TLSPORT=$((PORT + 1))
if [ -n "${TLS:-}" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
  sed -i "s|^server: {listen: \[\"127.0.0.1:$PORT\"\],|server: {listen: [\"127.0.0.1:$PORT\"], tls_listen: [\"127.0.0.1:$TLSPORT\"],|; s|^  - names: \[\"\*\"\]|  - names: [\"*\"]\n    tls: {cert: $work/cert.pem, key: $work/key.pem}|" "$work/c.yaml"
fi
if [ -n "${APP_BIN:-}" ]; then
  # An app built on the Flaks library: its views mounted at / (`handler: app`), takes the manifest path.
  sed -i 's|^      - path: /$|      - path: /\n        handler: app\n      - path: /files/|' "$work/c.yaml"
  strip --strip-debug -o "$work/flaks" "$APP_BIN"
  cmd=("$work/flaks" "$work/c.yaml")
else
  strip --strip-debug -o "$work/flaks" "$FLAKS"   # valgrind cannot read a Swift static binary's DWARF
  cmd=("$work/flaks" serve --config "$work/c.yaml")
fi
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "${cmd[@]}" >"$work/log" 2>&1 &
vg=$!; PIDS+=($vg)
for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.5; done
client() {
  python3 - "$PORT" "$1" "$PATHQ" "${TLS:+$TLSPORT}" <<'PY'
import re, socket, ssl, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
if len(sys.argv) > 4 and sys.argv[4]:
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[4]))), server_hostname="localhost")
else:
    s = socket.create_connection(("127.0.0.1", port))
req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % sys.argv[3]).encode()
import os
if os.environ.get("NEWCONN") and len(sys.argv) > 4 and sys.argv[4]:
    s.close()
    for _ in range(n):
        c = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[4]))), server_hostname="localhost")
        c.sendall(req.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
        while c.recv(65536): pass
        c.close()
    sys.exit(0)
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        j = buf.find(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", buf[:j]) if j >= 0 else None
        ln = int(m.group(1)) if m else 0
        if j >= 0 and len(buf) >= j + 4 + ln:
            buf = buf[j + 4 + ln:]
            break
        d = s.recv(65536)
        if not d: sys.exit("connection closed early")
        buf += d
PY
}
callgrind_requests "$vg" "$work/cg.out"
rm -rf "$work"
