#!/usr/bin/env bash
# Instructions per PHP request through php-fpm, counted by valgrind's callgrind (bench/instructions.sh's
# method, for the `fastcgi:` path): a figure that does not move with the machine's load, for A/B
# runs of changes to the FastCGI client (bench/fastcgi.sh's req/s vary by +-15% here). php-fpm
# (bench/fastcgi.sh's pool and page) is not counted: only the server process runs under valgrind.
# REQUESTS keep-alive requests of /hello.php go through one client connection (after 100 to warm
# up: the FastCGI connection is then kept), then it prints Ir per request, reference-counting calls
# per request and the functions with the most instructions of their own.
#   bench/fastcgi-instructions.sh                   # the image's build
#   FLAKS_BIN=/tmp/flaks-old bench/fastcgi-instructions.sh
#   COMPARE=nginx bench/fastcgi-instructions.sh     # nginx's fastcgi_pass (bench/fastcgi.sh's configuration): the reference
#   KEEP_PROFILE=/tmp/cg-fcgi.out bench/fastcgi-instructions.sh
source "$(dirname "$0")/lib.sh"
need valgrind valgrind
build_flaks
REQUESTS=${REQUESTS:-600}
PORT=${PORT:-18495}
work=$(mktemp -d /tmp/flaks-fcgi-instr.XXXXXX)
mkdir -p "$work/nginx"
start_php_fpm "$work" 2
SOCK=$PHP_SOCK
cat > "$work/c.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT"], loops: 1, threads: 2, idle_release: 0s}
limits: {max_keepalive_requests: 100000}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        fastcgi: unix:$SOCK
        root: $work/www
        max_connections: 1
YAML
cat > "$work/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 256; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream php { server unix:$SOCK; keepalive 1; }
  server {
    listen 127.0.0.1:$PORT;
    root $work/www;
    location ~ \.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_keep_conn on;
      fastcgi_pass php;
    }
  }
}
CONF
if [ "${COMPARE:-}" = nginx ]; then
  need nginx nginx-light
  cmd=(nginx -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log")
else
  strip --strip-debug -o "$work/flaks" "$FLAKS"   # valgrind cannot read a Swift binary's DWARF
  cmd=("$work/flaks" serve --config "$work/c.yaml")
fi
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "${cmd[@]}" >"$work/log" 2>&1 &
vg=$!; PIDS+=($vg)
for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && break; sleep 0.5; done
client() {
  python3 - "$PORT" "$1" <<'PY'
import re, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
req = b"GET /hello.php HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while True:
        j = buf.find(b"\r\n\r\n")
        head = buf[:j] if j >= 0 else b""
        if j >= 0 and re.search(rb"(?i)transfer-encoding:\s*chunked", head):
            k = buf.find(b"\r\n0\r\n\r\n", j)
            if k >= 0:
                if not buf.startswith(b"HTTP/1.1 200"): sys.exit("unexpected answer: %r" % buf[:200])
                buf = buf[k + 7:]
                break
        elif j >= 0:
            m = re.search(rb"(?i)content-length:\s*(\d+)", head)
            ln = int(m.group(1)) if m else 0
            if len(buf) >= j + 4 + ln:
                if not buf.startswith(b"HTTP/1.1 200"): sys.exit("unexpected answer: %r" % buf[:200])
                buf = buf[j + 4 + ln:]
                break
        d = s.recv(65536)
        if not d: sys.exit("connection closed early")
        buf += d
PY
}
echo "--- /hello.php through php-fpm: ${COMPARE:-flaks}"
callgrind_requests "$vg" "$work/cg.out"
rm -rf "$work"
