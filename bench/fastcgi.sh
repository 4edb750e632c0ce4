#!/usr/bin/env bash
# A small PHP page through php-fpm: Flaks (one loop, `fastcgi:` route) against nginx (one worker,
# master_process off so its CPU is one process's; fastcgi_pass with kept connections), both talking to the same php-fpm pool (its own config, a unix
# socket, pm = static). Each server keeps up to PHP_CONNECTIONS connections to it (Flaks'
# max_connections, nginx's upstream keepalive) and the pool has twice as many children: a kept
# connection holds a php-fpm child, so the idle server's kept connections must not starve the
# measured one. Each server is pinned to SERVER_CPU, wrk to
# CLIENT_CPU, php-fpm to PHP_CPU (default: SERVER_CPU, so both servers compete with the same PHP
# workers for the same core); the servers alternate over ROUNDS rounds. Prints requests/s, p99 and
# the server's own CPU time per request (php-fpm's excluded). Usage: bench/fastcgi.sh
# SYSCALLS=1 bench/fastcgi.sh: system calls per request of each server (strace -c), no timed rounds.
# PERFSTAT=1 bench/fastcgi.sh: user/system CPU, context switches, instructions per request (perf stat).
# PROFILE=1 bench/fastcgi.sh: each server's top user and kernel symbols under load (perf record).
CONNECTIONS=${CONNECTIONS:-16}
source "$(dirname "$0")/lib.sh"
need wrk wrk
PHP_CPU=${PHP_CPU:-$SERVER_CPU}
PHP_CONNECTIONS=${PHP_CONNECTIONS:-4}
PHP_CHILDREN=$((2 * PHP_CONNECTIONS))
build_flaks
DIR="$OUT/fastcgi"
start_php_fpm "$DIR" "$PHP_CHILDREN" "$PHP_CPU"
SOCK=$PHP_SOCK

PORT_F=18480 PORT_N=18481
cat > "$DIR/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        fastcgi: unix:$SOCK
        root: $DIR/www
        max_connections: $PHP_CONNECTIONS
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$DIR/flaks.yaml" & PIDS+=($!)
FLAKS_PID=$!
wait_port $PORT_F
SERVERS=(flaks)
NGINX_PID=
if command -v nginx >/dev/null; then
  mkdir -p "$DIR/nginx"
  cat > "$DIR/nginx/nginx.conf" <<CONF
worker_processes 1;
master_process off;
daemon off;
pid $DIR/nginx/nginx.pid;
error_log $DIR/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  upstream php { server unix:$SOCK; keepalive $PHP_CONNECTIONS; }
  server {
    listen 127.0.0.1:$PORT_N;
    root $DIR/www;
    location ~ \.php$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_keep_conn on;
      fastcgi_pass php;
    }
  }
}
CONF
  taskset -c "$SERVER_CPU" nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" & PIDS+=($!)
  NGINX_PID=$!
  wait_port $PORT_N
  SERVERS+=(nginx)
else
  echo "nginx not installed: Flaks figures only (apt-get install -y nginx-light)"
fi
port_of() { case $1 in flaks) echo $PORT_F;; nginx) echo $PORT_N;; esac; }
pid_of() { case $1 in flaks) echo $FLAKS_PID;; nginx) echo $NGINX_PID;; esac; }
for s in "${SERVERS[@]}"; do echo "$s -> $(curl -s "http://127.0.0.1:$(port_of "$s")/hello.php")"; done
if [ -n "${SYSCALLS:-}" ]; then
  # SYSCALLS=1: system calls per request of each server instead of the timed rounds.
  for s in "${SERVERS[@]}"; do syscalls_per_request "$s" "$(pid_of "$s")" "http://127.0.0.1:$(port_of "$s")/hello.php"; done
  exit 0
fi
if [ -n "${PERFSTAT:-}" ]; then
  # PERFSTAT=1: user/system CPU, context switches and instructions per request of each server (perf stat).
  for s in "${SERVERS[@]}"; do perf_per_request "$s" "$(pid_of "$s")" "http://127.0.0.1:$(port_of "$s")/hello.php"; done
  exit 0
fi
if [ -n "${PROFILE:-}" ]; then
  # PROFILE=1: the top user and kernel symbols of each server under load (perf record -e cpu-clock).
  for s in "${SERVERS[@]}"; do perf_profile "$s" "$(pid_of "$s")" "http://127.0.0.1:$(port_of "$s")/hello.php"; done
  exit 0
fi
RES="$OUT/fastcgi-results.txt"; : > "$RES"
for r in $(seq 1 "$ROUNDS"); do
  for s in "${SERVERS[@]}"; do CPU_PID=$(pid_of "$s") run_wrk "$s" "http://127.0.0.1:$(port_of "$s")/hello.php" | tee -a "$RES"; done
done
echo "--- /hello.php through php-fpm ($PHP_CHILDREN children, $PHP_CONNECTIONS connections per server), $CONNECTIONS connections, $DURATION x $ROUNDS rounds"
echo "    columns above: server req/s p99-ms server-cpu-us-per-request"
summarize "$RES" nginx
awk '$4 != "-" {n[$1]++; c[$1]+=$4} END {for (k in n) printf "%-10s %8.1f us server CPU per request\n", k, c[k]/n[k]}' "$RES" | sort
