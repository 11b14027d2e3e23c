#!/usr/bin/env bash
# Compares two builds, or two settings of one build, of the gateway on
# SQLite under the same closed-loop load, in alternated runs, so that a
# change of the machine's speed during the comparison affects both alike.
#
# Usage:
#   bench/ab.sh DIR_A DIR_B
#   bench/ab.sh --help
#
# DIR_A and DIR_B are checkouts of this repository (the same one twice to
# compare settings). Each gateway runs `smartpt serve` on its own data
# folder against its own Wazuh simulator (bench/floor -mode sim). The load
# generator is built from DIR_A. Every run prints one line: the gateway,
# the round, requests a second and the gateway's CPU time per request.
#
# Settings (environment, with defaults):
#   ROUNDS=3 (1 to 20) DURATION=8s WARMUP=2s (Go durations) WORKERS=32
#   MIX=status=1 TARGETS=10000
#   ENV_A= ENV_B=      extra environment of gateway A or B, for example
#                      "SMARTPT_GC_MEMORY_FLOOR=off"
#   PORT_BASE=17500    gateway A listens on PORT_BASE+1, B on PORT_BASE+2
#   OUT=a new folder under /tmp   binaries, data, logs and results
#
# Every process this script starts is stopped on exit.
set -euo pipefail

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
}
case "${1:-}" in
  -h | --help | help)
    usage
    exit 0
    ;;
esac
if [ $# -ne 2 ]; then
  echo "ab.sh: expected 2 arguments, DIR_A and DIR_B, got $#" >&2
  usage >&2
  exit 2
fi

# checkout DIR prints the absolute path of DIR, a checkout of this
# repository, or exits 2 naming it.
checkout() {
  if [ ! -f "$1/go.mod" ] || [ ! -d "$1/cmd/smartpt" ] || [ ! -d "$1/bench/load" ]; then
    echo "ab.sh: $1 is not a SmartPT checkout (no go.mod, cmd/smartpt and bench/load); give the folder of a clone, such as ." >&2
    exit 2
  fi
  (cd "$1" && pwd)
}
A=$(checkout "$1")
B=$(checkout "$2")
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8s}
WARMUP=${WARMUP:-2s}
WORKERS=${WORKERS:-32}
MIX=${MIX:-status=1}
TARGETS=${TARGETS:-10000}
ENV_A=${ENV_A:-}
ENV_B=${ENV_B:-}
PORT_BASE=${PORT_BASE:-17500}

if ! [[ "$ROUNDS" =~ ^[0-9]+$ ]] || [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt 20 ]; then
  echo "ab.sh: ROUNDS=$ROUNDS is invalid; use a whole number from 1 to 20" >&2
  exit 2
fi
for setting in "DURATION=$DURATION" "WARMUP=$WARMUP"; do
  # Go durations as bench/load reads them, such as 8s, 500ms or 1m30s.
  if ! [[ "${setting#*=}" =~ ^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$ ]]; then
    echo "ab.sh: $setting is not a Go duration; write it as 8s, 500ms or 1m" >&2
    exit 2
  fi
done
for setting in "WORKERS=$WORKERS" "TARGETS=$TARGETS" "PORT_BASE=$PORT_BASE"; do
  if ! [[ "${setting#*=}" =~ ^[1-9][0-9]*$ ]]; then
    echo "ab.sh: $setting is invalid; use a whole number above 0" >&2
    exit 2
  fi
done
if [ "$PORT_BASE" -gt 65533 ]; then
  echo "ab.sh: PORT_BASE=$PORT_BASE is invalid; gateway B listens on PORT_BASE+2, so use at most 65533" >&2
  exit 2
fi
OUT=${OUT:-$(mktemp -d /tmp/smartpt-ab.XXXXXX)}
echo "ab.sh: binaries, data, logs and results go to $OUT" >&2

pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

SMARTPT_MASTER_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SMARTPT_MASTER_KEY

# setup NAME SRC PORT ENV builds SRC, starts its simulator and gateway.
setup() {
  local name=$1 src=$2 port=$3 env=$4
  local dir=$OUT/$name
  mkdir -p "$dir/bin" "$dir/data"
  (cd "$src" && go build -o "$dir/bin/" ./bench/load ./bench/floor ./cmd/smartpt)

  "$dir/bin/floor" -mode sim -kind wazuh -requests-per-minute 6000000 -hosts "$TARGETS" \
    -info "$dir/sim.json" >"$dir/sim.out" 2>"$dir/sim.log" &
  pids+=($!)
  for _ in $(seq 100); do
    [ -s "$dir/sim.json" ] && break
    sleep 0.1
  done

  "$dir/bin/smartpt" company create bench --data "$dir/data" | grep -oE '\b[0-9a-f]{64}\b' | head -1 >"$dir/key"
  local args=()
  mapfile -t args < <(jq -r '(.settings | to_entries[] | "--setting", "\(.key)=\(.value)"), (.secrets | to_entries[] | "--secret", "\(.key)=\(.value)")' "$dir/sim.json")
  "$dir/bin/smartpt" integration set bench --service wazuh --kind wazuh "${args[@]}" \
    --setting requests_per_minute=6000000 --data "$dir/data" >/dev/null

  # shellcheck disable=SC2086 # env holds several NAME=VALUE words
  env $env "$dir/bin/smartpt" serve --addr "127.0.0.1:$port" --data "$dir/data" >"$dir/gateway.log" 2>&1 &
  pids+=($!)
  echo $! >"$dir/pid"
  for _ in $(seq 600); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/healthz" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "ab.sh: gateway $name gave no 200 on /healthz at port $port within 60 s; see $dir/gateway.log" >&2
  return 1
}

setup a "$A" $((PORT_BASE + 1)) "$ENV_A"
setup b "$B" $((PORT_BASE + 2)) "$ENV_B"

for round in $(seq "$ROUNDS"); do
  for name in a b; do
    port=$((PORT_BASE + 1))
    [ "$name" = b ] && port=$((PORT_BASE + 2))
    log=$OUT/$name/load-$round.log
    status=0
    SMARTPT_BENCH_KEY=$(cat "$OUT/$name/key") timeout 10m "$OUT/a/bin/load" -url "http://127.0.0.1:$port" \
      -workers "$WORKERS" -n 2000000 -duration "$DURATION" -warmup "$WARMUP" -targets "$TARGETS" -mix "$MIX" \
      -pid "$(cat "$OUT/$name/pid")" -label "$name" -json-out "$OUT/results.jsonl" >/dev/null 2>"$log" || status=$?
    if [ "$status" -ne 0 ]; then
      echo "ab.sh: load against gateway $name failed in round $round (exit $status); see $log" >&2
      tail -3 "$log" >&2
      exit 1
    fi
    printf '%s round %s: %s, %s\n' "$name" "$round" \
      "$(grep -oE '[0-9]+/s' "$OUT/$name/load-$round.log" | head -1)" \
      "$(grep -oE '[0-9.]+ µs CPU per request' "$OUT/$name/load-$round.log" | head -1)"
  done
done
