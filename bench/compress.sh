#!/usr/bin/env bash
# Compression, keep-alive, each server pinned to SERVER_CPU (one loop / one worker / one process),
# wrk pinned to CLIENT_CPU, alternating over ROUNDS rounds. Two kinds of work are compared, and each
# line is named after the work its server does:
#
# 1. A 100 KiB static HTML page (generated here, compresses about 4:1), `Accept-Encoding: gzip`,
#    then `br`, then `zstd` (CASES=...). Flaks compresses a static file once per file version and
#    coding (gzip level 9 memLevel 9, Brotli quality 10 window 2^20, zstd level 19:
#    CompressionParameters.staticFile, docs/compression.md) and keeps the result in memory, so in
#    the steady state a request costs a cache lookup and a send, never a compression. The peers
#    that do the same work:
#      nginx-static  `gzip_static on` with page.html.gz made by `gzip -9` next to the page: a
#                    precompressed file, sent with sendfile (nginx has no Brotli or zstd module here);
#      lighttpd      mod_deflate with `deflate.cache-dir`: compressed once (level 9; Brotli quality
#                    10 window 2^20; zstd level 19), cached on disk, then sent with sendfile.
#    And the usual nginx setup, which does NOT do the same work (it compresses on every request):
#      nginx-gzipN   `gzip on; gzip_comp_level N`, N = NGINX_GZIP_LEVEL (default 9, the level Flaks
#                    uses for static files, so all send the same-size body; most sites run 5-6,
#                    which is faster and larger: set NGINX_GZIP_LEVEL=5 to see it).
#    The body size each server sends is printed before the runs (same level, near the same size;
#    lighttpd's gzip comes from libdeflate, a little smaller at the same level).
# 2. A 16 KiB JSON document compressed on every request with gzip level 5 by all (`dynamic`): Flaks
#    serves it from a `respond:` route (no file, no cache: compressed per request, the cost a view
#    function's JSON pays; level 5 = CompressionParameters.streaming), nginx with `gzip on;
#    gzip_comp_level 5` and lighttpd with mod_deflate level 5 without a cache serve the same bytes
#    from a file (a cached open file; the compression dominates).
# Vary: Accept-Encoding is sent by all; access logs off everywhere; `compress:` of Flaks is its defaults.
# Usage: bench/compress.sh      (DURATION=10s ROUNDS=3 CONNECTIONS=50 by default;
#        CASES="gzip dynamic" bench/compress.sh for some cases)
source "$(dirname "$0")/lib.sh"
need wrk wrk
need curl curl
need python3 python3
build_flaks
NGINX_GZIP_LEVEL=${NGINX_GZIP_LEVEL:-9}
PORT_F=18681 PORT_N=18682 PORT_L=18683
DIR="$OUT/compress"
rm -rf "$DIR/lighttpd-cache"
mkdir -p "$DIR/root/dyn" "$DIR/root-pre" "$DIR/nginx" "$DIR/lighttpd-cache"
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

declare -A SPID
# The JSON goes into the manifest as a YAML single-quoted scalar (it holds no single quote).
cat > "$DIR/flaks.yaml" <<YAML
server: {listen: ["127.0.0.1:$PORT_F"], loops: 1, threads: 2}
log: {access: off, level: warning}
hosts:
  - names: ["*"]
    routes:
      - path: /dyn/dyn.json
        respond: '$(cat "$DIR/root/dyn/dyn.json")'
        type: application/json
      - path: /
        static: $DIR/root
YAML
taskset -c "$SERVER_CPU" "$FLAKS" serve --config "$DIR/flaks.yaml" & PIDS+=($!); SPID[flaks]=$!
wait_port $PORT_F
SERVERS=(flaks)

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

# "name server url" lines for a case.
targets() {
  case $1 in
    gzip)
      echo "flaks flaks http://127.0.0.1:$PORT_F/page.html"
      [ $HAVE_NGINX = 1 ] && echo "nginx-static nginx http://127.0.0.1:$PORT_N/static/page.html"
      [ $HAVE_NGINX = 1 ] && echo "nginx-gzip$NGINX_GZIP_LEVEL nginx http://127.0.0.1:$PORT_N/gzip/page.html"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/page.html";;
    br|zstd)
      echo "flaks flaks http://127.0.0.1:$PORT_F/page.html"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/page.html";;
    dynamic)
      echo "flaks flaks http://127.0.0.1:$PORT_F/dyn/dyn.json"
      [ $HAVE_NGINX = 1 ] && echo "nginx nginx http://127.0.0.1:$PORT_N/dyn/dyn.json"
      [ $HAVE_LIGHTTPD = 1 ] && echo "lighttpd lighttpd http://127.0.0.1:$PORT_L/dyn/dyn.json";;
  esac
  return 0
}
for case in ${CASES:-gzip br zstd dynamic}; do
  case $case in
    gzip|dynamic) enc=gzip;; br|zstd) enc=$case;;
    *) echo "bench: unknown case $case (gzip, br, zstd, dynamic)"; exit 1;;
  esac
  [ "$case" = br ] && echo "(br and zstd: nginx has no Brotli or zstd module in Debian's nginx-light; Flaks vs lighttpd only)"
  mapfile -t T < <(targets "$case")
  for t in "${T[@]}"; do
    read -r name _ url <<< "$t"
    line=$(check_get "$name" "$url" -H "Accept-Encoding: $enc") || { echo "$line"; exit 1; }
    echo "$line"
    case "$line" in *", $enc") ;; *) echo "bench: $name did not answer with $enc"; exit 1;; esac
  done
  RES="$OUT/compress-$case.txt"; : > "$RES"
  for r in $(seq 1 "$ROUNDS"); do
    for t in "${T[@]}"; do
      read -r name server url <<< "$t"
      CPU_PID=${SPID[$server]} run_wrk "$name" "$url" -H "Accept-Encoding: $enc" >> "$RES"
    done
  done
  if [ "$case" = dynamic ]; then what="16 KiB JSON, gzip level 5 on every request"
  else what="100 KiB HTML, Accept-Encoding: $enc"; fi
  report "$RES" "$what, keep-alive, $CONNECTIONS connections, $DURATION x $ROUNDS rounds"
done
