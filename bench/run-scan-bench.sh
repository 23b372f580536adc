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
# Env: RUNS [1] COUNT_b [600] and those of bench/lib.sh.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export RUNS="${RUNS:-1}" WORKLOADS=b SKIP_DIRECT=1
export RESULTS_DIR="${RESULTS_DIR:-$TARGET_DIR/bench-results}"
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
  /usr/sbin/clamd -c "$CLAMD_DIR/clamd.conf" </dev/null >/dev/null 2>&1 &
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
rm -f "$RESULTS_DIR"/quarantd-noscan.tsv "$RESULTS_DIR"/quarantd+clamd-*.tsv
base='[log]
format = "json"'
run_quarantd quarantd-noscan "$base"
run_quarantd quarantd+clamd-fresh "$base
[scan]
cache_max_entries = 0
[scan.clamd]
address = \"$CLAMD_SOCK\""
run_quarantd quarantd+clamd-cached "$base
[scan.clamd]
address = \"$CLAMD_SOCK\""

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
c0=$(clamd_cpu); t0=$(date +%s.%N); clamdscan -c "$cfg" -m --no-summary "$att" >/dev/null || true; t1=$(date +%s.%N); c1=$(clamd_cpu)
multi=$(python3 -c "print(f'{$COUNT/($t1-$t0):.1f} files/s, clamd CPU {($c1-$c0)/$COUNT*1000:.2f} ms/file')")
c0=$(clamd_cpu); t0=$(date +%s.%N); find "$att" -type f | xargs -P 8 -n 25 clamdscan -c "$cfg" --stream --no-summary >/dev/null || true; t1=$(date +%s.%N); c1=$(clamd_cpu)
stream=$(python3 -c "print(f'{$COUNT/($t1-$t0):.1f} files/s, clamd CPU {($c1-$c0)/$COUNT*1000:.2f} ms/file')")
c0=$(clamd_cpu); t0=$(date +%s.%N); find "$att" -type f | xargs -P 8 -n 25 clamdscan -c "$cfg" --fdpass --no-summary >/dev/null || true; t1=$(date +%s.%N); c1=$(clamd_cpu)
fdpass=$(python3 -c "print(f'{$COUNT/($t1-$t0):.1f} files/s, clamd CPU {($c1-$c0)/$COUNT*1000:.2f} ms/file')")
stop_all; stop_clamd

echo; python3 "$H/summarize.py" "$RESULTS_DIR"/quarantd-noscan.tsv "$RESULTS_DIR"/quarantd+clamd-fresh.tsv "$RESULTS_DIR"/quarantd+clamd-cached.tsv
echo
echo "clamd alone, $COUNT copies of the attachment: MULTISCAN $multi; INSTREAM x8 $stream; FILDES x8 $fdpass"
# Median row (or the only run) of a TSV: msgs_per_s, quarantd CPU ms/msg, clamd CPU ms/msg.
row() { awk -F'\t' '!/^#/ {r=$6" "$14/$4*1000" "$22/$4*1000; if ($3=="median") m=r} END {print (m!="" ? m : r)}' "$1"; }
python3 - "$(row "$RESULTS_DIR/quarantd-noscan.tsv")" "$(row "$RESULTS_DIR/quarantd+clamd-fresh.tsv")" \
  "$(row "$RESULTS_DIR/quarantd+clamd-cached.tsv")" "$multi" "$stream" "$fdpass" <<'PY'
import sys
noscan, fresh, cached = ([float(x) for x in a.split()] for a in sys.argv[1:4])
scan_q = fresh[1] - noscan[1]       # quarantd CPU the scanning adds per message
cached_q = cached[1] - noscan[1]
print(f"per message: clamd CPU {fresh[2]:.2f} ms + quarantd scan-side CPU {scan_q:.2f} ms (fresh); "
      f"{cached[2]:.2f} + {cached_q:.2f} ms (cached)")
for name, text in zip(("MULTISCAN", "INSTREAM x8", "FILDES x8"), sys.argv[4:7]):
    words = text.split()
    alone, alone_cpu = float(words[0]), float(words[4])
    print(f"vs clamd alone {name} ({alone:.0f} files/s, {alone_cpu:.2f} ms clamd CPU/file): "
          f"throughput overhead {100 * (alone / fresh[0] - 1):+.0f} %, "
          f"scan CPU overhead {100 * ((fresh[2] + scan_q) / alone_cpu - 1):+.0f} %")
print(f"cached vs fresh: throughput {cached[0]:.0f} / {fresh[0]:.0f} msg/s = {cached[0] / fresh[0]:.2f}x; "
      f"scan CPU {fresh[2] + scan_q:.2f} / {cached[2] + cached_q:.2f} ms = "
      f"{(fresh[2] + scan_q) / max(cached[2] + cached_q, 1e-3):.1f}x")
PY
echo "scan stage per message, fresh:  $(scan_stage_us "$BENCH_RUN/quarantd+clamd-fresh.log")"
echo "scan stage per message, cached: $(scan_stage_us "$BENCH_RUN/quarantd+clamd-cached.log")"
