# Shared helpers for the benchmark scripts (sourced). Loopback only; every process started here is
# ended by pid on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=${OUT:-$ROOT/bench/out}
mkdir -p "$OUT"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true
            rm -f "$OUT"/.warm-$$-*; }
trap cleanup EXIT

SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-50}
ROUNDS=${ROUNDS:-3}

need() { command -v "$1" >/dev/null || { echo "bench: $1 is not installed (apt-get install -y $2)"; exit 1; }; }

# The image's binary (scripts/build-release.sh: fully static, lld, hot-function order).
# FLAKS_BIN=path uses that binary instead of building (A/B runs of a saved build).
build_flaks() {
  if [ -n "${FLAKS_BIN:-}" ]; then FLAKS=$FLAKS_BIN; return; fi
  FLAKS=$("$ROOT/scripts/build-release.sh" 2>/dev/null)
}

wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "bench: nothing listening on $1"; exit 1
}

# cpu_ticks PID -> utime+stime of the process (all threads), in clock ticks. With CPU_CHILDREN=1
# also cutime+cstime: the children it has reaped (a CGI script's whole life, its exec included).
cpu_ticks() {
  if [ "${CPU_CHILDREN:-0}" = 1 ]; then awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat" 2>/dev/null || echo 0
  else awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; fi
}

# PIPELINE=N (N > 1): wrk sends N requests per write on each connection (HTTP/1.1 pipelining, as
# in TechEmpower's plaintext test) and so spends about N times less CPU per request. Without it,
# wrk alone on its core tops out at 130,000-150,000 small requests/s here, less than Flaks, nginx
# or lighttpd can answer on theirs: the ratio then measures the client. See docs/performance.md.
pipeline_args() {
  [ "${PIPELINE:-1}" -gt 1 ] || return 0
  cat > "$OUT/pipeline.lua" <<LUA
init = function(args)
  local r = {}
  for i = 1, ${PIPELINE} do r[i] = wrk.format() end
  req = table.concat(r)
end
request = function() return req end
LUA
  echo "-s $OUT/pipeline.lua"
}

# CLIENT=loadgen: bench/loadgen.c (built here with gcc) instead of wrk, for keep-alive GETs
# without extra wrk arguments (no PIPELINE, no -H). wrk spends two epoll_ctl calls and a full
# parse per request and runs out of its core before the servers run out of theirs (130,000-
# 160,000 small requests/s here); loadgen registers each connection once and reads only the
# status and Content-Length, so the servers set the pace. Same request, same connections, same
# output lines: see docs/performance.md.
CLIENT=${CLIENT:-wrk}
case $CLIENT in
  wrk) ;;
  loadgen)
    if [ ! -x "$OUT/loadgen" ] || [ "$ROOT/bench/loadgen.c" -nt "$OUT/loadgen" ]; then
      need gcc gcc
      gcc -O2 -Wall -Wextra -o "$OUT/loadgen" "$ROOT/bench/loadgen.c"
    fi;;
  *) echo "bench: CLIENT is wrk or loadgen, not $CLIENT"; exit 1;;
esac

# load SECONDS URL [extra wrk args] -> the client's output (wrk's summary lines, either client)
load() {
  local secs=$1 url=$2; shift 2
  if [ "$CLIENT" = loadgen ]; then
    if [ $# -gt 0 ] || [ "${PIPELINE:-1}" -gt 1 ]; then
      echo "bench: CLIENT=loadgen sends plain keep-alive GETs: no PIPELINE, no extra arguments ($*)" >&2
      return 1
    fi
    taskset -c "$CLIENT_CPU" "$OUT/loadgen" -c "$CONNECTIONS" -d "$secs" "$url"
  else
    # shellcheck disable=SC2046
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"$secs" --latency $(pipeline_args) "$@" "$url"
  fi
}

# core_ticks CPU -> "busy idle" clock ticks of that core from /proc/stat (idle with iowait);
# core_busy "BEFORE" "AFTER" -> the percentage of the ticks between them that were busy.
core_ticks() {
  awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8, $5 + $6}' /proc/stat
}
core_busy() {
  echo "$1 $2" | awk '{b = $3 - $1; i = $4 - $2; printf "%.0f", (b + i > 0) ? 100 * b / (b + i) : 0}'
}

# run_wrk NAME URL [extra wrk args] -> prints "NAME rps p99ms cpu_us_per_request client_busy%"
# client_busy: how busy the client's core was over the run (/proc/stat); near 100, the client, not
# the server, may be what sets the rate. With CPU_PID set, the server's CPU time (utime+stime from /proc/PID/stat) over the run is divided
# by the requests the client completed: less noisy than req/s on a shared machine. Without it, cpu
# is "-". The client is wrk, or loadgen with CLIENT=loadgen (above).
# The first run for each NAME and URL is preceded by an unrecorded warm-up of WARMUP seconds (5;
# 0: none). On this shared host the first rounds after an idle spell ran at a fraction of the
# rest: a fresh Flaks alone, CGI, went 698 -> 1,233 req/s over six 5 s rounds, and a second fresh
# Flaks right after ran 1,185 from its first round, so the host, not the process, was warming.
run_wrk() {
  local name=$1 url=$2; shift 2
  local out t0 t1
  local mark
  mark="$OUT/.warm-$$-$(printf '%s %s' "$name" "$url" | cksum | cut -d' ' -f1)"
  if [ "${WARMUP:-5}" -gt 0 ] && [ ! -e "$mark" ]; then
    load "${WARMUP:-5}s" "$url" "$@" >/dev/null 2>&1 || true
    : > "$mark"
  fi
  local k0 k1
  k0=$(core_ticks "$CLIENT_CPU")
  t0=$([ -n "${CPU_PID:-}" ] && cpu_ticks "$CPU_PID" || echo 0)
  out=$(load "$DURATION" "$url" "$@" 2>&1) || { echo "$out" >&2; return 1; }
  t1=$([ -n "${CPU_PID:-}" ] && cpu_ticks "$CPU_PID" || echo 0)
  k1=$(core_ticks "$CLIENT_CPU")
  echo "$out" > "$OUT/$CLIENT-$name-$(date +%s%N).txt"
  local rps p99 reqs cpu
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  cpu=-
  if [ -n "${CPU_PID:-}" ] && [ "${reqs:-0}" -gt 0 ]; then
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$reqs" 'BEGIN{printf "%.2f", t * 1e6 / hz / n}')
  fi
  local errs
  errs=$(echo "$out" | awk '/Non-2xx|Socket errors|^bench:|^loadgen:/ {print}' | tr '\n' ' ')
  local busy
  busy=$(core_busy "$k0" "$k1")
  echo "$name $rps $(to_ms "$p99") $cpu $busy $errs"
}

to_ms() {
  local v=$1
  case "$v" in
    *us) awk -v x="${v%us}" 'BEGIN{printf "%.3f", x/1000}';;
    *ms) awk -v x="${v%ms}" 'BEGIN{printf "%.3f", x}';;
    *s) awk -v x="${v%s}" 'BEGIN{printf "%.3f", x*1000}';;
    *) echo "$v";;
  esac
}

# summarize FILE: lines "name rps p99 [cpu client_busy]" -> mean per name, ratio flaks/other, then medians
summarize() {
  awk '{n[$1]++; r[$1]+=$2; p[$1]+=$3; b[$1]+=$5} END {for (k in n) printf "%-10s %10.0f req/s  p99 %8.3f ms  client core %3.0f%%  (%d rounds)\n", k, r[k]/n[k], p[k]/n[k], b[k]/n[k], n[k]}' "$1" | sort
  awk -v base="${2:-nginx}" '{n[$1]++; r[$1]+=$2} END { if (n["flaks"] && n[base]) printf "ratio flaks/%s: %.2f\n", base, (r["flaks"]/n["flaks"])/(r[base]/n[base]) }' "$1"
  medians "$1"
}

# medians FILE: lines "name rps p99 ..." -> per name the median req/s and p99 over the rounds, and per
# peer the median of the per-round ratios (the k-th flaks line against the peer's k-th line: rounds
# alternate, so each pair ran side by side). The issue's proof asks for medians; a round that the
# shared host slows (steal time) moves a mean, not a median. An even count averages the middle two.
medians() {
  awk 'function med(a, m,   i, j, t) { for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j > 0 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
                                      return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
       $2 + 0 > 0 { k = ++n[$1]; r[$1, k] = $2; p[$1, k] = $3 }
       END { for (name in n) { m = n[name]; split("", a); split("", b)
                               for (i = 1; i <= m; i++) { a[i] = r[name, i]; b[i] = p[name, i] }
                               printf "median %-14s %10.0f req/s  p99 %8.3f ms\n", name, med(a, m), med(b, m) }
             if (!n["flaks"]) exit
             for (name in n) if (name != "flaks") { m = (n[name] < n["flaks"]) ? n[name] : n["flaks"]; split("", a)
                                                    for (i = 1; i <= m; i++) a[i] = r["flaks", i] / r[name, i]
                                                    printf "median of per-round ratios flaks/%s: %.2f (%d rounds)\n", name, med(a, m), m } }' "$1" | sort
}

# check_get NAME URL [curl args] -> "NAME URL -> status, bytes, content-encoding"; exits when the
# status is not 2xx (a server answering 502 or 404 quickly would otherwise look fast).
check_get() {
  local name=$1 url=$2; shift 2
  local hdr status size ce
  hdr=$(mktemp)
  size=$(curl -sk -o /dev/null -D "$hdr" -w '%{size_download}' "$@" "$url") || true
  status=$(awk 'NR==1 {print $2}' "$hdr")
  ce=$(tr -d '\r' < "$hdr" | awk -F': *' 'tolower($1)=="content-encoding" {print $2}')
  rm -f "$hdr"
  echo "$name $url -> ${status:-no answer}, $size bytes${ce:+, $ce}"
  case "$status" in 2??) ;; *) echo "bench: $name answered ${status:-nothing} for $url"; exit 1;; esac
}

# report FILE TITLE: lines "name rps p99ms cpu_us client_busy [errors]" -> per name the mean req/s,
# p99, server CPU per request and client core's use, any client errors, and flaks' req/s and CPU
# per request against each peer.
report() {
  echo "--- $2 (client: $CLIENT)"
  awk '{n[$1]++; r[$1]+=$2; p[$1]+=$3; c[$1]+=$4; b[$1]+=$5; if ($3 == "-") nop[$1]=1; if (NF > 5) e[$1]=1}
       END {for (k in n) printf "%-14s %10.0f req/s  p99 %s  cpu %7.2f us/req  client core %3.0f%%%s\n", k, r[k]/n[k],
                                  (nop[k] ? "       - ms" : sprintf("%8.3f ms", p[k]/n[k])), c[k]/n[k], b[k]/n[k],
                                  (e[k] ? "  (client errors: see below)" : "")}' "$1" | sort
  awk '{n[$1]++; r[$1]+=$2; c[$1]+=$4}
       END {if (!n["flaks"]) exit; for (k in n) if (k != "flaks") {
              line = sprintf("ratio flaks/%s: req/s %.2f", k, (r["flaks"]/n["flaks"])/(r[k]/n[k]))
              if (c[k] > 0) line = line sprintf(", cpu/req %.3g", (c["flaks"]/n["flaks"])/(c[k]/n[k]))
              print line }}' "$1" | sort
  medians "$1"
  awk 'NF > 5 {$2=$3=$4=$5=""; print "  " $0}' "$1"
}

# syscalls_per_request NAME PID URL -> system calls per request of process PID (all threads), counted
# by `strace -c -f` over a 3 s wrk run (strace slows the server; the counts, not the rate, are the
# point). Prints the total and the calls made at least 0.05 times per request.
syscalls_per_request() {
  local name=$1 pid=$2 url=$3 f="$OUT/strace-$1.txt" sp out reqs
  need strace strace
  strace -c -f -p "$pid" -o "$f" 2>/dev/null & sp=$!
  sleep 0.5
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d3s "$url" 2>&1)
  kill -INT "$sp" 2>/dev/null || true
  wait "$sp" 2>/dev/null || true
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -v n="${reqs:-0}" -v name="$name" '
    # Columns: % time, seconds, usecs/call, calls, [errors,] syscall: the calls are always the 4th.
    $NF == "total" && n > 0 { printf "%-8s %6.2f system calls per request (%d requests)\n", name, $4 / n, n }
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" && n > 0 {
      if ($4 / n >= 0.05) printf "         %-16s %6.2f\n", $NF, $4 / n
    }' "$f"
}

# perf_per_request NAME PID URL -> user and system CPU, context switches and instructions per
# request of process PID over a 5 s wrk run (`perf stat`; needs perf and a kernel that allows it).
perf_per_request() {
  local name=$1 pid=$2 url=$3 f="$OUT/perf-$1.txt" sp out reqs u0 s0 u1 s1 cs0 cs1
  need perf linux-perf
  u0=$(awk '{print $14}' "/proc/$pid/stat"); s0=$(awk '{print $15}' "/proc/$pid/stat"); f0=$(awk '{print $10}' "/proc/$pid/stat")
  cs0=$(switches_of "$pid")
  perf stat -x, -e task-clock,context-switches,cpu-migrations,instructions:u,instructions:k -p "$pid" -o "$f" 2>/dev/null & sp=$!
  sleep 0.3
  out=$(taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d5s "$url" 2>&1)
  kill -INT "$sp" 2>/dev/null || true
  wait "$sp" 2>/dev/null || true
  u1=$(awk '{print $14}' "/proc/$pid/stat"); s1=$(awk '{print $15}' "/proc/$pid/stat"); f1=$(awk '{print $10}' "/proc/$pid/stat")
  cs1=$(switches_of "$pid")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -F, -v n="${reqs:-1}" -v name="$name" -v ut=$((u1 - u0)) -v st=$((s1 - s0)) -v pf=$((f1 - f0)) -v hz="$(getconf CLK_TCK)" '
    BEGIN { printf "%-8s %8d requests: user %.2f us, system %.2f us, %.3f page faults per request\n", name, n, ut * 1e6 / hz / n, st * 1e6 / hz / n, pf / n }
    $3 ~ /context-switches|cpu-migrations|instructions/ && $1 ~ /^[0-9.]+$/ { printf "         %-18s %10.2f per request\n", $3, $1 / n }' "$f"
  awk -v a="$cs0" -v b="$cs1" -v n="${reqs:-1}" 'BEGIN { split(a, x); split(b, y)
    printf "         %-18s %10.2f per request\n         %-18s %10.2f per request\n", "voluntary", (y[1] - x[1]) / n, "involuntary", (y[2] - x[2]) / n }'
}

# switches_of PID -> "voluntary involuntary" context switches of all of PID's threads so far.
switches_of() {
  cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print v + 0, n + 0}'
}

# perf_profile NAME PID URL -> where process PID spends its CPU (user and kernel) over a 5 s wrk
# run, sampled by `perf record -e cpu-clock`; prints the top symbols.
perf_profile() {
  local name=$1 pid=$2 url=$3 f="$OUT/perf-$1.data" sp
  need perf linux-perf
  if [ -n "${PROFILE_EVENT:-}" ]; then   # e.g. sched:sched_switch: where the process is switched out
    perf record -q -e "$PROFILE_EVENT" -g -p "$pid" -o "$f" 2>/dev/null & sp=$!
  else
    perf record -q -e cpu-clock -F 4999 -g -p "$pid" -o "$f" 2>/dev/null & sp=$!
  fi
  sleep 0.3
  taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d5s "$url" >/dev/null 2>&1
  kill -INT "$sp" 2>/dev/null || true
  wait "$sp" 2>/dev/null || true
  echo "--- $name: top symbols (self, cpu-clock samples)"
  perf report -i "$f" --no-children --sort sym --stdio 2>/dev/null | grep -E '^ +[0-9.]+%' | head -${TOP:-25}
}

# start_php_fpm DIR CHILDREN [CPU] -> a php-fpm pool (pm = static, CHILDREN children, the system's
# php.ini: opcache on, as in production) on the unix socket $PHP_SOCK = DIR/php.sock, serving
# DIR/www, where it writes the benchmark's page hello.php; pinned to CPU when given. Ended on exit.
start_php_fpm() {
  local dir=$1 children=$2 cpu=${3:-} fpm user_lines="" rootflag=()
  fpm=$(ls /usr/sbin/php-fpm* 2>/dev/null | sort -r | head -1)
  [ -n "$fpm" ] || { echo "bench: php-fpm is not installed (apt-get install -y php8.2-fpm)"; exit 1; }
  mkdir -p "$dir/www"
  cat > "$dir/www/hello.php" <<'PHP'
<?php
header('Content-Type: text/plain');
echo 'hello from php ', PHP_VERSION, ' ', $_SERVER['REQUEST_METHOD'], ' ', $_SERVER['SCRIPT_NAME'], "\n";
PHP
  PHP_SOCK="$dir/php.sock"
  [ "$(id -u)" = 0 ] && { user_lines=$'user = root\ngroup = root'; rootflag=(-R); }
  cat > "$dir/fpm.conf" <<CONF
[global]
error_log = $dir/fpm.log
daemonize = no
[bench]
$user_lines
listen = $PHP_SOCK
listen.mode = 0666
pm = static
pm.max_children = $children
CONF
  if [ -n "$cpu" ]; then
    taskset -c "$cpu" "$fpm" -F -y "$dir/fpm.conf" -p "$dir" "${rootflag[@]}" & PIDS+=($!)
  else
    "$fpm" -F -y "$dir/fpm.conf" -p "$dir" "${rootflag[@]}" & PIDS+=($!)
  fi
  for _ in $(seq 1 100); do [ -S "$PHP_SOCK" ] && break; sleep 0.05; done
  [ -S "$PHP_SOCK" ] || { echo "bench: php-fpm did not start: $(cat "$dir/fpm.log")"; exit 1; }
}

# callgrind_requests VG_PID CG_FILE -> with the caller's `client N` function: warms the server under
# valgrind (pid VG_PID, writing CG_FILE) with 100 requests, counts REQUESTS more, ends it, prints
# the summary (bench/callgrind-summary.py) and keeps the profile(s) as KEEP_PROFILE[.N] when set.
callgrind_requests() {
  local vg=$1 cg=$2 f
  client 100
  callgrind_control -z "$vg" >/dev/null 2>&1
  client "$REQUESTS"
  callgrind_control -d "$vg" >/dev/null 2>&1
  kill "$vg"; wait "$vg" 2>/dev/null || true
  python3 "$ROOT/bench/callgrind-summary.py" "$cg" "$REQUESTS"
  # One file per thread when the app has several (a view: loop + workers): KEEP_PROFILE.1, .2, ...
  if [ -n "${KEEP_PROFILE:-}" ]; then
    for f in "$cg"*; do cp "$f" "$KEEP_PROFILE${f#"$cg"}"; done
  fi
}
