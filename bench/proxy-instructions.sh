#!/usr/bin/env bash
# Instructions per proxied request, counted by valgrind's callgrind (bench/instructions.sh's method,
# for the `proxy:` path): a figure that does not move with the machine's load, for A/B runs of
# changes to the reverse proxy (bench/proxy.sh's req/s and CPU/request vary by +-15% here).
# The upstream is nginx (one worker, access log off) on its own port, as in bench/proxy.sh, and is
# not counted: only the flaks process runs under valgrind. REQUESTS keep-alive requests go through
# one client connection (after 100 to warm up: the upstream connection is then pooled), then the
# script prints Ir per request, reference-counting calls per request, and the functions with the
# most instructions of their own.
# Cases (CASES=...): small (GET, 6-byte reply), upload (POST of 16 KiB, 3-byte reply).
#   bench/proxy-instructions.sh                          # the image's build
#   FLAKS_BIN=/tmp/flaks-old bench/proxy-instructions.sh
#   CASES=upload TOP=30 bench/proxy-instructions.sh
#   KEEP_PROFILE=/tmp/cg bench/proxy-instructions.sh    # keeps /tmp/cg-<case>.out (callgrind_annotate --inclusive=yes)
#   SYSCALLS=1 bench/proxy-instructions.sh              # system calls per request (strace -c) instead
#   COMPARE=nginx bench/proxy-instructions.sh           # nginx's proxy instead of flaks: the reference
source "$(dirname "$0")/lib.sh"
need valgrind valgrind
need nginx nginx-light
build_flaks
REQUESTS=${REQUESTS:-900}
PORT=${PORT:-18490}
PORT_U=${PORT_U:-18491}
work=$(mktemp -d /tmp/flaks-proxy-instr.XXXXXX)
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$PORT_U;
    location = /small { return 200 "hello\n"; }
    location = /upload { return 200 "ok\n"; }
  }
}
CONF
nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" & PIDS+=($!)
wait_port $PORT_U
cat > "$work/c.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT"], loops: 1, threads: 2, idle_release: 0s}
limits: {max_keepalive_requests: 100000}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        proxy: {to: ["http://127.0.0.1:$PORT_U"], keepalive: 32}
YAML
strip --strip-debug -o "$work/flaks" "$FLAKS"   # valgrind cannot read a Swift binary's DWARF

# nginx's proxy (bench/proxy.sh's configuration), for COMPARE=nginx.
mkdir -p "$work/nginx-proxy"
cat > "$work/nginx-proxy/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx-proxy/nginx.pid;
error_log $work/nginx-proxy/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  upstream backend { server 127.0.0.1:$PORT_U; keepalive 32; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PORT;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host \$host;
      proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto \$scheme;
      proxy_set_header X-Forwarded-Host \$host;
      proxy_max_temp_file_size 0;
    }
  }
}
CONF

client() {
  python3 - "$PORT" "$1" "$2" <<'PY'
import re, socket, sys
port, n, case = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
if case == "upload":
    body = b"x" * 16384
    req = (b"POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n"
           b"Content-Length: %d\r\n\r\n" % len(body)) + body
else:
    req = b"GET /small HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        j = buf.find(b"\r\n\r\n")
        m = re.search(rb"(?i)content-length:\s*(\d+)", buf[:j]) if j >= 0 else None
        ln = int(m.group(1)) if m else 0
        if j >= 0 and len(buf) >= j + 4 + ln:
            if not buf.startswith(b"HTTP/1.1 200"): sys.exit("unexpected answer: %r" % buf[:200])
            buf = buf[j + 4 + ln:]
            break
        d = s.recv(65536)
        if not d: sys.exit("connection closed early")
        buf += d
PY
}

summarize() { python3 "$(dirname "$0")/callgrind-summary.py" "$1" "$REQUESTS" --mallocs; }

for case in ${CASES:-small upload}; do
  case $case in small|upload) ;; *) echo "bench: unknown case $case (small, upload)"; exit 1;; esac
  if [ -n "${SYSCALLS:-}" ]; then
    # System calls per request instead (their kernel time is not in the instruction count): strace
    # attached to every thread of a warmed-up flaks for the counted requests.
    need strace strace
    if [ "${COMPARE:-}" = nginx ]; then
      nginx -c "$work/nginx-proxy/nginx.conf" -e "$work/nginx-proxy/error.log" >"$work/log-$case" 2>&1 &
    else
      "$work/flaks" serve --config "$work/c.yaml" >"$work/log-$case" 2>&1 &
    fi
    fl=$!; PIDS+=($fl)
    wait_port $PORT
    client 100 "$case"
    strace -f -c -o "$work/strace-$case" -p "$(ls /proc/$fl/task | paste -sd,)" 2>/dev/null &
    st=$!; sleep 1
    client "$REQUESTS" "$case"
    kill -INT $st; wait $st 2>/dev/null || true
    kill $fl; wait $fl 2>/dev/null || true
    echo "--- proxy, $case: system calls per request"
    awk -v n="$REQUESTS" '$NF ~ /^[a-z_0-9]+$/ && $(NF-1) ~ /^[0-9]+$/ && $NF != "total" {c=$(NF-1); if ($(NF-2) ~ /^[0-9]+$/ && NF == 6) c=$(NF-2); printf "  %6.2f  %s\n", c / n, $NF}' "$work/strace-$case" | sort -rn
    continue
  fi
  if [ "${COMPARE:-}" = nginx ]; then
    # The same requests through nginx's proxy under callgrind: the reference figure (one process:
    # master_process off).
    valgrind --tool=callgrind --callgrind-out-file="$work/cg-$case.out" nginx -c "$work/nginx-proxy/nginx.conf" -e "$work/nginx-proxy/error.log" >"$work/log-$case" 2>&1 &
  else
    valgrind --tool=callgrind --callgrind-out-file="$work/cg-$case.out" "$work/flaks" serve --config "$work/c.yaml" >"$work/log-$case" 2>&1 &
  fi
  vg=$!; PIDS+=($vg)
  for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.5; done
  client 100 "$case"
  callgrind_control -z $vg >/dev/null 2>&1
  client "$REQUESTS" "$case"
  callgrind_control -d $vg >/dev/null 2>&1
  kill $vg; wait $vg 2>/dev/null || true
  echo "--- proxy, $case ($([ "$case" = upload ] && echo "POST 16 KiB, 3-byte reply" || echo "GET, 6-byte reply"))"
  # cg-CASE.out.1 is the dump (-d) of the counted requests; cg-CASE.out, written at exit, is not counted.
  summarize "$work/cg-$case.out"
  if [ -n "${KEEP_PROFILE:-}" ]; then cp "$work/cg-$case.out".* "$KEEP_PROFILE-$case.out"; fi
done
rm -rf "$work"
