#!/usr/bin/env bash
# bench/run-scan-bench.sh — virus scanning cost through `quarantd serve` with a real clamd,
# workload b (100 KB: text + base64 PDF) of the shared harness, next to clamd alone:
#   1. quarantd without scanner                      (label quarantd-noscan)
#   2. quarantd + clamd, verdict cache off           (label quarantd+clamd-fresh)
#   3. quarantd + clamd, verdict cache on            (label quarantd+clamd-cached)
#   4. clamdscan of the same attachment, COUNT copies: MULTISCAN of a directory (clamd reads
#      the files itself, all its threads), INSTREAM (--stream) and FILDES (--fdpass, what
#      quarantd uses over a unix socket) with 8 clients in parallel
# clamd: a private instance on the shared bench DB ($SHARED/bench/clamav-db), DisableCache
# yes (every message is identical), as in the amavis baseline.
# Prints the harness table, clamd's own figures, the overhead over clamd alone twice —
# throughput (msg/s through serve vs files/s of clamdscan: includes quarantd's SMTP path,
# smtp-source and smtp-sink on the same cores) and scan CPU (clamd CPU per message plus the
# CPU quarantd spends beyond its no-scanner run, vs clamd CPU per file alone) — the
# cached-vs-fresh ratios, and the per-message scan-stage latency (quarantd's "Message
# scanned." log lines, microseconds) fresh vs cached.
# Two setups, both printed (PIN=0 or PIN=1 runs only one):
#   unpinned  everything shares all CPUs: smtp-source, smtp-sink and quarantd's SMTP work take
#             CPU from clamd, so msg/s measures the whole box, not what quarantd adds to clamd;
#   pinned    clamd alone on the last CPU, everything else (smtp-source, smtp-sink, quarantd,
#             clamdscan) on the others: clamd is the bottleneck in both runs, so msg/s through
#             serve vs files/s of clamdscan is what quarantd adds to clamd's own time.
# Env: RUNS [1] (noscan and cached runs), ROUNDS [3] (fresh + clamd-alone rounds), COUNT_b [600],
# PIN [both] and those of bench/lib.sh.
set -euo pipefail
SELF="$(realpath "${BASH_SOURCE[0]}")"
PIN="${PIN:-both}"
if [ "$PIN" = both ]; then
  PIN=0 "$SELF"; echo; PIN=1 "$SELF"; exit
fi
CPUS=$(nproc --all)
if [ "$PIN" = 1 ] && [ -z "${PINNED:-}" ]; then
  [ "$CPUS" -ge 2 ] || { echo "PIN=1 needs 2 CPUs" >&2; exit 1; }
  exec env PINNED=1 taskset -c "0-$((CPUS - 2))" "$SELF"
fi
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "$SELF")/lib.sh"
MODE=$([ "$PIN" = 1 ] && echo pinned || echo unpinned)
CLAMD_PIN=()
[ "$PIN" = 1 ] && CLAMD_PIN=(taskset -c "$((CPUS - 1))")
echo "#### scan bench, $MODE: $([ "$PIN" = 1 ] && echo "clamd on CPU $((CPUS - 1)), the rest on CPU 0-$((CPUS - 2))" || echo "all processes on all $CPUS CPUs")"
export RUNS="${RUNS:-1}" WORKLOADS=b SKIP_DIRECT=1
export RESULTS_DIR="${RESULTS_DIR:-$TARGET_DIR/bench-results}/scan-$MODE"
COUNT="${COUNT_b:-600}"; export COUNT_b="$COUNT"
CLAMD_DIR="$BENCH_RUN/scan-clamd"
CLAMD_SOCK="$CLAMD_DIR/clamd.sock"

start_clamd() {
  mkdir -p "$CLAMD_DIR"
  cat > "$CLAMD_DIR/clamd.conf" <<CONF
LocalSocket $CLAMD_SOCK
DatabaseDirectory $H/clamav-db
OfficialDatabaseOnly false
LogFile $CLAMD_DIR/clamd.log
Foreground yes
SelfCheck 0
DisableCache yes
ScanMail true
ScanArchive true
MaxThreads 12
StreamMaxLength 25M
Bytecode false
CONF
  "${CLAMD_PIN[@]}" /usr/sbin/clamd -c "$CLAMD_DIR/clamd.conf" </dev/null >/dev/null 2>&1 &
  echo $! > "$CLAMD_DIR/clamd.pid"
  for _ in $(seq 1 600); do
    [ "$(printf 'zPING\0' | timeout 2 python3 -c "
import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('$CLAMD_SOCK'); s.sendall(sys.stdin.buffer.read()); print(s.recv(16).strip(b'\0').decode())" 2>/dev/null)" = PONG ] && return 0
    sleep 0.1
  done
  die "clamd did not start; log: $CLAMD_DIR/clamd.log"
}
stop_clamd() { [ -f "$CLAMD_DIR/clamd.pid" ] && kill "$(cat "$CLAMD_DIR/clamd.pid")" 2>/dev/null; rm -f "$CLAMD_DIR/clamd.pid"; }

run_quarantd() {  # LABEL CONFIG_TEXT
  local label="$1"
  printf '%s\n' "$2" > "$BENCH_RUN/$label.toml"
  QUARANTD_CONFIG="$BENCH_RUN/$label.toml" start_quarantd
  echo "== $label (pid $(cat "$QPID"))"
  WATCH="quarantd=$QPID sink=$BENCH_RUN/sink.pid clamd=$CLAMD_DIR/clamd.pid" \
    run_bg "$H/run-filter-bench.sh" "$PORT" "$label"
  alive "$QPID" || die "quarantd died; log: $QLOG"
  cp "$QLOG" "$BENCH_RUN/$label.log"; stop_quarantd; : > "$QLOG"
}

scan_stage_us() {  # LOG -> median microseconds of the scan stage per message
  python3 - "$1" <<'PY'
import json,sys,statistics
us=[json.loads(l)["us"] for l in open(sys.argv[1]) if '"Message scanned."' in l]
print(f"{statistics.median(us):.0f} us median over {len(us)} messages" if us else "no scan lines")
PY
}

check_tools; build
trap 'stop_all; stop_clamd' EXIT
trap 'exit 130' INT TERM
start_sink; start_clamd
mkdir -p "$RESULTS_DIR"
rm -f "$RESULTS_DIR"/quarantd-noscan.tsv "$RESULTS_DIR"/quarantd+clamd-*.tsv "$RESULTS_DIR"/rounds.tsv "$BENCH_RUN"/quarantd+clamd-fresh.*.log
ROUNDS="${ROUNDS:-3}"

# clamd alone on the same attachment: COUNT copies of the decoded PDF.
att="$BENCH_RUN/attachments"; rm -rf "$att"; mkdir -p "$att"
python3 - "$H/messages/b-pdf-100k.eml" "$att" "$COUNT" <<'PY'
import email,sys
msg=email.message_from_bytes(open(sys.argv[1],'rb').read())
pdf=[p.get_payload(decode=True) for p in msg.walk() if p.get_filename()][0]
for i in range(int(sys.argv[3])): open(f"{sys.argv[2]}/a{i:05d}.pdf","wb").write(pdf)
PY
cfg="$CLAMD_DIR/clamdscan.conf"; printf 'LocalSocket %s\n' "$CLAMD_SOCK" > "$cfg"
clamd_cpu() { awk '{print ($14+$15)/100}' "/proc/$(cat "$CLAMD_DIR/clamd.pid")/stat"; }
alone() {  # MODE -> "files/s clamd-CPU-ms/file"
  local c0 c1 t0 t1
  c0=$(clamd_cpu); t0=$(date +%s.%N)
  case "$1" in
    multiscan) clamdscan -c "$cfg" -m --no-summary "$att" >/dev/null || true ;;
    *) find "$att" -type f | xargs -P 8 -n 25 clamdscan -c "$cfg" "--$1" --no-summary >/dev/null || true ;;
  esac
  t1=$(date +%s.%N); c1=$(clamd_cpu)
  python3 -c "print(f'{$COUNT/($t1-$t0):.1f} {($c1-$c0)/$COUNT*1000:.3f}')"
}
# The last row of a harness TSV: msgs_per_s, quarantd CPU ms/msg, clamd CPU ms/msg.
last_row() { awk -F'\t' '!/^#/ {r=$6" "$14/$4*1000" "$22/$4*1000} END {print r}' "$1"; }

base='[log]
format = "json"'
fresh_config="$base
[scan]
cache_max_entries = 0
[scan.clamd]
address = \"$CLAMD_SOCK\""
run_quarantd quarantd-noscan "$base"
# Rounds: quarantd+clamd (every message fresh), then clamd alone in its three ways, so that
# drift of the machine (a shared VM) hits both sides of each ratio alike.
for round in $(seq 1 "$ROUNDS"); do
  RUNS=1 run_quarantd quarantd+clamd-fresh "$fresh_config"
  cp "$BENCH_RUN/quarantd+clamd-fresh.log" "$BENCH_RUN/quarantd+clamd-fresh.$round.log"
  printf '%s %s %s %s %s\n' "$round" "$(last_row "$RESULTS_DIR/quarantd+clamd-fresh.tsv")" \
    "$(alone multiscan)" "$(alone stream)" "$(alone fdpass)" >> "$RESULTS_DIR/rounds.tsv"
done
run_quarantd quarantd+clamd-cached "$base
[scan.clamd]
address = \"$CLAMD_SOCK\""
stop_all; stop_clamd

echo; python3 "$H/summarize.py" "$RESULTS_DIR"/quarantd-noscan.tsv "$RESULTS_DIR"/quarantd+clamd-fresh.tsv "$RESULTS_DIR"/quarantd+clamd-cached.tsv
echo
# Median row (or the only run) of a TSV: msgs_per_s, quarantd CPU ms/msg, clamd CPU ms/msg.
row() { awk -F'\t' '!/^#/ {r=$6" "$14/$4*1000" "$22/$4*1000; if ($3=="median") m=r} END {print (m!="" ? m : r)}' "$1"; }
python3 - "$(row "$RESULTS_DIR/quarantd-noscan.tsv")" "$(row "$RESULTS_DIR/quarantd+clamd-cached.tsv")" \
  "$RESULTS_DIR/rounds.tsv" "$COUNT" "$MODE" <<'PY'
import sys, statistics as st
noscan, cached = ([float(x) for x in a.split()] for a in sys.argv[1:3])
rounds = [[float(x) for x in line.split()] for line in open(sys.argv[3])]
count, mode = sys.argv[4], sys.argv[5]
names = ("MULTISCAN", "INSTREAM x8", "FILDES x8")
print(f"{mode}, {len(rounds)} rounds of {count} messages: quarantd+clamd fresh, then clamd alone on {count} copies of the attachment")
for r in rounds:
    alone = "; ".join(f"{n} {r[4 + 2 * k]:.0f} files/s ({r[5 + 2 * k]:.2f} ms)" for k, n in enumerate(names))
    print(f"  round {r[0]:.0f}: quarantd+clamd {r[1]:.0f} msg/s (clamd {r[3]:.2f} ms CPU/msg); alone: {alone}")
med = lambda xs: st.median(xs)
fresh_rate, fresh_q, fresh_c = (med([r[k] for r in rounds]) for k in (1, 2, 3))
# quarantd CPU the scanning adds per message: the difference of two noisy runs, so never
# taken below 0.
scan_q = max(0.0, fresh_q - noscan[1])
cached_q = max(0.0, cached[1] - noscan[1])
print(f"per message (medians): clamd CPU {fresh_c:.2f} ms + quarantd scan-side CPU {scan_q:.2f} ms (fresh); "
      f"{cached[2]:.2f} + {cached_q:.2f} ms (cached)")
for k, name in enumerate(names):
    over = [100 * (r[4 + 2 * k] / r[1] - 1) for r in rounds]
    cpu = [100 * ((r[3] + scan_q) / r[5 + 2 * k] - 1) for r in rounds]
    print(f"vs clamd alone {name}: throughput overhead median {med(over):+.0f} % "
          f"(rounds {min(over):+.0f}..{max(over):+.0f} %), scan CPU overhead median {med(cpu):+.0f} %")
print(f"cached vs fresh: throughput {cached[0]:.0f} / {fresh_rate:.0f} msg/s = {cached[0] / fresh_rate:.2f}x; "
      f"scan CPU {fresh_c + scan_q:.2f} / {cached[2] + cached_q:.2f} ms = "
      f"{(fresh_c + scan_q) / max(cached[2] + cached_q, 1e-3):.1f}x")
PY
cat "$BENCH_RUN"/quarantd+clamd-fresh.*.log > "$BENCH_RUN/quarantd+clamd-fresh.log"
fresh_us=$(scan_stage_us "$BENCH_RUN/quarantd+clamd-fresh.log")
cached_us=$(scan_stage_us "$BENCH_RUN/quarantd+clamd-cached.log")
echo "scan stage per message, fresh:  $fresh_us"
echo "scan stage per message, cached: $cached_us"
python3 -c "print(f'scan stage latency fresh / cached: {${fresh_us%% *} / ${cached_us%% *}:.1f}x')" 2>/dev/null || true
