#!/usr/bin/env bash
# Reverse proxy: one upstream, the same for every proxy, behind
#   flaks  `proxy:` (keepalive 32 to the upstream),
#   nginx  `proxy_pass` to an `upstream { keepalive 32; }` with `proxy_http_version 1.1`,
#   caddy  `reverse_proxy` (keep-alive, 32 idle connections per host) when caddy is installed.
# The upstream is nginx (one worker, access log off) on its own port: `return 200 "hello\n"` for the
# small reply, a 64 KiB file (sendfile) for the large one, `return 200` for the upload (nginx reads
# and discards the body). It is pinned to UPSTREAM_CPU (default: CLIENT_CPU, with wrk) so that the
# proxy alone has SERVER_CPU; the CPU per request printed is the proxy's only.
# Cases (CASES=...): small (6-byte reply, keep-alive), 64k (64 KiB reply, keep-alive),
# upload (POST of 16 KiB, 3-byte reply, keep-alive).
# Same work on every proxy: access logs off; the client's Host is passed; X-Forwarded-For,
# -Proto and -Host are set (Flaks and Caddy do it unasked, nginx is told to); nothing is cached;
# nginx keeps responses and request bodies in memory (proxy_max_temp_file_size 0,
# client_body_buffer_size 64k: no temp files), as Flaks and Caddy stream without disk.
# Usage: bench/proxy.sh      (DURATION=10s ROUNDS=3 CONNECTIONS=50 by default;
#        CASES="small" bench/proxy.sh for one case)
source "$(dirname "$0")/lib.sh"
need wrk wrk
need nginx nginx-light
need curl curl
build_flaks
UPSTREAM_CPU=${UPSTREAM_CPU:-$CLIENT_CPU}
PORT_U=18480 PORT_F=18481 PORT_N=18482 PORT_C=18483
DIR="$OUT/proxy"
mkdir -p "$DIR/upstream-root" "$DIR/nginx-upstream" "$DIR/nginx-proxy"
head -c 65536 /dev/urandom > "$DIR/upstream-root/64k.bin"
head -c 16384 /dev/zero | tr "\0" x > "$DIR/16k.body"
printf 'wrk.method = "POST"\nwrk.body = string.rep("x", 16384)\nwrk.headers["Content-Type"] = "application/octet-stream"\n' > "$DIR/post16k.lua"

# The upstream.
cat > "$DIR/nginx-upstream/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $DIR/nginx-upstream/nginx.pid;
error_log $DIR/nginx-upstream/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  keepalive_timeout 75s;
  default_type application/octet-stream;
  client_body_buffer_size 64k;
  server {
    listen 127.0.0.1:$PORT_U;
    root $DIR/upstream-root;
    location = /small { return 200 "hello\n"; }
    location = /upload { return 200 "ok\n"; }
  }
}
CONF
taskset -c "$UPSTREAM_CPU" nginx -c "$DIR/nginx-upstream/nginx.conf" -e "$DIR/nginx-upstream/error.log" & PIDS+=($!)
wait_port $PORT_U

declare -A SPID
cat > "$DIR/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        proxy: {to: ["http://127.0.0.1:$PORT_U"], keepalive: 32}
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$DIR/flaks.yaml" & PIDS+=($!); SPID[flaks]=$!
wait_port $PORT_F
SERVERS=(flaks)

cat > "$DIR/nginx-proxy/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $DIR/nginx-proxy/nginx.pid;
error_log $DIR/nginx-proxy/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  tcp_nodelay on;
  keepalive_requests 1000000;
  client_body_buffer_size 64k;
  upstream backend { server 127.0.0.1:$PORT_U; keepalive 32; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:$PORT_N;
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
taskset -c "$SERVER_CPU" nginx -c "$DIR/nginx-proxy/nginx.conf" -e "$DIR/nginx-proxy/error.log" & PIDS+=($!); SPID[nginx]=$!
wait_port $PORT_N
SERVERS+=(nginx)

if command -v caddy >/dev/null; then
  cat > "$DIR/Caddyfile" <<CONF
{
  admin off
  auto_https off
  log {
    level ERROR
  }
}
http://127.0.0.1:$PORT_C {
  bind 127.0.0.1
  reverse_proxy 127.0.0.1:$PORT_U {
    transport http {
      keepalive 60s
      keepalive_idle_conns_per_host 32
    }
  }
}
CONF
  GOMAXPROCS=1 XDG_DATA_HOME="$DIR/caddy-data" XDG_CONFIG_HOME="$DIR/caddy-config" \
    taskset -c "$SERVER_CPU" caddy run --config "$DIR/Caddyfile" --adapter caddyfile > "$DIR/caddy.log" 2>&1 & PIDS+=($!); SPID[caddy]=$!
  wait_port $PORT_C
  SERVERS+=(caddy)
else
  echo "caddy not installed: flaks and nginx only (apt-get install -y caddy)"
fi

port_of() { case $1 in flaks) echo $PORT_F;; nginx) echo $PORT_N;; caddy) echo $PORT_C;; esac; }
for case in ${CASES:-small 64k upload}; do
  extra=()
  case $case in
    small) path=/small; title="6-byte reply";;
    64k) path=/64k.bin; title="64 KiB reply";;
    upload) path=/upload; title="POST 16 KiB, 3-byte reply"; extra=(-s "$DIR/post16k.lua");;
    *) echo "bench: unknown case $case (small, 64k, upload)"; exit 1;;
  esac
  for s in "${SERVERS[@]}"; do
    if [ "$case" = upload ]; then
      check_get "$s" "http://127.0.0.1:$(port_of "$s")$path" --data-binary @"$DIR/16k.body" -H 'Content-Type: application/octet-stream'
    else
      check_get "$s" "http://127.0.0.1:$(port_of "$s")$path"
    fi
  done
  RES="$OUT/proxy-$case.txt"; : > "$RES"
  for r in $(seq 1 "$ROUNDS"); do
    for s in "${SERVERS[@]}"; do
      CPU_PID=${SPID[$s]} run_wrk "$s" "http://127.0.0.1:$(port_of "$s")$path" "${extra[@]}" >> "$RES"
    done
  done
  report "$RES" "proxy, $title, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds (cpu: the proxy's)"
done
