#!/usr/bin/env bash
# The load run of issue 8/9 (RELIABILITY L): bench/load/locustfile.py, headless, against
#   pg:     the production shape: gunicorn (LOAD_WORKERS workers) on PostgreSQL crm_bench (built by
#           `make bench BENCH_ARGS=--small` when missing) with the Redis cache (a private
#           redis-server on LOAD_REDIS_PORT);
#   sqlite: the embedded default (crm.settings.dev: SQLite in WAL mode) on a data directory
#           of its own with the demo data (`crm demo`), gunicorn with the same workers.
# Usage: bench/load/run.sh [pg|sqlite|both]. Knobs: LOAD_USERS (30), LOAD_SPAWN (0.25/s: a slow ramp,
# so the history shows the rate each number of users sustains),
# LOAD_TIME (2m), LOAD_WORKERS (4), LOAD_PORT (8101), LOAD_DIR (/tmp/crm-load), LOAD_PACE (tasks
# per second per user; unset: 0.5 - 2 s between tasks). RELIABILITY L1 (50 req/s for 10 min):
#   LOAD=pg LOAD_USERS=108 LOAD_PACE=0.4 LOAD_SPAWN=10 LOAD_TIME=11m make load
# Results: $LOAD_DIR/<profile>_stats.csv (locust's CSV) and a summary line per profile.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin
WHICH=${1:-both}
USERS=${LOAD_USERS:-30}
SPAWN=${LOAD_SPAWN:-0.25}
TIME=${LOAD_TIME:-2m}
WORKERS=${LOAD_WORKERS:-4}
PORT=${LOAD_PORT:-8101}
REDIS_PORT=${LOAD_REDIS_PORT:-6391}
DIR=${LOAD_DIR:-/tmp/crm-load}
mkdir -p "$DIR"
PIDS=()
cleanup() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_up() {
  for _ in $(seq 1 60); do
    curl -sS -o /dev/null "http://127.0.0.1:$PORT/" 2>/dev/null && return 0
    sleep 1
  done
  echo "the server on port $PORT did not come up" >&2; return 1
}

cpu_ticks() {  # "busy total" jiffies of the whole machine (first line of /proc/stat)
  awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6; exit}' /proc/stat
}

proc_ticks() {  # "database app-server" jiffies of the postgres and gunicorn processes, with
  # their reaped children (backends that closed, workers that restarted)
  cat /proc/[0-9]*/stat 2>/dev/null |
    awk '$2=="(postgres)"{db+=$14+$15+$16+$17} $2=="(gunicorn)"{app+=$14+$15+$16+$17} END{print db+0, app+0}'
}

run_locust() {  # $1: profile name
  local before after locust_cpu procs_before procs_after
  procs_before=$(proc_ticks)
  before=$(cpu_ticks)
  /usr/bin/time -f "%U %S" -o "$DIR/$1.locust-cpu" \
    "$BIN/locust" -f bench/load/locustfile.py --headless -u "$USERS" -r "$SPAWN" -t "$TIME" \
    --host "http://127.0.0.1:$PORT" --csv "$DIR/$1" --only-summary >"$DIR/$1.log" 2>&1 || true
  after=$(cpu_ticks)
  procs_after=$(proc_ticks)
  locust_cpu=$(awk '{print $1+$2}' "$DIR/$1.locust-cpu" 2>/dev/null || echo "")
  LOAD_CPU="$before $after" LOAD_PROC_CPU="$procs_before $procs_after" \
    LOAD_LOCUST_CPU_S="$locust_cpu" \
    "$BIN/python" bench/load/summary.py "$1" "$DIR/$1_stats.csv" "$DIR/$1_stats_history.csv"
}

serve() {  # gunicorn in the background with the current environment
  "$BIN/gunicorn" crm.wsgi:application --bind "127.0.0.1:$PORT" --workers "$WORKERS" \
    --timeout 60 --log-level warning >"$DIR/gunicorn-$1.log" 2>&1 &
  PIDS+=($!)
  wait_up
}

stop_server() { kill "${PIDS[-1]}" 2>/dev/null || true; wait "${PIDS[-1]}" 2>/dev/null || true; }

if [[ $WHICH == pg || $WHICH == both ]]; then
  redis-server --port "$REDIS_PORT" --save "" --appendonly no >"$DIR/redis.log" 2>&1 &
  PIDS+=($!)
  export PYTHONPATH=. DJANGO_SETTINGS_MODULE=bench.settings
  "$BIN/python" -m bench.generate --small --if-needed
  "$BIN/python" -m django migrate --noinput >/dev/null
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" CRM_LOAD_CONTEXT="$DIR/pg.json" \
    "$BIN/python" -m bench.load.prepare "$DIR/pg.json"
  REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" serve pg
  CRM_LOAD_CONTEXT="$DIR/pg.json" run_locust pg
  stop_server
  unset PYTHONPATH DJANGO_SETTINGS_MODULE
fi

if [[ $WHICH == sqlite || $WHICH == both ]]; then
  export CRM_DATA_DIR="$DIR/sqlite" DJANGO_SETTINGS_MODULE=crm.settings.dev
  mkdir -p "$CRM_DATA_DIR"
  "$BIN/crm" migrate --noinput >/dev/null
  "$BIN/crm" demo --if-empty >/dev/null
  "$BIN/python" -m bench.load.prepare "$DIR/sqlite.json"
  serve sqlite
  CRM_LOAD_CONTEXT="$DIR/sqlite.json" run_locust sqlite
  stop_server
fi
