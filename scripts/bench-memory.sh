#!/usr/bin/env bash
# scripts/bench-memory.sh — peak memory of quarantd under many concurrent SMTP
# sessions: builds quarantd, starts smtp-sink + quarantd (bench/lib.sh), sends
# COUNT messages of SIZE bytes over SESSIONS parallel sessions with smtp-source
# and prints peak_rss_mb (VmHWM of the quarantd process at the end).
# Env (defaults): SESSIONS [100]  COUNT [2000]  SIZE [4000]  MAX_SECONDS [300];
#   PORT, SHARED, BENCH_RUN, SKIP_BUILD, QUARANTD_* as in bench/lib.sh.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../bench/lib.sh"
SESSIONS="${SESSIONS:-100}" COUNT="${COUNT:-2000}" SIZE="${SIZE:-4000}"

sink_count() { tail -c 512 "$BENCH_RUN/sink.out" | tr '\r' '\n' | grep -o 'mesg=[0-9]*' | tail -n1 | cut -d= -f2 | grep . || echo 0; }

check_tools
build
trap stop_all EXIT
trap 'exit 130' INT TERM
start_sink
start_quarantd
pid="$(cat "$QPID")"
before="$(sink_count)"; t0="$(date +%s%N)"
run_bg timeout "${MAX_SECONDS:-300}" /usr/sbin/smtp-source -A -s "$SESSIONS" -m "$COUNT" -l "$SIZE" \
  -f sender@example.org -t rcpt@bench.localdomain "127.0.0.1:$PORT" >"$BENCH_RUN/smtp-source.log" 2>&1 \
  || { echo "warning: smtp-source rc=$? (124 = MAX_SECONDS); see $BENCH_RUN/smtp-source.log" >&2; }
t1="$(date +%s%N)"
last=-1; for _ in $(seq 1 100); do cur="$(sink_count)"; [ "$cur" = "$last" ] && break; last="$cur"; sleep 1; done
alive "$QPID" || die "quarantd died during the run; log: $QLOG"
hwm_kb="$(awk '/^VmHWM:/ {print $2}' "/proc/$pid/status")"
secs="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')"
echo "sessions=$SESSIONS messages=$COUNT size=$SIZE seconds=$secs at_sink=$((last - before))"
awk -v k="$hwm_kb" 'BEGIN { printf "peak_rss_mb %.1f\n", k / 1024 }'
