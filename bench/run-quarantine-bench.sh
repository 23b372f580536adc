#!/usr/bin/env bash
# bench/run-quarantine-bench.sh — messages/second held in the quarantine through `quarantd
# serve`: 100 KB messages with an executable attachment (so every one is held), sent by
# Postfix's smtp-source (8 sessions) into quarantd, committed to SQLite (the embedded default)
# and to MariaDB (127.0.0.1:3306, root, a database made for the run and dropped after).
# Env: COUNT [600] SESSIONS [8] MYSQL_URL [mysql://root@127.0.0.1:3306]; see bench/lib.sh.
set -euo pipefail
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COUNT="${COUNT:-600}" SESSIONS="${SESSIONS:-8}"
MYSQL_URL="${MYSQL_URL:-mysql://root@127.0.0.1:3306}"
DB="qbench_$$"
MSG="$BENCH_RUN/held-100k.eml"

make_message() {  # text + a base64 PE padded to ~100 KB
  python3 - "$MSG" <<'PY'
import base64, sys
pe = bytearray(b"MZ" + b"\0" * 58 + (64).to_bytes(4, "little") + b"PE\0\0\x4c\x01\x01\x00")
pe += bytes((i * 7) % 251 for i in range(75_000))
b64 = base64.encodebytes(bytes(pe)).decode().replace("\n", "\r\n")
msg = ("From: bench@example.net\r\nTo: rcpt@example.org\r\nSubject: held 100k\r\nMIME-Version: 1.0\r\n"
       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplease run\r\n"
       "--b\r\nContent-Type: application/octet-stream; name=\"setup.exe\"\r\n"
       "Content-Transfer-Encoding: base64\r\n\r\n" + b64 + "--b--\r\n")
open(sys.argv[1], "w", newline="").write(msg)
PY
}

run_one() {  # LABEL STORE-URL
  local label="$1" store="$2" start end
  QUARANTD_ARGS="${store:+--store $store}" start_quarantd
  /usr/sbin/smtp-source -s 4 -m 8 -F "$MSG" "127.0.0.1:$PORT" >/dev/null   # warm-up
  start=$(date +%s.%N)
  /usr/sbin/smtp-source -s "$SESSIONS" -m "$COUNT" -F "$MSG" "127.0.0.1:$PORT" >/dev/null
  end=$(date +%s.%N)
  local held; held=$(grep -c '"outcome":"quarantine"\|outcome=quarantine' "$QLOG" || true)
  stop_quarantd
  python3 -c "import sys; c=$COUNT; s=$end-$start; print(f'| $label | {c} | {s:.2f} | {c/s:.1f} |')"
  echo "  ($held messages logged as held in total, warm-up included)" >&2
  : > "$QLOG"
}

check_tools; build
trap 'stop_all; mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS $DB" 2>/dev/null || true' EXIT
trap 'exit 130' INT TERM
start_sink   # (wipes $BENCH_RUN first)
make_message
ls -l "$MSG" | awk '{print "message size:", $5, "bytes"}'
echo "| store | messages | seconds | held msg/s |"
echo "|---|---:|---:|---:|"
rm -rf "$BENCH_RUN/data/var"
run_one "SQLite (embedded)" ""
mariadb -h127.0.0.1 -uroot -e "CREATE DATABASE $DB"
run_one "MariaDB" "$MYSQL_URL/$DB"
