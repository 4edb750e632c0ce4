#!/usr/bin/env bash
# HTTPS: a 1 KiB static file over TLS 1.3,
#   keepalive  one handshake per connection, then requests (the cost of record encryption), and
#   close      `Connection: close` on every request, so every request is a new TCP connection and a
#              new TLS handshake (handshakes per second).
# Flaks (`tls_listen`, one loop) against nginx (`ssl`, one worker) and Caddy (GOMAXPROCS=1, when
# installed), each pinned to SERVER_CPU, wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds.
# Same work on every server: the same ECDSA P-256 certificate (made here with openssl), TLS 1.3
# only, the same TLS 1.3 suites and groups as Flaks (nginx: ssl_conf_command Ciphersuites, the
# client's preference wins on both; Go's crypto/tls, i.e. Caddy, chooses its own suite and does
# not let it be configured), no server-side session cache, stateless session tickets on (the
# default of all three), access logs off. The negotiated version, suite and key exchange of each
# server are printed before the runs.
# What "close" measures: wrk keeps the TLS session of a connection it closed cleanly and offers it
# on the next one, so with tickets on (all three servers) most new connections are resumed
# handshakes (PSK with ECDHE: still one X25519 exchange each side, no certificate signature),
# which is also what browsers do on returning connections. The first connection of each wrk
# connection slot is a full handshake (ECDSA P-256 signature).
#   full       every connection a full handshake (ECDHE + ECDSA P-256 signature, no resumption):
#              S_TIME_CLIENTS (default 4) `openssl s_time -new` clients in parallel on CLIENT_CPU,
#              one HTTP/1.0 GET per connection. s_time is a slow client: the connections per
#              second may be the client's limit; the server's CPU per connection is the figure.
# Usage: bench/tls.sh      (DURATION=10s ROUNDS=3 CONNECTIONS=50 by default;
#        MODES=close bench/tls.sh for one case: keepalive, 1m (a 1 MiB file, keep-alive), close, full)
source "$(dirname "$0")/lib.sh"
need wrk wrk
need openssl openssl
need curl curl
build_flaks
PORT_P=18580 PORT_F=18581 PORT_N=18582 PORT_C=18583
DIR="$OUT/tls"
mkdir -p "$DIR/root" "$DIR/nginx"
head -c 1024 /dev/urandom > "$DIR/root/1k.bin"
head -c 1048576 /dev/urandom > "$DIR/root/1m.bin"
if [ ! -s "$DIR/cert.pem" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -keyout "$DIR/key.pem" -out "$DIR/cert.pem" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
fi
SUITES="TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"   # FlaksTLS TLSPolicy.tls13Ciphersuites

declare -A SPID
cat > "$DIR/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_P"], tls_listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
tls: {min_version: "1.3"}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    tls: {cert: $DIR/cert.pem, key: $DIR/key.pem}
    routes:
      - path: /
        static: $DIR/root
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$DIR/flaks.yaml" & PIDS+=($!); SPID[flaks]=$!
wait_port $PORT_F
SERVERS=(flaks)

if command -v nginx >/dev/null; then
  cat > "$DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT_N ssl;
    root $DIR/root;
    ssl_certificate $DIR/cert.pem;
    ssl_certificate_key $DIR/key.pem;
    ssl_protocols TLSv1.3;
    ssl_conf_command Ciphersuites $SUITES;
    ssl_prefer_server_ciphers off;
    ssl_ecdh_curve X25519:prime256v1:secp384r1;
    ssl_session_cache off;
    ssl_session_tickets on;
  }
}
CONF
  taskset -c "$SERVER_CPU" nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" & PIDS+=($!); SPID[nginx]=$!
  wait_port $PORT_N
  SERVERS+=(nginx)
else
  echo "nginx not installed: no nginx figures (apt-get install -y nginx-light)"
fi

if command -v caddy >/dev/null; then
  cat > "$DIR/Caddyfile" <<CONF
{
  admin off
  auto_https off
  log {
    level ERROR
  }
}
https://127.0.0.1:$PORT_C, https://localhost:$PORT_C {
  bind 127.0.0.1
  tls $DIR/cert.pem $DIR/key.pem {
    protocols tls1.3
  }
  root * $DIR/root
  file_server
}
CONF
  GOMAXPROCS=1 XDG_DATA_HOME="$DIR/caddy-data" XDG_CONFIG_HOME="$DIR/caddy-config" \
    taskset -c "$SERVER_CPU" caddy run --config "$DIR/Caddyfile" --adapter caddyfile > "$DIR/caddy.log" 2>&1 & PIDS+=($!); SPID[caddy]=$!
  wait_port $PORT_C
  SERVERS+=(caddy)
else
  echo "caddy not installed: no caddy figures (apt-get install -y caddy)"
fi

port_of() { case $1 in flaks) echo $PORT_F;; nginx) echo $PORT_N;; caddy) echo $PORT_C;; esac; }
for s in "${SERVERS[@]}"; do
  check_get "$s" "https://127.0.0.1:$(port_of "$s")/1k.bin"
  neg=$(openssl s_client -connect "127.0.0.1:$(port_of "$s")" -servername localhost </dev/null 2>/dev/null |
        awk '/^New, / {v=$2; c=$NF} /Server Temp Key/ {k=$4} /^Peer signature type/ {sig=$4} END {print v, c, k, sig}')
  echo "$s negotiated: $neg"
done
# run_stime NAME PORT -> "NAME connections/s - cpu_us_per_connection": S_TIME_CLIENTS `openssl s_time
# -new` processes on CLIENT_CPU, each making full handshakes (a new session every time) and one
# HTTP/1.0 GET of the 1 KiB file per connection, for DURATION; the server's CPU over the run divided
# by the connections made. No latency figure (s_time gives none).
run_stime() {
  local name=$1 port=$2 secs t0 t1 w0 w1 total cpu i clients=()
  secs=$(awk -v d="$DURATION" 'BEGIN{n=d+0; if (d ~ /m$/) n*=60; printf "%d", (n < 1 ? 1 : n)}')
  rm -f "$DIR"/stime-"$name"-*.txt
  t0=$(cpu_ticks "${SPID[$name]}"); w0=$(date +%s%N)
  for i in $(seq 1 "$S_TIME_CLIENTS"); do
    taskset -c "$CLIENT_CPU" openssl s_time -connect "127.0.0.1:$port" -new -time "$secs" -www /1k.bin \
      > "$DIR/stime-$name-$i.txt" 2>&1 & clients+=($!)
  done
  wait "${clients[@]}"
  t1=$(cpu_ticks "${SPID[$name]}"); w1=$(date +%s%N)
  total=$(cat "$DIR"/stime-"$name"-*.txt | awk '/connections in .* real seconds/ {n += $1} END {print n+0}')
  cpu=-
  [ "$total" -gt 0 ] && cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$total" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
  echo "$name $(awk -v n="$total" -v w=$((w1 - w0)) 'BEGIN{printf "%.0f", n * 1e9 / w}') - $cpu"
}
S_TIME_CLIENTS=${S_TIME_CLIENTS:-4}
for mode in ${MODES:-keepalive 1m close full}; do
  RES="$OUT/tls-1k-$mode.txt"; : > "$RES"
  extra=(); [ "$mode" = close ] && extra=(-H "Connection: close")
  file=1k.bin; [ "$mode" = 1m ] && file=1m.bin
  for r in $(seq 1 "$ROUNDS"); do
    for s in "${SERVERS[@]}"; do
      if [ "$mode" = full ]; then
        run_stime "$s" "$(port_of "$s")" >> "$RES"
      else
        CPU_PID=${SPID[$s]} run_wrk "$s" "https://127.0.0.1:$(port_of "$s")/$file" "${extra[@]}" >> "$RES"
      fi
    done
  done
  case $mode in
    keepalive) what="keep-alive, $CONNECTIONS connections";;
    1m) what="1 MiB file, keep-alive, $CONNECTIONS connections";;
    close) what="new connection + TLS 1.3 handshake per request (resumed by ticket after each slot's first), $CONNECTIONS connections";;
    full) what="new connection + full TLS 1.3 handshake per request (openssl s_time -new), $S_TIME_CLIENTS clients";;
    *) echo "bench: unknown mode $mode (keepalive, 1m, close, full)"; exit 1;;
  esac
  report "$RES" "HTTPS $([ "$mode" = 1m ] && echo 1 MiB || echo 1 KiB), $what, $DURATION x $ROUNDS rounds"
done
