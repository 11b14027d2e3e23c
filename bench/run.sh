#!/usr/bin/env bash
# Runs the gateway benchmarks and their floors on this machine and prints
# the medians of repeated runs with the gateway's ratios to the floors.
#
# Usage:
#   bench/run.sh [--smoke] [STAGE...]
#
# Stages (default: all, in this order):
#   floors            net/http floor and the Wazuh simulator called straight
#   gateway-sqlite    the gateway on SQLite
#   gateway-postgres  the gateway on PostgreSQL, in a fresh schema
#   conns             peak RSS with CONNS concurrent connections (gateway on SQLite)
#   bulk              BULK_N containment actions against the rate-limited Wazuh simulator
#   arstart           smartpt-wazuh ar, start to API request, beside a Python baseline
#
# --smoke shrinks every run to a few seconds at a low rate, to check that the
# stages work; its figures are not benchmark results.
#
# Settings (environment, with defaults):
#   REPEATS=5 DURATION=20s WARMUP=2s RATE=500 WORKERS=32 CONNS=1000
#   SIM_DELAY=0s          added before every response of the Wazuh simulator
#   SIM_RPM=6000000       the simulator's max_request_per_minute (Wazuh's default is 300)
#   SIM_HOSTS=10000       agents the Wazuh simulator serves; the load spreads its
#                         requests over all of them, so that an isolate finds no
#                         isolation of its agent still in flight (which the gateway
#                         resolves from its store without a vendor call)
#   GATEWAY_RPM=6000000   the integration's requests_per_minute setting in the
#                         throughput stages; the bulk stage keeps the connector's
#                         default budget (300 a minute for Wazuh)
#   GATEWAY_MODE=serve    serve: smartpt serve against a simulator process;
#                         demo: smartpt demo (in-process simulators, SQLite only)
#   GATEWAY_SETTINGS=     extra flags for `smartpt integration set`, for
#                         example "--setting NAME=VALUE"
#   BULK_N=5000 BULK_LIMIT_PER_MIN=300
#   BULK_CALLS_PER_ACTION=2  Wazuh API calls per isolation: GET /agents to find
#                         the agent, PUT /active-response to run the command
#   AR_RUNS=30
#   PG_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
#   OUT=a new folder under /tmp   results.jsonl, logs and binaries go here
#   PORT_BASE=18400       the gateway listens on PORT_BASE, floors pick free ports
#
# Every process this script starts is stopped on exit, by its own PID.
set -euo pipefail
cd "$(dirname "$0")/.."

smoke=0
stages=()
for arg in "$@"; do
  case "$arg" in
    --smoke) smoke=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    floors|gateway-sqlite|gateway-postgres|conns|bulk|arstart) stages+=("$arg") ;;
    *) echo "run.sh: unknown argument '$arg'; see bench/run.sh --help" >&2; exit 2 ;;
  esac
done
if [ ${#stages[@]} -eq 0 ]; then
  stages=(floors gateway-sqlite gateway-postgres conns bulk arstart)
fi

if [ "$smoke" = 1 ]; then
  REPEATS=${REPEATS:-1} DURATION=${DURATION:-2s} WARMUP=${WARMUP:-500ms} RATE=${RATE:-50}
  WORKERS=${WORKERS:-4} CONNS=${CONNS:-20} BULK_N=${BULK_N:-20} AR_RUNS=${AR_RUNS:-3}
fi
REPEATS=${REPEATS:-5}
DURATION=${DURATION:-20s}
WARMUP=${WARMUP:-2s}
RATE=${RATE:-500}
WORKERS=${WORKERS:-32}
CONNS=${CONNS:-1000}
SIM_DELAY=${SIM_DELAY:-0s}
SIM_RPM=${SIM_RPM:-6000000}
GATEWAY_RPM=${GATEWAY_RPM:-6000000}
SIM_HOSTS=${SIM_HOSTS:-10000}
SIM_HOSTS_FLAG="-hosts $SIM_HOSTS"
GATEWAY_MODE=${GATEWAY_MODE:-serve}
GATEWAY_SETTINGS=${GATEWAY_SETTINGS:-}
BULK_N=${BULK_N:-5000}
BULK_LIMIT_PER_MIN=${BULK_LIMIT_PER_MIN:-300}
BULK_CALLS_PER_ACTION=${BULK_CALLS_PER_ACTION:-2}
AR_RUNS=${AR_RUNS:-30}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
PORT_BASE=${PORT_BASE:-18400}
OUT=${OUT:-$(mktemp -d /tmp/smartpt-bench.XXXXXX)}
mkdir -p "$OUT/bin"
RESULTS="$OUT/results.jsonl"

# Hard bounds that apply whatever the environment sets.
if [ "$REPEATS" -gt 20 ] || [ "$CONNS" -gt 5000 ] || [ "$BULK_N" -gt 10000 ] || [ "$AR_RUNS" -gt 500 ]; then
  echo "run.sh: REPEATS <= 20, CONNS <= 5000, BULK_N <= 10000 and AR_RUNS <= 500 are the limits" >&2
  exit 2
fi

log() { printf '%s  %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# --- processes ------------------------------------------------------------

pids=()
pg_schema=""

cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "$pg_schema" ]; then
    psql "$PG_URL" -qc "SET client_min_messages TO warning; DROP SCHEMA IF EXISTS $pg_schema CASCADE" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

# stop PID ends one process this script started.
stop() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$1" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
}

# start_floor NAME ARGS... starts bench/floor, waits for its LISTEN line and
# sets floor_pid and floor_url.
start_floor() {
  local name=$1
  shift
  "$OUT/bin/floor" "$@" >"$OUT/$name.out" 2>"$OUT/$name.log" &
  floor_pid=$!
  pids+=("$floor_pid")
  for _ in $(seq 100); do
    floor_url=$(awk '/^LISTEN /{print $2}' "$OUT/$name.out")
    [ -n "$floor_url" ] && return 0
    kill -0 "$floor_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "run.sh: floor $name did not start; see $OUT/$name.log" >&2
  cat "$OUT/$name.log" >&2
  return 1
}

# wait_http URL waits up to 60 s for a 200 from URL.
wait_http() {
  for _ in $(seq 600); do
    if curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "run.sh: $1 returned no 200 within 60 s" >&2
  return 1
}

# --- load runs ------------------------------------------------------------

# load LABEL ARGS... runs bench/load REPEATS times and appends its results.
load() {
  local label=$1
  shift
  for i in $(seq "$REPEATS"); do
    log "run $label ($i/$REPEATS)"
    # The machine's load average before each run, kept beside the figures.
    echo "$(date -u +%H:%M:%S) $label $i $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/loadavg.txt"
    timeout 70m "$OUT/bin/load" -label "$label" -duration "$DURATION" -warmup "$WARMUP" "$@" \
      -json-out "$RESULTS" >/dev/null 2>>"$OUT/load.log" || {
      echo "run.sh: load run $label failed; see $OUT/load.log" >&2
      tail -5 "$OUT/load.log" >&2
    }
  done
}

# scenarios SYSTEM ARGS... runs the three load shapes every system is
# measured with: open loop at RATE with the mixed load, and closed loop for
# maximum throughput with status only and with containment only.
scenarios() {
  local system=$1
  shift
  load "$system/open$RATE" "$@" -rate "$RATE" -n 2000000 -targets "$SIM_HOSTS" -mix status=80,isolate=20
  load "$system/closed-status" "$@" -workers "$WORKERS" -n 2000000 -targets "$SIM_HOSTS" -mix status=1
  load "$system/closed-isolate" "$@" -workers "$WORKERS" -n 2000000 -targets "$SIM_HOSTS" -mix isolate=1
}

# --- build ----------------------------------------------------------------

log "build into $OUT/bin"
go build -o "$OUT/bin/" ./bench/load ./bench/floor ./bench/arstart ./bench/summarize
have_smartpt=0
if go build -o "$OUT/bin/smartpt" ./cmd/smartpt 2>"$OUT/build-smartpt.log"; then
  have_smartpt=1
else
  log "cmd/smartpt does not build yet; gateway stages are skipped (see $OUT/build-smartpt.log)"
fi

# The demo uses this key for company demo, and the gateway seals the
# simulator's credentials under the master key; both are random test data.
# With SQLite alone the master key could live in DIR/master.key, but
# PostgreSQL replicas need it from the environment or a shared file.
SMARTPT_DEMO_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
SMARTPT_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SMARTPT_DEMO_KEY SMARTPT_MASTER_KEY

# start_gateway NAME STORE_FLAGS... starts the gateway and sets gateway_pid,
# gateway_url, sim_pid and SMARTPT_BENCH_KEY.
#
# GATEWAY_MODE=serve (the default) runs `smartpt serve` against a Wazuh
# simulator in a process of its own (bench/floor), configured through the
# CLI like a real company: the gateway's RSS and CPU figures then exclude the
# simulator, SIM_DELAY applies, and PostgreSQL works. GATEWAY_MODE=demo runs
# `smartpt demo`, whose simulators share the gateway's process and keep the
# vendors' default rate limits (SQLite only).
start_gateway() {
  local name=$1
  shift
  local port=$PORT_BASE
  gateway_url="http://127.0.0.1:$port"
  sim_pid=""

  # Another run's gateway on this port would take this run's requests.
  if curl -sS -o /dev/null --max-time 1 "$gateway_url/healthz" 2>/dev/null; then
    echo "run.sh: port $port is in use by another process; stop it or set PORT_BASE to a free port" >&2
    return 1
  fi

  # The data folder must exist, also beside PostgreSQL, for the master key file.
  local previous=""
  for arg in "$@"; do
    if [ "$previous" = --data ]; then
      mkdir -p "$arg"
    fi
    previous=$arg
  done

  if [ "$GATEWAY_MODE" = demo ]; then
    SMARTPT_BENCH_KEY=$SMARTPT_DEMO_KEY
    export SMARTPT_BENCH_KEY
    "$OUT/bin/smartpt" demo --addr "127.0.0.1:$port" "$@" >"$OUT/$name.log" 2>&1 &
    gateway_pid=$!
    pids+=("$gateway_pid")
    wait_http "$gateway_url/healthz"
    alive "$gateway_pid" "$name"
    return
  fi

  # shellcheck disable=SC2086 # SIM_HOSTS_FLAG is one flag and its value
  start_floor "$name-sim" -mode sim -kind wazuh -delay "$SIM_DELAY" -requests-per-minute "$SIM_RPM" $SIM_HOSTS_FLAG -info "$OUT/$name-sim.json"
  sim_pid=$floor_pid

  local created
  created=$("$OUT/bin/smartpt" company create bench "$@")
  SMARTPT_BENCH_KEY=$(grep -oE '\b[0-9a-f]{64}\b' <<<"$created" | head -1)
  export SMARTPT_BENCH_KEY
  if [ -z "$SMARTPT_BENCH_KEY" ]; then
    echo "run.sh: no company key in the output of smartpt company create" >&2
    return 1
  fi

  # The simulator's credentials are random test data, so passing them on
  # the command line exposes nothing real.
  local integration_args=()
  mapfile -t integration_args < <(jq -r '(.settings | to_entries[] | "--setting", "\(.key)=\(.value)"), (.secrets | to_entries[] | "--secret", "\(.key)=\(.value)")' "$OUT/$name-sim.json")
  if [ -n "$GATEWAY_RPM" ]; then
    integration_args+=(--setting "requests_per_minute=$GATEWAY_RPM")
  fi
  # shellcheck disable=SC2086 # GATEWAY_SETTINGS holds several flags
  "$OUT/bin/smartpt" integration set bench --service wazuh --kind wazuh "${integration_args[@]}" $GATEWAY_SETTINGS "$@" >>"$OUT/$name.log"

  "$OUT/bin/smartpt" serve --addr "127.0.0.1:$port" "$@" >>"$OUT/$name.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  wait_http "$gateway_url/healthz"
  alive "$gateway_pid" "$name"
}

# alive PID NAME fails when the gateway exited, for example because another
# process took its port after the check in start_gateway and answered the
# readiness probe in its place.
alive() {
  if ! kill -0 "$1" 2>/dev/null; then
    echo "run.sh: the gateway $2 exited; see $OUT/$2.log" >&2
    return 1
  fi
}

# stop_gateway stops the gateway and its simulator.
stop_gateway() {
  stop "$gateway_pid"
  if [ -n "$sim_pid" ]; then
    stop "$sim_pid"
  fi
}

# --- stages ---------------------------------------------------------------

stage_floors() {
  start_floor trivial -mode trivial
  scenarios trivial -protocol trivial -url "$floor_url" -pid "$floor_pid"
  stop "$floor_pid"

  # shellcheck disable=SC2086 # SIM_HOSTS_FLAG is one flag and its value
  if start_floor direct -mode sim -kind wazuh -delay "$SIM_DELAY" -requests-per-minute "$SIM_RPM" $SIM_HOSTS_FLAG -info "$OUT/wazuh-sim.json"; then
    scenarios direct -protocol wazuh -sim-info "$OUT/wazuh-sim.json" -pid "$floor_pid"
    curl -fsS "$floor_url/_bench/stats" >"$OUT/direct-stats.json" || true
    stop "$floor_pid"
  else
    log "the Wazuh simulator is not registered yet; direct floor skipped"
  fi
}

# audit_check SYSTEM COUNT_SQL_RUNNER STORE_FLAGS... verifies the audit chain
# of company bench after a stage and compares its event count with the
# successful requests measured. The count also includes warm-up requests and
# several events per action (requested, dispatched, ...), so it must be at
# least the measured figure.
audit_check() {
  local system=$1 count_sql=$2
  shift 2
  if [ "$GATEWAY_MODE" = demo ]; then
    return 0
  fi
  local verified=ok
  "$OUT/bin/smartpt" audit verify bench "$@" >>"$OUT/$system.log" 2>&1 || verified=FAILED
  local events measured
  events=$($count_sql "SELECT count(*) FROM audit_events" 2>/dev/null || echo "?")
  measured=$( (grep -h "\"label\":\"$system/" "$RESULTS" || true) | sed 's/^RESULT //' |
    jq -s '[.[] | .statuses | to_entries[] | select(.key | startswith("2")) | .value] | add // 0')
  log "audit of $system: chain verify $verified, $events events for $measured measured 2xx responses"
  echo "AUDIT {\"system\":\"$system\",\"verify\":\"$verified\",\"events\":\"$events\",\"measured_2xx\":$measured}" >>"$OUT/audit.jsonl"
}

sqlite_count() {
  python3 -c 'import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "$OUT/data-sqlite/smartpt.db" "$1"
}

postgres_count() {
  psql "$PG_URL" -tAc "SET search_path TO $pg_schema; $1" | tail -1
}

stage_gateway_sqlite() {
  start_gateway gateway-sqlite --data "$OUT/data-sqlite"
  scenarios gateway-sqlite -url "$gateway_url" -pid "$gateway_pid"
  stop_gateway
  audit_check gateway-sqlite sqlite_count --data "$OUT/data-sqlite"
}

stage_gateway_postgres() {
  if [ "$GATEWAY_MODE" = demo ]; then
    log "smartpt demo runs on SQLite only; PostgreSQL stage skipped (use GATEWAY_MODE=serve)"
    return 0
  fi
  pg_schema="bench_$(date +%s)_$$"
  psql "$PG_URL" -qc "CREATE SCHEMA $pg_schema" >/dev/null
  # --data still contains the master key file that seals the credentials.
  start_gateway gateway-postgres --data "$OUT/data-postgres" --database-url "$PG_URL&search_path=$pg_schema"
  scenarios gateway-postgres -url "$gateway_url" -pid "$gateway_pid"
  stop_gateway
  audit_check gateway-postgres postgres_count --data "$OUT/data-postgres" --database-url "$PG_URL&search_path=$pg_schema"
  psql "$PG_URL" -qc "SET client_min_messages TO warning; DROP SCHEMA $pg_schema CASCADE" >/dev/null
  pg_schema=""
}

stage_conns() {
  start_floor trivial-conns -mode trivial
  load "trivial/conns$CONNS" -protocol trivial -url "$floor_url" -pid "$floor_pid" -workers "$CONNS" -n 2000000 -mix status=1
  stop "$floor_pid"

  start_gateway gateway-conns --data "$OUT/data-conns"
  load "gateway-sqlite/conns$CONNS" -url "$gateway_url" -pid "$gateway_pid" -workers "$CONNS" -n 2000000 -mix status=1
  stop_gateway
}

stage_bulk() {
  # The time the vendor's limit allows for the calls the actions need.
  local allowed
  allowed=$(awk -v n="$BULK_N" -v c="$BULK_CALLS_PER_ACTION" -v l="$BULK_LIMIT_PER_MIN" 'BEGIN { printf "%.1f", n * c / l * 60 }')
  local cap
  cap=$(awk -v a="$allowed" 'BEGIN { c = int(a * 1.5 + 60); print (c > 3600 ? 3600 : c) }')
  log "bulk: $BULK_N containment actions, the limit allows them in $allowed s; the run stops after $cap s"

  # One distinct agent per action: against the 20 demo agents most
  # requests would find an isolation already in flight and make no call.
  local saved_rpm=$SIM_RPM saved_gateway_rpm=$GATEWAY_RPM
  SIM_RPM=$BULK_LIMIT_PER_MIN GATEWAY_RPM="" SIM_HOSTS_FLAG="-hosts $BULK_N"
  start_gateway gateway-bulk --data "$OUT/data-bulk"
  SIM_RPM=$saved_rpm GATEWAY_RPM=$saved_gateway_rpm SIM_HOSTS_FLAG="-hosts $SIM_HOSTS"
  local saved_repeats=$REPEATS saved_duration=$DURATION saved_warmup=$WARMUP
  REPEATS=1 DURATION="${cap}s" WARMUP=0s
  load "gateway-sqlite/bulk$BULK_N" -url "$gateway_url" -pid "$gateway_pid" -workers "$WORKERS" -n "$BULK_N" -targets "$BULK_N" -mix isolate=1 -timeout 5m
  REPEATS=$saved_repeats DURATION=$saved_duration WARMUP=$saved_warmup
  if [ -n "$sim_pid" ]; then
    # The vendor's side: the simulator's responses, counted by status.
    curl -fsS "$floor_url/_bench/stats" >"$OUT/bulk-sim-stats.json" || true
    log "simulator responses by status: $(cat "$OUT/bulk-sim-stats.json" 2>/dev/null)"
  fi
  stop_gateway

  grep "\"label\":\"gateway-sqlite/bulk$BULK_N\"" "$RESULTS" | tail -1 | sed 's/^RESULT //' |
    jq -r --argjson allowed "$allowed" '"bulk: \(.requests) actions in \(.elapsed_s | floor) s = \((.elapsed_s / $allowed * 100 | floor) / 100) x the \($allowed) s the limit allows; statuses \(.statuses | tostring)"' >&2 || true
}

stage_arstart() {
  local args=(-n "$AR_RUNS" -json-out "$OUT/arstart.jsonl")
  if [ -d cmd/smartpt-wazuh ] && go build -o "$OUT/bin/smartpt-wazuh" ./cmd/smartpt-wazuh 2>"$OUT/build-smartpt-wazuh.log"; then
    args+=(-bin "$OUT/bin/smartpt-wazuh")
  else
    log "cmd/smartpt-wazuh does not build yet; measuring the Python baseline alone"
    args+=(-bin "")
  fi
  "$OUT/bin/arstart" -script bench/arstart/baseline.py "${args[@]}" >/dev/null
}

for stage in "${stages[@]}"; do
  case "$stage" in
    gateway-*|conns|bulk)
      if [ "$have_smartpt" = 0 ]; then
        log "stage $stage skipped: no smartpt binary"
        continue
      fi
      ;;
  esac
  log "stage $stage"
  "stage_${stage//-/_}"
done

# --- summary --------------------------------------------------------------

echo
echo "Machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(go version | cut -d' ' -f3)"
echo "Settings: REPEATS=$REPEATS DURATION=$DURATION WARMUP=$WARMUP RATE=$RATE WORKERS=$WORKERS CONNS=$CONNS SIM_DELAY=$SIM_DELAY SIM_RPM=$SIM_RPM GATEWAY_MODE=$GATEWAY_MODE smoke=$smoke"
echo "Raw results: $RESULTS"
echo
if [ -s "$RESULTS" ]; then
  "$OUT/bin/summarize" "$RESULTS"
fi
if [ -s "$OUT/audit.jsonl" ]; then
  echo
  sed 's/^AUDIT //' "$OUT/audit.jsonl" | jq -r '"audit \(.system): verify \(.verify), \(.events) events for \(.measured_2xx) measured 2xx responses"'
fi
if [ -s "$OUT/arstart.jsonl" ]; then
  echo
  echo "| program | runs | median ms | p90 ms | min ms | max ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  sed 's/^RESULT //' "$OUT/arstart.jsonl" | jq -r '.results[] | "| \(.name) | \(.runs) | \(.median_ms * 100 | round / 100) | \(.p90_ms * 100 | round / 100) | \(.min_ms * 100 | round / 100) | \(.max_ms * 100 | round / 100) |"'
fi
