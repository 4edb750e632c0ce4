#!/usr/bin/env bash
# Compression and Basic auth, keep-alive, each server pinned to SERVER_CPU (one loop / one worker /
# one process, Caddy with GOMAXPROCS=1), the client pinned to CLIENT_CPU, alternating over ROUNDS
# rounds. Each line is named after the work its server does.
#
# 1. A 100 KiB static HTML page (generated here, compresses about 4:1), `Accept-Encoding: gzip`,
#    then `br`, then `zstd` (CASES=...). Flaks compresses a static file once per file version and
#    coding (gzip level 9 memLevel 9, Brotli quality 10 window 2^20, zstd level 19:
#    CompressionParameters.staticFile, docs/compression.md) and keeps the result in memory, so in
#    the steady state a request costs a cache lookup and a send, never a compression.
#    The comparison issue 16 asks for, and the headline ratio "flaks/nginx gzip":
#      nginx-gzipN   `gzip on; gzip_comp_level N`, N = NGINX_GZIP_LEVEL (default 6; the issue says
#                    5-6, the level most sites run): nginx compresses the page on every request.
#      caddy         `encode gzip zstd` with Caddy's default levels, also on every request (gzip
#                    and zstd cases; Caddy 2.6 has no Brotli encoder).
#    The peers that do the same work as Flaks (compress once, then send the stored bytes):
#      nginx-static  `gzip_static on` with page.html.gz made by `gzip -9` next to the page: a
#                    precompressed file, sent with sendfile (nginx has no Brotli or zstd module here);
#      lighttpd      mod_deflate with `deflate.cache-dir`: compressed once (level 9; Brotli quality
#                    10 window 2^20; zstd level 19), cached on disk, then sent with sendfile.
#    The body size each server sends is printed before the runs (Flaks sends level 9, nginx level
#    N, so nginx's body is a little larger at 6; lighttpd's gzip comes from libdeflate).
# 2. A 16 KiB JSON document compressed on every request with gzip level 5 by all (`dynamic`): Flaks
#    serves it from a `respond:` route (no file, no cache: compressed per request, the cost a view
#    function's JSON pays; level 5 = CompressionParameters.streaming), nginx with `gzip on;
#    gzip_comp_level 5`, lighttpd with mod_deflate level 5 without a cache and Caddy with
#    `encode { gzip 5 }` serve the same bytes from a file (the compression dominates).
# 3. A bcrypt-protected URL at AUTH_REQUESTS (default 1,000) requests with correct credentials
#    (`auth`): `ab -n 1000 -c AUTH_CONCURRENCY -k -A user:password` on a 1 KiB file behind HTTP Basic
#    auth. One htpasswd file made by `htpasswd -B -C BCRYPT_COST` (default cost 5, htpasswd's own
#    default) serves all three, so each checks the same hash:
#      flaks         a route with `auth: {realm, users}`: bcrypt on the worker pool, a success
#                    cached for 60 s (an HMAC of user, password and hash; docs/access.md), so 1,000
#                    requests cost one bcrypt check;
#      nginx         `auth_basic` + `auth_basic_user_file`: crypt_r(3) from libxcrypt, which knows
#                    $2y$, on every request (nginx caches nothing);
#      caddy         `basicauth` with the same hash base64-encoded (Caddy 2.6's Caddyfile form): Go's
#                    bcrypt, and the Caddyfile turns its hash cache on (`hash_cache: {}`).
#    Before the runs each server must answer 401 without credentials, 401 with a wrong password and
#    200 with the right one. `auth-wrong` (not in the default CASES) sends a wrong password every
#    time: no cache helps, every request is a bcrypt check everywhere (the cost of a guessing client).
# Vary: Accept-Encoding is sent by all; access logs off everywhere; `compress:` of Flaks is its defaults.
# Usage: bench/compress.sh      (DURATION=10s ROUNDS=3 CONNECTIONS=50 by default;
#        CASES="gzip auth" bench/compress.sh for some cases: gzip br zstd dynamic auth auth-wrong;
#        NGINX_GZIP_LEVEL=5, BCRYPT_COST=10, AUTH_REQUESTS=1000, AUTH_CONCURRENCY=10)
source "$(dirname "$0")/lib.sh"
CASES=${CASES:-gzip br zstd dynamic auth}
need wrk wrk
need curl curl
need python3 python3
need htpasswd apache2-utils
case " $CASES " in *" auth"*) need ab apache2-utils;; esac
build_flaks
NGINX_GZIP_LEVEL=${NGINX_GZIP_LEVEL:-6}
BCRYPT_COST=${BCRYPT_COST:-5}
AUTH_REQUESTS=${AUTH_REQUESTS:-1000}
AUTH_CONCURRENCY=${AUTH_CONCURRENCY:-10}
AUTH_USER=bench AUTH_PASSWORD=correct-horse-battery
PORT_F=18681 PORT_N=18682 PORT_L=18683 PORT_C=18684
DIR="$OUT/compress"
rm -rf "$DIR/lighttpd-cache"
mkdir -p "$DIR/root/dyn" "$DIR/root/priv" "$DIR/root-pre" "$DIR/nginx" "$DIR/lighttpd-cache"
python3 - "$DIR" <<'PY'
import json, random, sys
d = sys.argv[1]
rnd = random.Random(7)
words = ("server host route proxy static file request response header body cache compress loop "
         "socket event timer worker thread config manifest reload signal status metric latency "
         "client upstream keepalive connection stream chunk length encoding token value field").split()
def phrase(n): return " ".join(rnd.choice(words) for _ in range(n))
rows, size = [], 0
while size < 100 * 1024 - 400:
    i = len(rows)
    row = (f'<tr class="r{i % 7}"><td><a href="/items/{i}/{rnd.randrange(10**6)}">{phrase(3)}</a></td>'
           f'<td>{rnd.randrange(10**5)}</td><td>{phrase(rnd.randrange(4, 12))}</td></tr>\n')
    rows.append(row); size += len(row)
page = ('<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>items</title></head>\n'
        '<body><h1>Items</h1><table>\n' + "".join(rows) + '</table></body></html>\n')
page = page[:100 * 1024 - 22] + '</table></body></html>\n'
open(f"{d}/root/page.html", "w").write(page)
items = []
while len(json.dumps(items)) < 16 * 1024 - 200:
    items.append({"id": len(items), "name": phrase(2), "tags": [rnd.choice(words) for _ in range(3)],
                  "score": rnd.randrange(1000), "active": rnd.random() < 0.5})
open(f"{d}/root/dyn/dyn.json", "w").write(json.dumps({"items": items}, separators=(",", ":")))
PY
cp "$DIR/root/page.html" "$DIR/root-pre/page.html"
gzip -9 -n -c "$DIR/root/page.html" > "$DIR/root-pre/page.html.gz"
touch -r "$DIR/root/page.html" "$DIR/root-pre/page.html" "$DIR/root-pre/page.html.gz"
# The protected file (1 KiB, below nobody's compression threshold that matters: ab asks for no coding).
head -c 1024 "$DIR/root/page.html" > "$DIR/root/priv/index.html"
# One bcrypt hash for all servers: htpasswd -B ($2y$) at BCRYPT_COST.
rm -f "$DIR/users.htpasswd"
htpasswd -cbB -C "$BCRYPT_COST" "$DIR/users.htpasswd" "$AUTH_USER" "$AUTH_PASSWORD" 2>/dev/null
HASH=$(cut -d: -f2 "$DIR/users.htpasswd")

declare -A SPID
# The JSON goes into the manifest as a YAML single-quoted scalar (it holds no single quote).
cat > "$DIR/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
limits: {max_keepalive_requests: 1000000}   # as the peers: no reconnects mid-run
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /dyn/dyn.json
        respond: '$(cat "$DIR/root/dyn/dyn.json")'
        type: application/json
      - path: /priv/
        static: $DIR/root/priv
        auth: {realm: "bench", users: $DIR/users.htpasswd}
      - path: /
        static: $DIR/root
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$DIR/flaks.yaml" & PIDS+=($!); SPID[flaks]=$!
wait_port $PORT_F

HAVE_NGINX=0
if command -v nginx >/dev/null; then
  HAVE_NGINX=1
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
  types { text/html html; application/json json; }
  default_type application/octet-stream;
  gzip_vary on;
  gzip_types application/json;   # text/html is always in gzip_types
  gzip_min_length 1024;
  server {
    listen 127.0.0.1:$PORT_N;
    location /static/ { alias $DIR/root-pre/; gzip_static on; }
    location /gzip/ { alias $DIR/root/; gzip on; gzip_comp_level $NGINX_GZIP_LEVEL; }
    location /dyn/ { root $DIR/root; gzip on; gzip_comp_level 5; }
    location /priv/ { root $DIR/root; auth_basic "bench"; auth_basic_user_file $DIR/users.htpasswd; }
  }
}
CONF
  taskset -c "$SERVER_CPU" nginx -c "$DIR/nginx/nginx.conf" -e "$DIR/nginx/error.log" & PIDS+=($!); SPID[nginx]=$!
  wait_port $PORT_N
else
  echo "nginx not installed: no nginx figures (apt-get install -y nginx-light)"
fi

HAVE_LIGHTTPD=0
if command -v lighttpd >/dev/null && [ -e /usr/lib/lighttpd/mod_deflate.so ]; then
  HAVE_LIGHTTPD=1
  cat > "$DIR/lighttpd.conf" <<CONF
server.document-root = "$DIR/root"
server.bind = "127.0.0.1"
server.port = $PORT_L
server.max-keep-alive-requests = 1000000
server.max-connections = 4096
server.errorlog = "$DIR/lighttpd-error.log"
server.modules = ( "mod_deflate" )
mimetype.assign = ( ".html" => "text/html", ".json" => "application/json" )
deflate.mimetypes = ( "text/html", "application/json" )
deflate.allowed-encodings = ( "zstd", "brotli", "gzip" )
deflate.cache-dir = "$DIR/lighttpd-cache"
deflate.compression-level = 9
deflate.params = ( "BROTLI_PARAM_QUALITY" => "10", "BROTLI_PARAM_LGWIN" => "20", "ZSTD_c_compressionLevel" => "19" )
\$HTTP["url"] =~ "^/dyn/" {
  deflate.cache-dir = ""
  deflate.compression-level = 5
}
CONF
  taskset -c "$SERVER_CPU" lighttpd -D -f "$DIR/lighttpd.conf" & PIDS+=($!); SPID[lighttpd]=$!
  wait_port $PORT_L
else
  echo "lighttpd or lighttpd-mod-deflate not installed: no lighttpd figures (apt-get install -y lighttpd lighttpd-mod-deflate)"
fi

HAVE_CADDY=0
if command -v caddy >/dev/null; then
  HAVE_CADDY=1
  # Caddy 2.6's Caddyfile takes the bcrypt hash base64-encoded (later versions take it as is).
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
  root * $DIR/root
  handle /dyn/* {
    encode {
      gzip 5
    }
    file_server
  }
  handle /priv/* {
    basicauth bcrypt bench {
      $AUTH_USER $(printf %s "$HASH" | base64 -w0)
    }
    file_server
  }
  handle {
    encode gzip zstd
    file_server
  }
}
CONF
  GOMAXPROCS=1 XDG_DATA_HOME="$DIR/caddy-data" XDG_CONFIG_HOME="$DIR/caddy-config" \
    taskset -c "$SERVER_CPU" caddy run --config "$DIR/Caddyfile" --adapter caddyfile > "$DIR/caddy.log" 2>&1 & PIDS+=($!); SPID[caddy]=$!
  wait_port $PORT_C
else
  echo "caddy not installed: no caddy figures (apt-get install -y caddy)"
fi

# "name server url" lines for a case.
targets() {
  case $1 in
    gzip)
      echo "flaks flaks http://127.0.0.1:$PORT_F/page.html"
      [ $HAVE_NGINX = 1 ] && echo "nginx-gzip$NGINX_GZIP_LEVEL nginx http://127.0.0.1:$PORT_N/gzip/page.html"
      [ $HAVE_CADDY = 1 ] && echo "caddy caddy http://127.0.0.1:$PORT_C/page.html"
      [ $HAVE_NGINX = 1 ] && echo "nginx-static nginx http://127.0.0.1:$PORT_N/static/page.html"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/page.html";;
    br)
      echo "flaks flaks http://127.0.0.1:$PORT_F/page.html"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/page.html";;
    zstd)
      echo "flaks flaks http://127.0.0.1:$PORT_F/page.html"
      [ $HAVE_CADDY = 1 ] && echo "caddy caddy http://127.0.0.1:$PORT_C/page.html"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/page.html";;
    dynamic)
      echo "flaks flaks http://127.0.0.1:$PORT_F/dyn/dyn.json"
      [ $HAVE_NGINX = 1 ] && echo "nginx nginx http://127.0.0.1:$PORT_N/dyn/dyn.json"
      [ $HAVE_CADDY = 1 ] && echo "caddy caddy http://127.0.0.1:$PORT_C/dyn/dyn.json"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/dyn/dyn.json";;
    auth|auth-wrong)
      echo "flaks flaks http://127.0.0.1:$PORT_F/priv/index.html"
      [ $HAVE_NGINX = 1 ] && echo "nginx nginx http://127.0.0.1:$PORT_N/priv/index.html"
      [ $HAVE_CADDY = 1 ] && echo "caddy caddy http://127.0.0.1:$PORT_C/priv/index.html";;
  esac
  return 0
}

# status_of URL [curl args] -> the status code ("000" when nothing answered)
status_of() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@" || true; }

# check_auth NAME URL: 401 without credentials and with a wrong password, 200 with the right one;
# exits otherwise (an unprotected URL would look fast).
check_auth() {
  local name=$1 url=$2 none wrong right
  none=$(status_of "$url")
  wrong=$(status_of -u "$AUTH_USER:wrong-$AUTH_PASSWORD" "$url")
  right=$(status_of -u "$AUTH_USER:$AUTH_PASSWORD" "$url")
  echo "$name $url -> no credentials $none, wrong password $wrong, right password $right"
  if [ "$none" != 401 ] || [ "$wrong" != 401 ] || [ "$right" != 200 ]; then
    echo "bench: $name does not protect $url as expected (want 401, 401, 200)"; exit 1
  fi
}

# cpu_ns PID -> CPU time of the process's live threads in nanoseconds (sum of the first field of
# /proc/PID/task/*/schedstat). 1,000 cached checks take a few ms, below the 10 ms tick of
# /proc/PID/stat that run_wrk uses; a thread that exits during the run would lose its time (the
# servers here keep theirs).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{n += $1} END {printf "%.0f", n}'; }

# run_ab NAME URL PASSWORD -> "NAME rps p99ms cpu_us_per_request client_busy% [errors]": AUTH_REQUESTS requests
# with Basic credentials over AUTH_CONCURRENCY keep-alive connections (ab -k), ab pinned to
# CLIENT_CPU, the server's CPU time (CPU_PID) over the run divided by the requests completed.
# With EXPECT_STATUS=401 (auth-wrong) ab's "Non-2xx responses" are the expected answers.
run_ab() {
  local name=$1 url=$2 password=$3 out t0 t1 rps p99 done_ failed non2xx cpu errs=""
  local k0 k1 busy
  k0=$(core_ticks "$CLIENT_CPU")
  t0=$(cpu_ns "$CPU_PID")
  out=$(timeout 600 taskset -c "$CLIENT_CPU" ab -q -n "$AUTH_REQUESTS" -c "$AUTH_CONCURRENCY" -k \
        -A "$AUTH_USER:$password" "$url" 2>&1) || true
  t1=$(cpu_ns "$CPU_PID")
  k1=$(core_ticks "$CLIENT_CPU")
  busy=$(core_busy "$k0" "$k1")
  echo "$out" > "$OUT/ab-$name-$(date +%s%N).txt"
  rps=$(echo "$out" | awk '/^Requests per second/ {print $4}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  done_=$(echo "$out" | awk '/^Complete requests/ {print $3}')
  failed=$(echo "$out" | awk '/^Failed requests/ {print $3}')
  non2xx=$(echo "$out" | awk '/^Non-2xx responses/ {print $3}')
  cpu=-
  if [ "${done_:-0}" -gt 0 ]; then
    cpu=$(awk -v t=$((t1 - t0)) -v n="$done_" 'BEGIN{printf "%.2f", t / 1000 / n}')
  fi
  [ "${done_:-0}" = "$AUTH_REQUESTS" ] || errs="$errs complete=${done_:-0}/$AUTH_REQUESTS"
  [ "${failed:-0}" = 0 ] || errs="$errs failed=$failed"
  if [ "${EXPECT_STATUS:-200}" = 200 ]; then
    [ -z "$non2xx" ] || errs="$errs non-2xx=$non2xx"
  else
    [ "${non2xx:-0}" = "${done_:-0}" ] || errs="$errs 2xx=$(( ${done_:-0} - ${non2xx:-0} ))"
  fi
  echo "$name ${rps:-0} ${p99:-0} $cpu $busy$errs"
}

for case in $CASES; do
  case $case in
    gzip|dynamic) enc=gzip;; br|zstd) enc=$case;; auth|auth-wrong) enc=;;
    *) echo "bench: unknown case $case (gzip, br, zstd, dynamic, auth, auth-wrong)"; exit 1;;
  esac
  [ "$case" = br ] && echo "(br: nginx has no Brotli module in Debian's nginx-light, Caddy 2.6 no Brotli encoder; Flaks vs lighttpd only)"
  mapfile -t T < <(targets "$case")
  for t in "${T[@]}"; do
    read -r name _ url <<< "$t"
    if [ -z "$enc" ]; then check_auth "$name" "$url"; continue; fi
    line=$(check_get "$name" "$url" -H "Accept-Encoding: $enc") || { echo "$line"; exit 1; }
    echo "$line"
    case "$line" in *", $enc") ;; *) echo "bench: $name did not answer with $enc"; exit 1;; esac
  done
  RES="$OUT/compress-$case.txt"; : > "$RES"
  for r in $(seq 1 "$ROUNDS"); do
    for t in "${T[@]}"; do
      read -r name server url <<< "$t"
      case $case in
        auth) CPU_PID=${SPID[$server]} run_ab "$name" "$url" "$AUTH_PASSWORD" >> "$RES";;
        auth-wrong) EXPECT_STATUS=401 CPU_PID=${SPID[$server]} run_ab "$name" "$url" "wrong-$AUTH_PASSWORD" >> "$RES";;
        *) CPU_PID=${SPID[$server]} run_wrk "$name" "$url" -H "Accept-Encoding: $enc" >> "$RES";;
      esac
    done
  done
  case $case in
    dynamic) what="16 KiB JSON, gzip level 5 on every request, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds";;
    auth) what="bcrypt (cost $BCRYPT_COST) Basic auth, right password: $AUTH_REQUESTS requests x $ROUNDS rounds, $AUTH_CONCURRENCY keep-alive connections (ab)";;
    auth-wrong) what="bcrypt (cost $BCRYPT_COST) Basic auth, wrong password (401s): $AUTH_REQUESTS requests x $ROUNDS rounds, $AUTH_CONCURRENCY keep-alive connections (ab)";;
    *) what="100 KiB HTML, Accept-Encoding: $enc, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds";;
  esac
  report "$RES" "$what"
  if [ "$case" = gzip ] && [ $HAVE_NGINX = 1 ]; then
    awk -v peer="nginx-gzip$NGINX_GZIP_LEVEL" -v lvl="$NGINX_GZIP_LEVEL" '
      {n[$1]++; r[$1]+=$2; c[$1]+=$4}
      END {if (n["flaks"] && n[peer]) printf "headline flaks/nginx gzip (gzip on, gzip_comp_level %s): req/s %.2f, cpu/req %.3g\n",
             lvl, (r["flaks"]/n["flaks"])/(r[peer]/n[peer]), (c[peer] > 0 ? (c["flaks"]/n["flaks"])/(c[peer]/n[peer]) : 0)}' "$RES"
  fi
done
