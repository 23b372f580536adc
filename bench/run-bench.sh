#!/usr/bin/env bash
# bench/run-bench.sh — builds quarantd (release) and measures it with the shared
# harness ($SHARED/bench): smtp-source -> quarantd 127.0.0.1:$PORT -> smtp-sink :10025,
# after a sink-direct run (loopback ceiling). Prints a Markdown summary table.
# Env (defaults): RUNS [3]  WORKLOADS ["a b"]  SCALE [1]  SCALE_DIRECT [10]
#   SKIP_DIRECT=1  LABEL [quarantd]  RESULTS_DIR [target/bench-results]
#   COUNT_a.. and the rest of run-filter-bench.sh --help; see also bench/lib.sh.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export RUNS="${RUNS:-3}" WORKLOADS="${WORKLOADS:-a b}"
export RESULTS_DIR="${RESULTS_DIR:-$TARGET_DIR/bench-results}"   # the shared results/ may be read-only
LABEL="${LABEL:-quarantd}"

check_tools
build
trap stop_all EXIT
trap 'exit 130' INT TERM
start_sink
mkdir -p "$RESULTS_DIR"
files=()
if [ "${SKIP_DIRECT:-0}" != 1 ]; then
  echo "== sink-direct (SCALE=${SCALE_DIRECT:-10})"
  SCALE="${SCALE_DIRECT:-10}" WATCH="sink=$BENCH_RUN/sink.pid" run_bg "$H/run-filter-bench.sh" 10025 sink-direct
  files+=("$RESULTS_DIR/sink-direct.tsv")
fi
start_quarantd
echo "== $LABEL on 127.0.0.1:$PORT (pid $(cat "$QPID"), log $QLOG)"
WATCH="quarantd=$QPID sink=$BENCH_RUN/sink.pid" run_bg "$H/run-filter-bench.sh" "$PORT" "$LABEL"
files+=("$RESULTS_DIR/$LABEL.tsv")
alive "$QPID" || die "quarantd died during the run; log: $QLOG"
stop_all

# Reference: the amavis+clamd baseline measured on this machine (BASELINE.md).
[ -f "$H/results/amavis+clamd-m2.tsv" ] && files+=("$H/results/amavis+clamd-m2.tsv")
echo; python3 "$H/summarize.py" "${files[@]}"
echo; echo "raw rows: ${files[*]}"
