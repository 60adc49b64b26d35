#!/usr/bin/env bash
# bench/http/run.sh — durable HTTP ingest benchmark: allsourced against real
# peers (Redis Streams, NATS JetStream, PostgreSQL) started side by side on
# this machine, on loopback, one system at a time.
#
# Usage: bench/http/run.sh [options]
#   --duration S        seconds per measurement (default 10)
#   --quick             smoke run: 2 s per measurement, short warm-ups, 1 round
#   --runs N            rounds; every round measures every system; the summary
#                       shows the median of the rounds (default 1)
#   --tsv               print the results as TSV (per round and medians) instead
#                       of the Markdown tables
#   --systems LIST      comma list of allsource,allsource-none,redis,nats,postgres
#                       (default: all)
#   --conns N           client connections / clients (default 64)
#   --batch N           events per batch request (default 100)
#   --size BYTES        bytes per event (default 300)
#   --wrk-threads N     wrk threads (default 1)
#   --server-threads N  allsourced --threads (default: its own default, CPUs - 1)
#   --warmup S          warm-up seconds before each measurement (default 2)
#   --build             (re)build allsourced with CMake first (it is built
#                       anyway when build/allsourced is missing)
#   --out DIR           keep raw client output, server logs and results in DIR
#   --report TSV        measure nothing: print the report again from the
#                       results.tsv that an earlier run left in its --out DIR
#   --wait-quiet S      before each measurement wait up to S seconds for the
#                       machine to be quiet (other processes using < 25 % of
#                       one CPU over 2 s); the load is recorded either way
#   --nice N            run the servers and clients at nice N (e.g. -10, as
#                       root) so that other processes on a shared machine
#                       (compilers, fuzzers at nice 0) disturb less; recorded
#   --no-install        do not apt-get install missing tools
#   -h, --help
# Environment: ALLSOURCED (server binary, default <repo>/build/allsourced),
#   BENCH_TMP (parent of the temp dir, default /var/tmp: the same disk as the
#   repo; never a tmpfs, or fsync would be free).
#
# Ports (loopback only): allsourced 18080, redis 6391, nats 4223 (monitor
# 8223), postgres 5433.  Every server is stopped by PID on exit (trap), the
# temp dir is removed, and the script checks that nothing is left listening.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

DURATION=10
WARMUP=2
RUNS=1
TSV=0
QUICK=0
SYSTEMS="allsource,allsource-none,redis,nats,postgres"
CONNS=64
BATCH=100
SIZE=300
WRK_THREADS=1
SERVER_THREADS=""
BUILD=0
OUT=""
REPORT=""
INSTALL=1
WAIT_QUIET=0
NICE=""
QUIET_PCT=25
QUERY_ENTITIES=10000  # pre-loaded entities for the query workload
QUERY_PER_ENTITY=10   # events per pre-loaded entity
ALLSOURCED=${ALLSOURCED:-$ROOT/build/allsourced}

AS_PORT=18080
REDIS_PORT=6391
NATS_PORT=4223
NATS_MON=8223
PG_PORT=5433
PG_BIN=/usr/lib/postgresql/15/bin

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift ;;
    --quick) QUICK=1 ;;
    --runs) RUNS=$2; shift ;;
    --tsv) TSV=1 ;;
    --systems) SYSTEMS=$2; shift ;;
    --conns) CONNS=$2; shift ;;
    --batch) BATCH=$2; shift ;;
    --size) SIZE=$2; shift ;;
    --wrk-threads) WRK_THREADS=$2; shift ;;
    --server-threads) SERVER_THREADS=$2; shift ;;
    --warmup) WARMUP=$2; shift ;;
    --build) BUILD=1 ;;
    --out) OUT=$2; shift ;;
    --report) REPORT=$2; shift ;;
    --no-install) INSTALL=0 ;;
    --wait-quiet) WAIT_QUIET=$2; shift ;;
    --nice) NICE=$2; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if [ $QUICK -eq 1 ]; then DURATION=2; WARMUP=1; RUNS=1; fi
for v in DURATION RUNS CONNS BATCH SIZE WRK_THREADS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -gt 0 ] || { echo "run.sh: bad --${v,,} '${!v}'" >&2; exit 2; }
done
[[ $WARMUP =~ ^[0-9]+$ ]] || { echo "run.sh: --warmup takes whole seconds" >&2; exit 2; }
[[ $WAIT_QUIET =~ ^[0-9]+$ ]] || { echo "run.sh: --wait-quiet takes whole seconds" >&2; exit 2; }
if [ -n "$NICE" ]; then
  [[ $NICE =~ ^-?[0-9]+$ ]] || { echo "run.sh: bad --nice '$NICE'" >&2; exit 2; }
  # everything started from here on (servers, postgres backends, clients) inherits it
  renice -n "$NICE" -p $$ > /dev/null || { echo "run.sh: cannot renice to $NICE" >&2; exit 2; }
fi
[ "$SIZE" -ge 200 ] && [ "$SIZE" -le 4000 ] || { echo "run.sh: --size must be 200..4000" >&2; exit 2; }
want() { [[ ",$SYSTEMS," == *",$1,"* ]]; }

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# --- tools --------------------------------------------------------------
install_missing() {
  local missing=() p
  for p in wrk redis-server redis-tools nats-server libnats-dev postgresql postgresql-contrib \
           gcc curl; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ $INSTALL -eq 1 ] || die "missing packages: ${missing[*]} (run without --no-install)"
  [ "$(id -u)" -eq 0 ] || die "missing packages: ${missing[*]}; run as root or install them"
  log "installing ${missing[*]}"
  # A policy-rc.d that forbids starting services, so apt does not start
  # redis, nats or a postgresql cluster; removed again if we created it.
  local made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  [ $made_policy -eq 1 ] && rm -f /usr/sbin/policy-rc.d
  return 0
}
if [ -z "$REPORT" ]; then
  install_missing
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL 15 binaries not found in $PG_BIN"
fi

if [ -z "$REPORT" ] && { [ $BUILD -eq 1 ] || [ ! -x "$ALLSOURCED" ]; }; then
  if want allsource || want allsource-none; then
    log "building allsourced (Release)"
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$ROOT/build" -j"$(nproc)" --target allsourced >/dev/null
  fi
fi

# --- temp dir, process bookkeeping, cleanup --------------------------------
BASE=$(mktemp -d "${BENCH_TMP:-/var/tmp}/allsource-httpbench.XXXXXX")
chmod 755 "$BASE"
RAW=$BASE/raw
mkdir -p "$RAW"
RESULTS=$BASE/results.tsv
# Every server we start is registered in $BASE/pids ("PID COMM"); a postgres
# cluster's data dir in $BASE/pgdata.  Each system is benchmarked in a
# subshell whose EXIT trap stops what it started; the main EXIT trap stops
# whatever is still registered.  A PID is only signalled while /proc says it
# is still the process we started (same comm), never by name.
: > "$BASE/pids"
: > "$BASE/pgdata"
: > "$BASE/failures"

register_pid() { echo "$1 $2" >> "$BASE/pids"; }
alive() { local st; st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null); [ -n "$st" ] && [ "$st" != Z ]; }
is_ours() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = "$2" ]; }
stop_pid() {  # PID COMM: SIGTERM, wait up to 20 s, then SIGKILL
  local pid=$1 comm=$2 i
  is_ours "$pid" "$comm" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for i in $(seq 1 200); do is_ours "$pid" "$comm" || return 0; sleep 0.1; done
  log "process $pid ($comm) did not stop after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}
stop_pg() {  # DATADIR
  local pmpid=""
  [ -f "$1/postmaster.pid" ] || return 0
  pmpid=$(head -1 "$1/postmaster.pid")
  as_pg "$PG_BIN/pg_ctl" -D "$1" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  [ -n "$pmpid" ] && stop_pid "$pmpid" postgres
  return 0
}
stop_servers() {
  local pid comm dir
  while read -r dir; do [ -n "$dir" ] && stop_pg "$dir"; done < "$BASE/pgdata"
  while read -r pid comm; do [ -n "$pid" ] && stop_pid "$pid" "$comm"; done < "$BASE/pids"
  return 0
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_servers
  if [ -n "$OUT" ]; then
    mkdir -p "$OUT" && cp -r "$RAW" "$OUT/" && cp "$BASE/failures" "$OUT/" &&
      [ -f "$RESULTS" ] && cp "$RESULTS" "$OUT/" || true
    log "raw output kept in $OUT"
  fi
  rm -rf "$BASE"
  local port
  for port in $AS_PORT $REDIS_PORT $NATS_PORT $NATS_MON $PG_PORT; do
    [ -z "$REPORT" ] || break
    if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
      log "WARNING: something still listens on port $port"
    fi
  done
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_system FUNCTION ARGS...: one system's measurements in a subshell with
# `set -e`; a failure (a server that does not start or dies, a client that
# fails) is logged and recorded, and the remaining systems still run.
run_system() {
  local rc=0
  set +e
  ( set -e; trap 'stop_servers' EXIT; "$@" )
  rc=$?
  set -e
  if [ $rc -ne 0 ]; then
    log "ERROR: round $ROUND: $1 failed (rc $rc); its remaining measurements in this round are missing"
    echo "round $ROUND: $* failed (rc $rc)" >> "$BASE/failures"
  fi
  return 0
}

port_free() { ! ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }
wait_port() {  # PORT PID: wait up to 30 s for a listener, fail if PID dies
  local i
  for i in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null && return 1
    sleep 0.1
  done
  return 1
}
as_pg() {  # run a postgres tool as the postgres user when we are root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- the event ---------------------------------------------------------------
# The same ~SIZE-byte JSON event everywhere (the Lua script and nats_pub.c
# build the same shape):
# {"event_type":"order.created","entity_id":"ENT","payload":{"order_id":...,"note":"xxx"}}
PAYLOAD_HEAD='{"order_id":"ord-00000001","customer":"cust-0042","amount":129.95,"currency":"EUR","items":3,"note":"'
event_json() {  # ENTITY -> exactly SIZE bytes (for entity ids of equal length)
  local head="{\"event_type\":\"order.created\",\"entity_id\":\"$1\",\"payload\":$PAYLOAD_HEAD"
  local pad=$((SIZE - ${#head} - 3))
  printf '%s%s"}}' "$head" "$(head -c "$pad" /dev/zero | tr '\0' x)"
}
payload_json() {  # the payload object of event_json ENTITY
  local e
  e=$(event_json "$1")
  e=${e#*\"payload\":}
  printf '%s' "${e%\}}"
}

# --- CPU accounting ------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(nproc)
tree_ticks() {  # PID: utime+stime of PID and all live descendants + PID's reaped children
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root="$1" '
    {
      pid = $1; line = $0; sub(/^[0-9]+ \(.*\) /, "", line); split(line, f, " ")
      ppid[pid] = f[2]; t[pid] = f[12] + f[13]; c[pid] = f[14] + f[15]
    }
    END {
      if (!(root in t)) { print 0; exit }
      total = t[root] + c[root]; changed = 1; inn[root] = 1
      while (changed) { changed = 0
        for (p in ppid) if (!(p in inn) && (ppid[p] in inn)) { inn[p] = 1; total += t[p]; changed = 1 } }
      print total
    }'
}
sys_ticks() { awk '/^cpu /{ busy = $2+$3+$4+$7+$8; print busy, $9 }' /proc/stat; }  # busy steal

# Busy CPU of the whole machine over 2 s, in % of one CPU (our servers are
# idle when this runs, so it is the load of other processes).
busy_pct() {
  local b0 b1 x
  read -r b0 x < <(sys_ticks); sleep 2; read -r b1 x < <(sys_ticks)
  awk -v a="$b0" -v b="$b1" -v hz="$CLK_TCK" 'BEGIN{ printf "%.0f", (b - a) / hz / 2 * 100 }'
}
wait_quiet() {
  [ "$WAIT_QUIET" -gt 0 ] || return 0
  local start=$SECONDS b
  while :; do
    b=$(busy_pct)
    [ "$b" -lt "$QUIET_PCT" ] && return 0
    if [ $((SECONDS - start)) -ge "$WAIT_QUIET" ]; then
      log "machine still busy (${b}% of a CPU used by others) after ${WAIT_QUIET}s; measuring anyway"
      return 0
    fi
    log "machine busy (${b}% of a CPU used by others); waiting"
    sleep 3
  done
}

# --- one measurement ---------------------------------------------------------------
# measure SYSTEM DURABILITY WORKLOAD SERVER_PID EVENTS_PER_REQ PARSER -- CMD...
# Runs CMD (the load generator) once, with CPU accounting around it, parses
# its output with PARSER (sets REQ_S P50 P99 ERRS) and appends a row to
# $RESULTS.
ROUND=0
SYNC_FN=""  # prints the server's count of WAL fsyncs, when it has one
HDR="round	system	durability	workload	req_s	events_s	p50_us	p99_us	errors	server_cpu_pct	client_cpu_pct	rest_cpu_pct	steal_pct	load1	fsyncs_per_s	notes"
measure() {
  local sys=$1 dur=$2 wl=$3 spid=$4 epr=$5 parser=$6; shift 7
  local tag="r${ROUND}-${sys}-${wl}" syncs0="" syncs1="" notes="" fsyncs=""
  local out="$RAW/$tag.out"
  [ -n "${SKIP_QUIET:-}" ] || wait_quiet
  local load1; load1=$(cut -d' ' -f1 /proc/loadavg)
  [ -n "$SYNC_FN" ] && syncs0=$($SYNC_FN)
  local s0 st0 s1 st1 srv0 srv1 t0 t1
  read -r s0 st0 < <(sys_ticks); srv0=$(tree_ticks "$spid"); t0=$(date +%s%N)
  local rc=0
  bash -c 'out=$1; shift; "$@" > "$out" 2> "$out.err"; rc=$?; times > "$out.times"; exit $rc' \
    _ "$out" "$@" || rc=$?
  t1=$(date +%s%N); srv1=$(tree_ticks "$spid"); read -r s1 st1 < <(sys_ticks)
  alive "$spid" ||
    die "$tag: the server (PID $spid) died during the measurement; result discarded"
  [ $rc -eq 0 ] || { cat "$out.err" >&2; die "$tag: load generator failed (rc $rc)"; }
  [ -n "$SYNC_FN" ] && { [ "$sys" = postgres ] && sleep 1; syncs1=$($SYNC_FN); }
  REQ_S=0 P50=0 P99=0 ERRS=0
  "$parser" "$out"
  local events_s wall cli srv busy steal rest
  events_s=$(awk -v r="$REQ_S" -v e="$epr" 'BEGIN{printf "%.0f", r*e}')
  wall=$(( (t1 - t0) / 1000000 ))   # ms
  [ "$wall" -ge $((DURATION * 500)) ] || log "WARNING: $tag ran only ${wall} ms (load changed after the redis-benchmark probe?)"
  cli=$(awk 'NR==2{ split($1,u,/[ms]/); split($2,s,/[ms]/); printf "%.2f", u[1]*60+u[2]+s[1]*60+s[2] }' "$out.times")
  read -r srv busy steal rest < <(awk -v s0="$srv0" -v s1="$srv1" -v b0="$s0" -v b1="$s1" \
      -v st0="$st0" -v st1="$st1" -v cli="$cli" -v w="$wall" -v hz="$CLK_TCK" 'BEGIN{
      sec = w / 1000.0; srv = (s1 - s0) / hz / sec * 100; busy = (b1 - b0) / hz / sec * 100
      steal = (st1 - st0) / hz / sec * 100; c = cli / sec * 100; rest = busy - srv - c
      if (rest < 0) rest = 0
      printf "%.0f %.0f %.0f %.0f\n", srv, busy, steal, rest }')
  local clip; clip=$(awk -v c="$cli" -v w="$wall" 'BEGIN{printf "%.0f", c / (w/1000.0) * 100}')
  if [ -n "$syncs0" ] && [ -n "$syncs1" ]; then
    fsyncs=$(awk -v a="$syncs0" -v b="$syncs1" -v w="$wall" 'BEGIN{ printf "%.0f", (b - a) / (w/1000.0) }')
    notes="fdatasync/s=$fsyncs"
  fi
  [ -n "${EXTRA_NOTE:-}" ] && notes="${notes:+$notes }$EXTRA_NOTE"
  [ "$ERRS" != 0 ] && log "WARNING: $tag: $ERRS errors (see $out)"
  printf '%s\t%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$sys" "$dur" "$wl" \
    "$REQ_S" "$events_s" "$P50" "$P99" "$ERRS" "$srv" "$clip" "$rest" "$steal" "$load1" "$fsyncs" \
    "${EXTRA_NOTE:-}" >> "$RESULTS"
  log "$(printf '%-15s %-10s %10.0f req/s %10s ev/s  p50 %6s us  p99 %7s us  cpu srv %s%% cli %s%% rest %s%%  err %s  %s' \
    "$sys" "$wl" "$REQ_S" "$events_s" "$P50" "$P99" "$srv" "$clip" "$rest" "$ERRS" "$notes")"
}

# --- output parsers (set REQ_S P50 P99 ERRS) -----------------------------------------
kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" | head -1; }
parse_wrk() {
  local l; l=" $(grep '^WRK ' "$1")"
  [ -n "${l// /}" ] || die "no wrk summary in $1"
  REQ_S=$(kv rps <<<"$l"); P50=$(kv p50_us <<<"$l"); P99=$(kv p99_us <<<"$l")
  ERRS=0
  local k; for k in errors_status errors_connect errors_read errors_write errors_timeout; do
    ERRS=$((ERRS + $(kv $k <<<"$l"))); done
}
parse_nats() {
  local l; l=" $(grep '^msgs=' "$1")"
  local msgs ops secs
  msgs=$(kv msgs <<<"$l"); ops=$(kv ops <<<"$l"); secs=$(kv secs <<<"$l")
  # req_s counts round trips: one per message (sync), one per batch (batch)
  REQ_S=$(awk -v m="$msgs" -v o="$ops" -v s="$secs" -v e="$NATS_EPR" 'BEGIN{printf "%.1f", (e == 1 ? m : o) / s}')
  P50=$(kv p50_us <<<"$l"); P99=$(kv p99_us <<<"$l"); ERRS=$(kv errors <<<"$l")
}
parse_redis() {  # redis-benchmark --csv: the last 7 fields are numbers
  local l; l=$(tail -1 "$1")
  read -r REQ_S P50 P99 < <(awk -F, '{ for (i = 1; i <= NF; i++) gsub(/"/, "", $i);
    printf "%s %.0f %.0f\n", $(NF-6), $(NF-3) * 1000, $(NF-1) * 1000 }' <<<"$l")
  ERRS=0
  grep -qi 'error' "$1.err" 2>/dev/null && ERRS=1 || true
}
parse_pgbench() {
  REQ_S=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$1" | tail -1)
  [ -n "$REQ_S" ] || die "no tps in $1"
  ERRS=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$1"); ERRS=${ERRS:-0}
  read -r P50 P99 < <(cat "$PGB_LOG".* 2>/dev/null | awk '$3 ~ /^[0-9]+$/ {print $3}' | sort -n |
    awk '{a[NR] = $1} END { if (NR == 0) { print 0, 0; exit }
      printf "%d %d\n", a[int(0.50 * (NR - 1)) + 1], a[int(0.99 * (NR - 1)) + 1] }')
  rm -f "$PGB_LOG".*
}

# --- AllSource ---------------------------------------------------------------------
AS_PID=""
as_stat() { curl -s --max-time 5 "http://127.0.0.1:$AS_PORT/api/v1/stats" | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }
start_allsource() {  # DURABILITY
  port_free $AS_PORT || die "port $AS_PORT is in use (allsourced sets SO_REUSEPORT, so a second server would share it silently)"
  local d="$BASE/allsource-$1-r$ROUND" args=()
  [ -n "$SERVER_THREADS" ] && args+=(--threads "$SERVER_THREADS")
  "$ALLSOURCED" --listen "127.0.0.1:$AS_PORT" --data-dir "$d" --durability "$1" --log-level warn \
    "${args[@]}" > "$RAW/allsourced-$1-r$ROUND.log" 2>&1 &
  AS_PID=$!; register_pid "$AS_PID" allsourced
  wait_port $AS_PORT "$AS_PID" || die "allsourced did not start (see $RAW/allsourced-$1-r$ROUND.log)"
  curl -sf --max-time 5 "http://127.0.0.1:$AS_PORT/health" | grep -q "\"durability\":\"$1\"" ||
    die "allsourced /health does not report durability $1"
}
stop_allsource() { stop_pid "$AS_PID" allsourced; rm -rf "$BASE/allsource-"*; AS_PID=""; }
wrk_cmd() {  # MODE SECONDS: sets WRK_CMD to a plain command (measure runs it in a child bash)
  WRK_CMD=(env BENCH_MODE="$1" BENCH_BATCH="$BATCH" BENCH_SIZE="$SIZE"
    BENCH_QUERY_ENTITIES="$QUERY_ENTITIES" wrk -t"$WRK_THREADS" -c"$CONNS" -d"${2}s"
    --timeout 30s -s "$HERE/allsource.lua" "http://127.0.0.1:$AS_PORT")
}
wrk_warmup() {  # MODE
  [ "$WARMUP" -gt 0 ] || return 0
  wrk_cmd "$1" "$WARMUP"
  "${WRK_CMD[@]}" > /dev/null || die "wrk warm-up ($1) failed"
}
as_preload() {  # QUERY_ENTITIES entities q-000000.. with QUERY_PER_ENTITY events each
  local per_req=1000 f="$BASE/preload.json" n=0 b
  local ent_per_req=$((per_req / QUERY_PER_ENTITY))
  for ((b = 0; b < QUERY_ENTITIES; b += ent_per_req)); do
    awk -v b="$b" -v ne="$ent_per_req" -v max="$QUERY_ENTITIES" -v per="$QUERY_PER_ENTITY" \
        -v head="$PAYLOAD_HEAD" -v size="$SIZE" 'BEGIN {
      printf "["; first = 1
      for (e = b; e < b + ne && e < max; e++) for (k = 0; k < per; k++) {
        h = sprintf("{\"event_type\":\"order.created\",\"entity_id\":\"q-%06d\",\"payload\":%s", e, head)
        pad = size - length(h) - 3; x = sprintf("%*s", pad, ""); gsub(/ /, "x", x)
        printf "%s%s%s\"}}", (first ? "" : ","), h, x; first = 0 }
      printf "]" }' > "$f"
    curl -sf --max-time 60 -H 'Content-Type: application/json' --data-binary "@$f" \
      "http://127.0.0.1:$AS_PORT/api/v1/events/batch" > /dev/null || die "allsource preload failed"
    n=$((n + 1))
  done
  rm -f "$f"
}
bench_allsource() {  # DURABILITY SYSNAME
  local dur=$1 sys=$2
  log "$sys: starting allsourced --durability $dur"
  start_allsource "$dur"
  SYNC_FN=""; [ "$dur" = sync ] && SYNC_FN=as_syncs
  if [ "$dur" = sync ]; then
    as_preload
    wrk_warmup query
    wrk_cmd query "$DURATION"
    EXTRA_NOTE="events/query=$QUERY_PER_ENTITY" measure "$sys" "$dur" query "$AS_PID" "$QUERY_PER_ENTITY" parse_wrk -- "${WRK_CMD[@]}"
  fi
  wrk_warmup single
  wrk_cmd single "$DURATION"
  measure "$sys" "$dur" single "$AS_PID" 1 parse_wrk -- "${WRK_CMD[@]}"
  wrk_warmup batch
  wrk_cmd batch "$DURATION"
  measure "$sys" "$dur" batch "$AS_PID" "$BATCH" parse_wrk -- "${WRK_CMD[@]}"
  stop_allsource
  SYNC_FN=""
}
as_syncs() { as_stat syncs_total; }

# --- Redis Streams -----------------------------------------------------------------
bench_redis() {
  local d="$BASE/redis-r$ROUND" pid
  port_free $REDIS_PORT || die "port $REDIS_PORT is in use"
  mkdir -p "$d"
  log "redis: starting redis-server, appendonly yes, appendfsync always"
  # auto-aof-rewrite-percentage 0: no background AOF rewrite (a fork) in the
  # middle of a measurement; that work is left out, which favours Redis.
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly yes \
    --appendfsync always --auto-aof-rewrite-percentage 0 --dir "$d" \
    --logfile "$RAW/redis-r$ROUND.log" --daemonize no > /dev/null 2>&1 &
  pid=$!; register_pid "$pid" redis-server
  wait_port $REDIS_PORT "$pid" || die "redis-server did not start"
  local cfg; cfg=$(redis-cli -p "$REDIS_PORT" config get appendfsync | tail -1)
  [ "$cfg" = always ] || die "redis appendfsync is '$cfg'"
  local ev; ev=$(event_json "ent-__rand_int__")   # __rand_int__ -> 12 random digits
  RB=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CONNS" --csv)

  # query: QUERY_ENTITIES streams q:000000000000.. with QUERY_PER_ENTITY entries each,
  # loaded through redis-cli --pipe; then XRANGE of a random whole stream.
  awk -v ne="$QUERY_ENTITIES" -v per="$QUERY_PER_ENTITY" -v ev="$ev" 'BEGIN {
    for (e = 0; e < ne; e++) { key = sprintf("q:%012d", e); v = ev; sub(/ent-__rand_int__/, sprintf("q-%06d", e), v)
      for (k = 0; k < per; k++)
        printf "*5\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$1\r\n*\r\n$5\r\nevent\r\n$%d\r\n%s\r\n", length(key), key, length(v), v } }' |
    redis-cli -p "$REDIS_PORT" --pipe > "$RAW/redis-preload-r$ROUND.log" 2>&1 || die "redis preload failed"
  grep -q 'errors: 0,' "$RAW/redis-preload-r$ROUND.log" || die "redis preload had errors"
  local qn; qn=$(redis_bench_count -r "$QUERY_ENTITIES" XRANGE 'q:__rand_int__' - +)
  SKIP_QUIET=1 EXTRA_NOTE="events/query=$QUERY_PER_ENTITY" measure redis aof-always query "$pid" "$QUERY_PER_ENTITY" parse_redis -- \
    "${RB[@]}" -n "$qn" -r "$QUERY_ENTITIES" XRANGE 'q:__rand_int__' - +

  local n1 len0 len1; n1=$(redis_bench_count -r 100000000 XADD bench '*' event "$ev")
  len0=$(redis-cli -p "$REDIS_PORT" xlen bench)
  SKIP_QUIET=1 EXTRA_NOTE="not-pipelined" measure redis aof-always single "$pid" 1 parse_redis -- \
    "${RB[@]}" -n "$n1" -r 100000000 XADD bench '*' event "$ev"
  len1=$(redis-cli -p "$REDIS_PORT" xlen bench)
  [ $((len1 - len0)) -eq "$n1" ] || log "WARNING: redis stream grew by $((len1 - len0)), expected $n1"
  local nb; nb=$(redis_bench_count -P "$BATCH" -r 100000000 XADD bench '*' event "$ev")
  # redis-benchmark counts commands: its rps is already events/s, one
  # "request" of the batch row is a pipeline of BATCH commands.
  SKIP_QUIET=1 EXTRA_NOTE="pipeline=$BATCH" measure redis aof-always batch "$pid" "$BATCH" parse_redis_batch -- \
    "${RB[@]}" -n "$nb" -P "$BATCH" -r 100000000 XADD bench '*' event "$ev"
  len0=$(redis-cli -p "$REDIS_PORT" xlen bench)
  [ $((len0 - len1)) -ge "$nb" ] || log "WARNING: redis stream grew by $((len0 - len1)), expected >= $nb"
  redis-cli -p "$REDIS_PORT" info persistence > "$RAW/redis-persistence-r$ROUND.txt" 2>&1 || true
  stop_pid "$pid" redis-server; rm -rf "$d"
}
parse_redis_batch() { parse_redis "$1"; REQ_S=$(awk -v r="$REQ_S" -v b="$BATCH" 'BEGIN{printf "%.1f", r / b}'); }
# redis-benchmark has no duration option: a short run (the warm-up) gives the
# rate, and the measured run gets rate x DURATION requests.
redis_bench_count() {
  local probe=20000 l rate
  wait_quiet  # the probe sets the request count: take it in the same conditions
  [[ " $* " == *" -P "* ]] && probe=200000
  l=$("${RB[@]}" -n "$probe" "$@" 2>/dev/null | tail -1)
  rate=$(awk -F, '{ gsub(/"/, "", $(NF-6)); print int($(NF-6)) }' <<<"$l")
  [ -n "$rate" ] && [ "$rate" -gt 0 ] || die "redis-benchmark probe failed: $l"
  echo $((rate * DURATION > 1000 ? rate * DURATION : 1000))
}

# --- NATS JetStream ------------------------------------------------------------
NATS_PUB=$BASE/nats_pub
bench_nats() {
  local d="$BASE/nats-r$ROUND" pid
  port_free $NATS_PORT || die "port $NATS_PORT is in use"
  port_free $NATS_MON || die "port $NATS_MON is in use"
  [ -x "$NATS_PUB" ] || gcc -O2 -Wall -pthread -o "$NATS_PUB" "$HERE/nats_pub.c" -lnats ||
    die "cannot build nats_pub.c (libnats-dev)"
  mkdir -p "$d"
  log "nats: starting nats-server -js, file storage (2.9.10 has no per-message fsync option)"
  nats-server -a 127.0.0.1 -p "$NATS_PORT" -m "$NATS_MON" -js -sd "$d" \
    > "$RAW/nats-r$ROUND.log" 2>&1 &
  pid=$!; register_pid "$pid" nats-server
  wait_port $NATS_PORT "$pid" || die "nats-server did not start"
  local np=("$NATS_PUB" -u "nats://127.0.0.1:$NATS_PORT" -z "$SIZE" -d "$DURATION" -w "$WARMUP")
  NATS_EPR=1 EXTRA_NOTE="js_Publish,conns=$CONNS" measure nats file-nofsync single "$pid" 1 parse_nats -- \
    "${np[@]}" -m sync -c "$CONNS"
  NATS_EPR=$BATCH EXTRA_NOTE="js_PublishAsync+Complete,conns=$CONNS" measure nats file-nofsync batch "$pid" "$BATCH" parse_nats -- \
    "${np[@]}" -m batch -c "$CONNS" -b "$BATCH"
  NATS_EPR=1 EXTRA_NOTE="1conn,MaxPending=4096" measure nats file-nofsync async-stream "$pid" 1 parse_nats -- \
    "${np[@]}" -m stream -c 1 -b 4096
  stop_pid "$pid" nats-server; rm -rf "$d"
}

# --- PostgreSQL ------------------------------------------------------------------------
PGB_LOG=""
bench_postgres() {
  local d="$BASE/pg-r$ROUND"
  port_free $PG_PORT || die "port $PG_PORT is in use"
  mkdir -p "$d"
  if [ "$(id -u)" -eq 0 ]; then chown postgres:postgres "$d"; fi
  chmod 700 "$d"
  log "postgres: initdb + start on port $PG_PORT, synchronous_commit=on, fsync=on"
  as_pg "$PG_BIN/initdb" -D "$d/data" -A trust -U postgres > "$RAW/pg-initdb-r$ROUND.log" 2>&1 ||
    die "initdb failed"
  echo "$d/data" >> "$BASE/pgdata"
  as_pg "$PG_BIN/pg_ctl" -D "$d/data" -l "$d/pg.log" -w -t 60 -o "-p $PG_PORT -k $d \
    -c listen_addresses=127.0.0.1 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on \
    -c full_page_writes=on -c max_wal_size=4GB -c max_connections=100" start > /dev/null ||
    { cat "$d/pg.log" >&2; die "postgres did not start"; }
  local pid; pid=$(head -1 "$d/data/postmaster.pid")
  local psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres)
  "${psql[@]}" -c "CREATE TABLE events(id bigserial PRIMARY KEY, entity_id text NOT NULL,
      event_type text NOT NULL, payload jsonb NOT NULL, ts timestamptz NOT NULL DEFAULT now());
    CREATE INDEX events_entity_id ON events(entity_id);"
  local p; p=$(payload_json "ent-000000000000")
  [ "$("${psql[@]}" -Atc "SHOW synchronous_commit")" = on ] || die "synchronous_commit is not on"
  "${psql[@]}" -c "INSERT INTO events(entity_id, event_type, payload)
    SELECT 'q-' || lpad((g / $QUERY_PER_ENTITY)::text, 6, '0'), 'order.created', '$p'::jsonb
    FROM generate_series(0, $((QUERY_ENTITIES * QUERY_PER_ENTITY - 1))) g; ANALYZE events;"
  {
    echo "\\set e random(0, $((QUERY_ENTITIES - 1)))"
    echo "SELECT * FROM events WHERE entity_id = 'q-' || lpad(:e::text, 6, '0') ORDER BY id;"
  } > "$BASE/query.sql"
  {
    echo '\set e random(0, 999999999)'
    echo "INSERT INTO events(entity_id, event_type, payload) VALUES ('ent-' || lpad(:e::text, 12, '0'), 'order.created', '$p');"
  } > "$BASE/single.sql"
  {
    echo '\set e random(0, 999999999)'
    printf "INSERT INTO events(entity_id, event_type, payload) VALUES\n"
    local i
    for ((i = 0; i < BATCH; i++)); do
      printf "  ('ent-' || lpad((:e + %d)::text, 12, '0'), 'order.created', '%s')%s\n" "$i" "$p" \
        "$([ $i -lt $((BATCH - 1)) ] && echo , || echo ';')"
    done
  } > "$BASE/batch.sql"
  chmod 644 "$BASE"/*.sql
  PGB_LOG="$BASE/pgb"
  local pgb=(pgbench -n -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "$CONNS" -j 2 -M prepared)
  SYNC_FN=pg_syncs
  local w
  for w in query single batch; do
    [ "$WARMUP" -gt 0 ] && { "${pgb[@]}" -T "$WARMUP" -f "$BASE/$w.sql" postgres > /dev/null 2>&1 ||
      die "pgbench warm-up ($w) failed"; }
    local epr=1 note="-M prepared"
    [ $w = batch ] && epr=$BATCH && note="-M prepared,multi-VALUES"
    [ $w = query ] && epr=$QUERY_PER_ENTITY && note="-M prepared,events/query=$QUERY_PER_ENTITY"
    EXTRA_NOTE="$note" measure postgres sync-commit "$w" "$pid" "$epr" parse_pgbench -- \
      "${pgb[@]}" -T "$DURATION" -l --log-prefix="$PGB_LOG" -f "$BASE/$w.sql" postgres
  done
  SYNC_FN=""
  stop_pg "$d/data"
  rm -rf "$d"
}
# WAL fdatasyncs (pg_stat_wal.wal_sync, PostgreSQL 14+)
pg_syncs() { psql -X -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -Atc "SELECT wal_sync FROM pg_stat_wal"; }

# --- main ------------------------------------------------------------------------------
machine_load() {
  echo "uptime: $(uptime)"
  top -bn1 -w 200 | sed -n '8,12p' | awk '{printf "  top: %s %s%% %s\n", $1, $9, $12}'
}
if [ -z "$REPORT" ]; then
log "machine: $NCPU CPUs, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), kernel $(uname -r)"
# Run a private copy: the binary in build/ may be rebuilt while we measure.
if want allsource || want allsource-none; then
  cp "$ALLSOURCED" "$BASE/allsourced"
  "$BASE/allsourced" --version > /dev/null 2>&1 || die "$ALLSOURCED does not run (being rebuilt?)"
  AS_INFO="$("$BASE/allsourced" --version), binary built $(date -r "$ALLSOURCED" '+%Y-%m-%d %H:%M'), repo HEAD $(git -C "$ROOT" log -1 --format=%h 2>/dev/null || echo '?')"
  ALLSOURCED=$BASE/allsourced
else
  AS_INFO="allsourced not measured"
fi
log "allsourced: $AS_INFO"
log "load before: $(uptime)"
log "priority: nice $(ps -o ni= -p $$ | tr -d ' ')$([ "$WAIT_QUIET" -gt 0 ] && echo ", wait-quiet ${WAIT_QUIET}s")"
LOAD_BEFORE=$(machine_load)
echo "$LOAD_BEFORE" > "$RAW/load-before.txt"
echo "$HDR" > "$RESULTS"
for ((ROUND = 1; ROUND <= RUNS; ROUND++)); do
  log "=== round $ROUND of $RUNS (${DURATION}s per measurement) ==="
  if want allsource; then run_system bench_allsource sync allsource; fi
  if want allsource-none; then run_system bench_allsource none allsource-none; fi
  if want redis; then run_system bench_redis; fi
  if want nats; then run_system bench_nats; fi
  if want postgres; then run_system bench_postgres; fi
done
LOAD_AFTER=$(machine_load)
log "load after: $(uptime)"
{
  echo "Machine: $NCPU CPUs ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), kernel $(uname -r); data on $(df --output=source,fstype "$BASE" | tail -1 | tr -s ' ')"
  echo "AllSource: $AS_INFO"
  echo "Run: ${DURATION}s per measurement (+${WARMUP}s warm-up), $RUNS round(s), $CONNS connections; benchmark processes at nice $(ps -o ni= -p $$ | tr -d ' ')$([ "$WAIT_QUIET" -gt 0 ] && echo ", waiting up to ${WAIT_QUIET}s for a quiet machine before each measurement")"
  echo "Load before: $(head -1 <<<"$LOAD_BEFORE" | sed 's/^uptime: *//')"
  echo "Load after:  $(head -1 <<<"$LOAD_AFTER" | sed 's/^uptime: *//')"
} > "$RAW/header.txt"

else
  [ -f "$REPORT" ] || die "no such file: $REPORT"
  RESULTS=$REPORT
  [ -f "$(dirname "$REPORT")/failures" ] && cp "$(dirname "$REPORT")/failures" "$BASE/failures"
  if [ -f "$(dirname "$REPORT")/raw/header.txt" ]; then cp "$(dirname "$REPORT")/raw/header.txt" "$RAW/header.txt"
  else echo "(report regenerated from $REPORT)" > "$RAW/header.txt"; fi
  RUNS=$(awk -F'\t' 'NR > 1 { r[$1] } END { print length(r) }' "$RESULTS")
fi

# --- report ----------------------------------------------------------------------------
# medians over the rounds, per system and workload
MEDIANS=$(awk -F'\t' 'NR > 1 {
    k = $2 "\t" $3 "\t" $4; if (!(k in n)) order[++no] = k; n[k]++
    for (c = 5; c <= 15; c++) v[k, c, n[k]] = $c; note[k] = $16 }
  function med(k, c,   m, i, j, t, a) { m = n[k]; for (i = 1; i <= m; i++) a[i] = v[k, c, i] + 0
    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
    return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2 }
  END { for (o = 1; o <= no; o++) { k = order[o]; printf "median\t%s", k
      for (c = 5; c <= 15; c++) printf "\t%.6g", med(k, c); printf "\t%s\t%d\n", note[k], n[k] } }' "$RESULTS")

if [ -s "$BASE/failures" ]; then
  log "FAILURES:"; sed 's/^/  /' "$BASE/failures" >&2
fi
if [ $TSV -eq 1 ]; then
  cat "$RESULTS"
  printf '%s\n' "$MEDIANS"
  exit 0
fi

get() {  # SYSTEM WORKLOAD COLUMN(5..14) -> median value or empty
  awk -F'\t' -v s="$1" -v w="$2" -v c="$3" '$2 == s && $4 == w { print $c }' <<<"$MEDIANS"
}
fmt() { awk -v x="$1" 'BEGIN{ if (x == "") print "n/a"; else if (x >= 1e6) printf "%.2fM", x/1e6;
  else if (x >= 1e4) printf "%.0fk", x/1e3; else if (x >= 1e3) printf "%.1fk", x/1e3; else printf "%.0f", x }'; }
# Ratio AllSource sync / peer: the median over the rounds of the ratio within
# each round (both measured minutes apart, under similar machine load).
ratio() {  # PEER WORKLOAD
  awk -F'\t' -v p="$1" -v w="$2" 'NR > 1 && $4 == w { if ($2 == "allsource") a[$1] = $6; if ($2 == p) b[$1] = $6 }
    END { n = 0; for (r in a) if ((r in b) && b[r] > 0) x[++n] = a[r] / b[r]
      if (n == 0) exit
      for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
      m = (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
      printf " (%.2fx)", m }' "$RESULTS"
}
cell() {  # SYSTEM WORKLOAD -> "events/s (AllSource/peer)"
  local v; v=$(get "$1" "$2" 6)
  if [ -z "$v" ]; then echo "n/a"; elif [ "$1" = allsource ]; then fmt "$v"; else echo "$(fmt "$v")$(ratio "$1" "$2")"; fi
}
wl_name() { case $1 in single) echo "single event per request, $CONNS conns";;
  batch) echo "$BATCH-event batches, $CONNS conns";; query) echo "entity query ($QUERY_PER_ENTITY events each), $CONNS conns";;
  async-stream) echo "async stream (NATS only, 1 conn)";; esac; }

echo
echo "## HTTP ingest benchmark: $RUNS round(s), medians"
echo
sed 's/$/  /' "$RAW/header.txt"
echo
echo "Events/s, median of the rounds; in brackets AllSource sync / peer, the median of the per-round"
echo "ratios (>1 means AllSource is ahead):"
echo
echo "| workload | AllSource sync | Redis AOF always | PostgreSQL sync commit | NATS JetStream file (no fsync) | AllSource none (memory) |"
echo "|---|---|---|---|---|---|"
for w in single batch query async-stream; do
  [ -n "$(awk -F'\t' -v w="$w" '$4 == w' <<<"$MEDIANS")" ] || continue
  echo "| $(wl_name $w) | $(cell allsource $w) | $(cell redis $w) | $(cell postgres $w) | $(cell nats $w) | $(cell allsource-none $w) |"
done
# The same restricted to quiet measurements: other processes used <= 10 % of a CPU.
qcell() {  # SYSTEM WORKLOAD
  awk -F'\t' -v s="$1" -v w="$2" -v q=10 'NR > 1 && $4 == w && $12 <= q { if ($2 == s) v[++n] = $6; if ($2 == "allsource") a[$1] = $6; if ($2 == s) b[$1] = $6 }
    function med(x, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
      return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2 }
    END { if (n == 0) { print "n/a"; exit }
      m = med(v, n); out = (m >= 1e4) ? sprintf("%.0fk", m / 1e3) : sprintf("%.1fk", m / 1e3)
      k = 0; if (s != "allsource") for (r in a) if ((r in b) && b[r] > 0) x[++k] = a[r] / b[r]
      if (k > 0) out = out sprintf(" (%.2fx, %d)", med(x, k), k)
      printf "%s [n=%d]\n", out, n }' "$RESULTS"
}
echo
echo "Quiet measurements only (other processes used <= 10 % of a CPU): median events/s [n = how many];"
echo "in brackets the median AllSource sync / peer over the rounds where both were quiet, and how many:"
echo
echo "| workload | AllSource sync | Redis AOF always | PostgreSQL sync commit | NATS JetStream file (no fsync) | AllSource none (memory) |"
echo "|---|---|---|---|---|---|"
for w in single batch query async-stream; do
  [ -n "$(awk -F'\t' -v w="$w" '$4 == w' <<<"$MEDIANS")" ] || continue
  echo "| $(wl_name $w) | $(qcell allsource $w) | $(qcell redis $w) | $(qcell postgres $w) | $(qcell nats $w) | $(qcell allsource-none $w) |"
done
echo
echo "Durability of each system:"
echo "- AllSource sync: fdatasync of the WAL before every acknowledgement (group commit)."
echo "- AllSource none: memory only, nothing written (reference)."
echo "- Redis 7.0.15: appendonly yes, appendfsync always (AOF fdatasync before replies, per event-loop iteration)."
echo "- PostgreSQL 15: fsync=on, synchronous_commit=on (WAL flushed before COMMIT returns; group commit)."
echo "- NATS 2.9.10 JetStream, file storage: NOT durable per ack: 2.9.10 has no sync option"
echo "  (sync_interval / sync: always arrived in 2.10); the file store fsyncs in the background (every 2 min)."
echo
echo "All measurements (medians):"
echo
echo "| system | durability | workload | req/s | events/s | p50 us | p99 us | errors | server CPU % | server CPU us/event | client CPU % | rest CPU % | load1 | fdatasync/s | events/fdatasync | rounds | notes |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
awk -F'\t' '{ fs = ($15 > 0) ? sprintf("%.0f", $15) : ""; ef = ($15 > 0 && $4 != "query") ? sprintf("%.1f", $6 / $15) : ""
  us = ($6 > 0) ? sprintf("%.1f", $10 / 100 * 1e6 / $6) : ""
  printf "| %s | %s | %s | %.0f | %.0f | %.0f | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
  $2, $3, $4, $5, $6, $7, $8, $9, $10, us, $11, $12, $14, fs, ef, $17, $16 }' <<<"$MEDIANS"
echo
if [ "$RUNS" -gt 1 ]; then
  echo "Every round: events/s (in brackets: CPU % used by other processes during that measurement):"
  echo
  awk -F'\t' 'NR > 1 { k = $2 " | " $4; if (!(k in seen)) { seen[k] = 1; order[++n] = k }
      v[k, $1] = sprintf("%.0f (%s)", $6, $12); if ($1 > maxr) maxr = $1 }
    END { printf "| system | workload |"; for (r = 1; r <= maxr; r++) printf " round %d |", r; printf "\n|---|---|"
      for (r = 1; r <= maxr; r++) printf "---|"; printf "\n"
      for (i = 1; i <= n; i++) { k = order[i]; printf "| %s |", k
        for (r = 1; r <= maxr; r++) printf " %s |", ((k, r) in v) ? v[k, r] : "-"; printf "\n" } }' "$RESULTS"
  echo
fi
if [ -s "$BASE/failures" ]; then
  echo "FAILED measurements (missing from the medians):"
  sed 's/^/- /' "$BASE/failures"
  echo
fi
echo "CPU % is of one CPU (max $((NCPU * 100)) %), from /proc/<pid>/stat (the server's whole process tree) and the"
echo "client's rusage; 'rest' = busy CPU (/proc/stat) used by neither: other processes on the machine and"
echo "unattributed kernel work. Server CPU us/event = server CPU seconds per event (for queries: per event returned)."
echo "Each column is the median over the rounds on its own."
