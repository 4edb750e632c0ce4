#!/usr/bin/env bash
# GET /json -> {"message":"Hello, World!"}: a Flaks view function (blocking and async, one loop,
# two workers) against Hummingbird 2 (one NIO event loop thread). Each server pinned to SERVER_CPU,
# wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds. Usage: bench/views.sh
# The first run builds bench/views in release, Hummingbird included (several minutes).
source "$(dirname "$0")/lib.sh"
need wrk wrk
PKG="$ROOT/bench/views"
echo "building bench/views (release)..."
# VIEWS_SCRATCH=dir reuses a build directory (e.g. one shared with bench/instructions.sh runs).
SCRATCH=${VIEWS_SCRATCH:-$PKG/.build}
(cd "$PKG" && swift build -c release --scratch-path "$SCRATCH" >/dev/null)
BIN="$SCRATCH/release"
PORT_F=18090 PORT_H=18091
cat > "$OUT/views.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: ${FLAKS_THREADS:-2}}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /
        handler: app
YAML
taskset -c "$SERVER_CPU" "$BIN/FlaksJSON" "$OUT/views.yaml" & PIDS+=($!)
wait_port $PORT_F
taskset -c "$SERVER_CPU" "$BIN/HummingbirdJSON" $PORT_H & PIDS+=($!)
wait_port $PORT_H
for url in "http://127.0.0.1:$PORT_F/json" "http://127.0.0.1:$PORT_F/json-async" "http://127.0.0.1:$PORT_H/json"; do
  echo "$url -> $(curl -s "$url")"
done
RES="$OUT/views-results.txt"; : > "$RES"
for r in $(seq 1 "$ROUNDS"); do
  run_wrk flaks "http://127.0.0.1:$PORT_F/json" | tee -a "$RES"
  run_wrk hummingbird "http://127.0.0.1:$PORT_H/json" | tee -a "$RES"
  run_wrk flaks-async "http://127.0.0.1:$PORT_F/json-async" | tee -a "$RES"
done
echo "--- GET /json, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds (client: $CLIENT)"
summarize "$RES" hummingbird
awk '{n[$1]++; r[$1]+=$2} END { if (n["flaks-async"] && n["hummingbird"]) printf "ratio flaks-async/hummingbird: %.2f\n", (r["flaks-async"]/n["flaks-async"])/(r["hummingbird"]/n["hummingbird"]) }' "$RES"
