#!/usr/bin/env bash
# bench/memory.sh — peak memory of quarantd while SESSIONS sessions each send one SIZE-byte
# message at once (issue 11 B6: 40 × 11 MB). Starts its own downstream sink and
# `quarantd serve` on free loopback ports (bench/memory.py; no Postfix needed), sends, and
# prints the replies, the memory budget and peak_rss_mb (VmHWM of the quarantd process).
# Target: peak RSS <= budget + 100 MB.
# Env (defaults): SESSIONS [40]  SIZE [11000000]  BUDGET [unset = server.max_memory_bytes'
#   default; set it to a byte count to override]  DECLARE_SIZE [1: MAIL FROM ... SIZE=N, as
#   Postfix sends it; 0 = no SIZE]  QUARANTD_BIN [target/release/quarantd]  SKIP_BUILD [0]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SESSIONS="${SESSIONS:-40}" SIZE="${SIZE:-11000000}" DECLARE_SIZE="${DECLARE_SIZE:-1}"
QUARANTD_BIN="${QUARANTD_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/release/quarantd}"
[ "${SKIP_BUILD:-0}" = 1 ] || CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-1}" cargo build --release --quiet -p quarantd
[ -x "$QUARANTD_BIN" ] || { echo "memory.sh: $QUARANTD_BIN not found" >&2; exit 1; }

RUN="$(mktemp -d /tmp/quarantd-memory.XXXXXX)"
SINK_PID="" QUARANTD_PID=""
cleanup() {
  [ -n "$QUARANTD_PID" ] && kill -TERM "$QUARANTD_PID" 2>/dev/null && { wait "$QUARANTD_PID" 2>/dev/null || true; }
  [ -n "$SINK_PID" ] && kill -TERM "$SINK_PID" 2>/dev/null && { wait "$SINK_PID" 2>/dev/null || true; }
  rm -rf "$RUN"
  return 0
}
trap 'rc=$?; cleanup; exit $rc' EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; echo "memory.sh: no '$2' in $1" >&2; cat "$1" >&2; exit 1; }

SINK_PORT="$(free_port)" PORT="$(free_port)"
python3 "$ROOT/bench/memory.py" sink "$SINK_PORT" >"$RUN/sink.log" 2>&1 &
SINK_PID=$!
wait_for "$RUN/sink.log" "sink ready"

mkdir -m 700 "$RUN/var"
{
  echo "[server]"
  echo "listen = \"127.0.0.1:$PORT\""
  echo "data_dir = \"$RUN/var\""
  [ -n "${BUDGET:-}" ] && echo "max_memory_bytes = $BUDGET"
  echo "[relay]"
  echo "address = \"127.0.0.1:$SINK_PORT\""
  echo "[scan]"
  echo "none = true"
  echo "[log]"
  echo "format = \"json\""
} >"$RUN/quarantd.toml"
"$QUARANTD_BIN" serve --config "$RUN/quarantd.toml" >"$RUN/quarantd.log" 2>&1 &
QUARANTD_PID=$!
wait_for "$RUN/quarantd.log" "Accepting SMTP sessions"

flags=(); [ "$DECLARE_SIZE" = 1 ] || flags=(--no-size)
t0="$(date +%s%N)"
python3 "$ROOT/bench/memory.py" send "$PORT" "$SESSIONS" "$SIZE" "${flags[@]}"
t1="$(date +%s%N)"
kill -0 "$QUARANTD_PID" 2>/dev/null || { echo "memory.sh: quarantd died; log:" >&2; tail -n 20 "$RUN/quarantd.log" >&2; exit 1; }
hwm_kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$QUARANTD_PID/status")"
budget="${BUDGET:-$((512 * 1024 * 1024))}"
spilled="$(grep -c 'spilled to disk' "$RUN/quarantd.log" || true)"
echo "sessions=$SESSIONS size=$SIZE declare_size=$DECLARE_SIZE delivered=$(grep -c '^message' "$RUN/sink.log" || true) spilled=$spilled seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')"
awk -v k="$hwm_kb" -v b="$budget" 'BEGIN { printf "budget_mb %.1f\npeak_rss_mb %.1f\ntarget_mb %.1f (budget + 100)\n", b / 1048576, k / 1024, b / 1048576 + 100 }'
