#!/usr/bin/env bash
# Static files of 1 KiB, 64 KiB and 1 MiB, with keep-alive and with Connection: close:
# Flaks (one loop) against nginx (one worker) and lighttpd (one process) serving the same
# directory, each pinned to SERVER_CPU, wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds.
# Usage: bench/static.sh        (DURATION=10s ROUNDS=3 CONNECTIONS=50 by default;
#        FILES="1k.bin" MODES=keepalive bench/static.sh for one case)
# Each line also gives the server's CPU time per request (utime+stime from /proc/PID/stat over the run).
source "$(dirname "$0")/lib.sh"
need wrk wrk
build_flaks
DOCS="$OUT/static-root"
mkdir -p "$DOCS"
head -c 1024 /dev/urandom > "$DOCS/1k.bin"
head -c 65536 /dev/urandom > "$DOCS/64k.bin"
head -c 1048576 /dev/urandom > "$DOCS/1m.bin"
PORT_F=18180 PORT_N=18181 PORT_L=18182
cat > "$OUT/static.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        static: $DOCS
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$OUT/static.yaml" & PIDS+=($!); declare -A SPID; SPID[flaks]=$!
wait_port $PORT_F
SERVERS=(flaks)
if command -v nginx >/dev/null; then
  mkdir -p "$OUT/nginx-static"
  cat > "$OUT/nginx-static/nginx.conf" <<CONF
worker_processes 1;
daemon off;
master_process off;
pid $OUT/nginx-static/nginx.pid;
error_log $OUT/nginx-static/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1000;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$PORT_N; root $DOCS; }
}
CONF
  taskset -c "$SERVER_CPU" nginx -c "$OUT/nginx-static/nginx.conf" -e "$OUT/nginx-static/error.log" & PIDS+=($!); SPID[nginx]=$!
  wait_port $PORT_N
  SERVERS+=(nginx)
fi
if command -v lighttpd >/dev/null; then
  cat > "$OUT/lighttpd.conf" <<CONF
server.document-root = "$DOCS"
server.bind = "127.0.0.1"
server.port = $PORT_L
server.max-keep-alive-requests = 1000000
server.max-connections = 4096
server.errorlog = "$OUT/lighttpd-error.log"
server.modules = ()
mimetype.assign = ( "" => "application/octet-stream" )
CONF
  taskset -c "$SERVER_CPU" lighttpd -D -f "$OUT/lighttpd.conf" & PIDS+=($!); SPID[lighttpd]=$!
  wait_port $PORT_L
  SERVERS+=(lighttpd)
fi
port_of() { case $1 in flaks) echo $PORT_F;; nginx) echo $PORT_N;; lighttpd) echo $PORT_L;; esac; }
for file in ${FILES:-1k.bin 64k.bin 1m.bin}; do
  # loadgen sends keep-alive requests only: close mode is wrk's.
  for mode in ${MODES:-keepalive $([ "$CLIENT" = loadgen ] || echo close)}; do
    RES="$OUT/static-$file-$mode.txt"; : > "$RES"
    extra=(); [ $mode = close ] && extra=(-H "Connection: close")
    for r in $(seq 1 "$ROUNDS"); do
      for s in "${SERVERS[@]}"; do CPU_PID=${SPID[$s]} run_wrk "$s" "http://127.0.0.1:$(port_of $s)/$file" "${extra[@]}" >> "$RES"; done
    done
    report "$RES" "$file, $mode, $CONNECTIONS connections, $DURATION x $ROUNDS rounds"
    awk '{n[$1]++; r[$1]+=$2} END { best=0; for (k in n) if (k!="flaks" && r[k]/n[k]>best) {best=r[k]/n[k]; bn=k}; if (best>0) printf "ratio flaks/%s (the faster peer): %.2f\n", bn, (r["flaks"]/n["flaks"])/best }' "$RES"
  done
done
