#!/usr/bin/env bash
# A trivial CGI program, compiled C and /bin/sh, at 16 concurrent clients: Flaks (one loop)
# against lighttpd's mod_cgi (one process) running the same programs, each pinned to SERVER_CPU,
# wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds, with the CPU per request of each
# server and the scripts it reaped. Usage: bench/cgi.sh
CONNECTIONS=${CONNECTIONS:-16}
source "$(dirname "$0")/lib.sh"
need wrk wrk
need gcc gcc
build_flaks
DIR="$OUT/cgi-bin"
mkdir -p "$DIR"
cat > "$OUT/hello.c" <<'C'
#include <stdio.h>
int main(void) { fputs("Content-Type: text/plain\r\n\r\nhello\n", stdout); return 0; }
C
gcc -O2 -o "$DIR/hello" "$OUT/hello.c"
printf '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello\\n"\n' > "$DIR/hello.sh"
chmod +x "$DIR/hello" "$DIR/hello.sh"
PORT_F=18380 PORT_L=18381
cat > "$OUT/cgi.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
cgi: {max_processes: 64}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /cgi-bin/
        cgi: $DIR
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$OUT/cgi.yaml" & PIDS+=($!); declare -A SPID; SPID[flaks]=$!
wait_port $PORT_F
SERVERS=(flaks)
if command -v lighttpd >/dev/null; then
  cat > "$OUT/lighttpd-cgi.conf" <<CONF
server.document-root = "$OUT"
server.bind = "127.0.0.1"
server.port = $PORT_L
server.errorlog = "$OUT/lighttpd-cgi-error.log"
server.modules = ( "mod_cgi" )
server.max-keep-alive-requests = 1000000
\$HTTP["url"] =~ "^/cgi-bin/" { cgi.assign = ( "" => "" ) }
CONF
  taskset -c "$SERVER_CPU" lighttpd -D -f "$OUT/lighttpd-cgi.conf" & PIDS+=($!); SPID[lighttpd]=$!
  wait_port $PORT_L
  SERVERS+=(lighttpd)
else
  echo "lighttpd not installed: Flaks figures only (apt-get install -y lighttpd)"
fi
port_of() { case $1 in flaks) echo $PORT_F;; lighttpd) echo $PORT_L;; esac; }
for prog in hello hello.sh; do
  for s in "${SERVERS[@]}"; do echo "$s /cgi-bin/$prog -> $(curl -s "http://127.0.0.1:$(port_of $s)/cgi-bin/$prog")"; done
  RES="$OUT/cgi-$prog.txt"; : > "$RES"
  for r in $(seq 1 "$ROUNDS"); do
    for s in "${SERVERS[@]}"; do
      CPU_PID=${SPID[$s]} CPU_CHILDREN=1 run_wrk "$s" "http://127.0.0.1:$(port_of $s)/cgi-bin/$prog" >> "$RES"
    done
  done
  # cpu: the server's and the scripts' it reaped (their exec included), per request: the work each
  # server's core did, which the host's noise moves less than req/s.
  report "$RES" "/cgi-bin/$prog, $CONNECTIONS connections, $DURATION x $ROUNDS rounds (cpu: the server and its scripts)"
done
