#!/usr/bin/env bash
# Fixed 6-byte reply with keep-alive: Flaks (one loop) against nginx (one worker), each pinned to
# SERVER_CPU, wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds, with each server's CPU time
# per request (nginx with master_process off, so its one process is the one measured). Usage: bench/engine.sh
source "$(dirname "$0")/lib.sh"
need wrk wrk
build_flaks
PORT_F=18080 PORT_N=18081
cat > "$OUT/engine.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        respond: "hello\n"
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$OUT/engine.yaml" & PIDS+=($!)
FLAKS_PID=$!
wait_port $PORT_F
HAVE_NGINX=0
if command -v nginx >/dev/null; then
  HAVE_NGINX=1
  mkdir -p "$OUT/nginx"
  cat > "$OUT/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $OUT/nginx/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PORT_N;
    location / { return 200 "hello\n"; }
  }
}
CONF
  taskset -c "$SERVER_CPU" nginx -c "$OUT/nginx/nginx.conf" -e "$OUT/nginx/error.log" & PIDS+=($!)
  NGINX_PID=$!
  wait_port $PORT_N
else
  echo "nginx not installed: Flaks figures only (apt-get install -y nginx-light)"
fi
RES="$OUT/engine-results.txt"; : > "$RES"
for r in $(seq 1 "$ROUNDS"); do
  CPU_PID=$FLAKS_PID run_wrk flaks "http://127.0.0.1:$PORT_F/" | tee -a "$RES"
  [ $HAVE_NGINX = 1 ] && CPU_PID=$NGINX_PID run_wrk nginx "http://127.0.0.1:$PORT_N/" | tee -a "$RES"
done
report "$RES" "fixed 6-byte reply, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds"
