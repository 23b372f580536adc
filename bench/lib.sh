# shellcheck shell=bash
# bench/lib.sh — sourced by bench/run-bench.sh and scripts/bench-memory.sh:
# builds quarantd, starts/stops smtp-sink (via the shared harness) and quarantd,
# all by pid file under $BENCH_RUN; stop_all runs on exit.
# Env: SHARED [../shared, from the repo root], PORT [10024], BENCH_RUN
# [target/bench-run], QUARANTD_BIN [target/release/quarantd], SKIP_BUILD=1,
# QUARANTD_CONFIG (passed as --config), QUARANTD_ARGS (extra serve arguments).
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || exit 1
SHARED="$(cd "${SHARED:-../shared}" 2>/dev/null && pwd)" || { echo "shared folder ${SHARED:-../shared} not found (set SHARED)" >&2; exit 1; }
H="$SHARED/bench"
PORT="${PORT:-10024}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
QUARANTD_BIN="${QUARANTD_BIN:-$TARGET_DIR/release/quarantd}"
export BENCH_RUN="${BENCH_RUN:-$TARGET_DIR/bench-run}"
QPID="$BENCH_RUN/quarantd.pid"
QLOG="$BENCH_RUN/quarantd.log"

die() { echo "${0##*/}: $*" >&2; exit 1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

check_tools() {
  [ -x "$H/run-filter-bench.sh" ] || die "no bench harness at $H"
  local t; for t in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/bin/time; do
    [ -x "$t" ] || die "$t missing (run scripts/install-test-deps.sh)"; done
  command -v python3 >/dev/null || die "python3 missing"
}

build() {
  [ "${SKIP_BUILD:-0}" = 1 ] || cargo build --release --quiet -p quarantd || die "cargo build failed"
  [ -x "$QUARANTD_BIN" ] || die "$QUARANTD_BIN not found"
}

start_sink() {  # smtp-sink on 127.0.0.1:10025; --fresh wipes a $BENCH_RUN it used before
  stop_all   # leftovers of an interrupted run in this $BENCH_RUN
  "$H/start-baseline.sh" --fresh --sink-only >/dev/null || die "could not start smtp-sink (port 10025 busy?)"
}

start_quarantd() {  # runs in $BENCH_RUN/data (its ./var), logs to $QLOG
  local args=(serve --listen "127.0.0.1:$PORT" --relay 127.0.0.1:10025)
  [ -n "${QUARANTD_CONFIG:-}" ] && args+=(--config "$(realpath "$QUARANTD_CONFIG")")
  # shellcheck disable=SC2206  # QUARANTD_ARGS is split on purpose
  args+=(${QUARANTD_ARGS:-})
  port_open "$PORT" && die "port $PORT is busy"
  mkdir -p "$BENCH_RUN/data"
  (cd "$BENCH_RUN/data" && exec "$QUARANTD_BIN" "${args[@]}") </dev/null >>"$QLOG" 2>&1 &
  echo $! > "$QPID"
  for _ in $(seq 1 300); do
    port_open "$PORT" && return 0
    alive "$QPID" || { tail -n 20 "$QLOG" >&2; die "quarantd exited at start; log: $QLOG"; }
    sleep 0.1
  done
  die "quarantd not listening on 127.0.0.1:$PORT after 30 s; log: $QLOG"
}

stop_quarantd() {
  alive "$QPID" || { rm -f "$QPID"; return 0; }
  local pid; pid="$(cat "$QPID")"
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$(basename "$QUARANTD_BIN" | cut -c1-15)" ] \
    || { echo "pid $pid is not $QUARANTD_BIN; leaving it" >&2; rm -f "$QPID"; return 0; }
  kill -TERM "$pid"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && { echo "quarantd ignored TERM for 10 s; killing" >&2; kill -KILL "$pid"; }
  rm -f "$QPID"
}

BG=""
run_bg() { "$@" & BG=$!; wait "$BG"; BG=""; }   # so a TERM/INT trap runs at once
stop_all() {
  [ -n "$BG" ] && kill "$BG" 2>/dev/null
  stop_quarantd || true; "$H/stop-baseline.sh" >/dev/null 2>&1 || true
}
