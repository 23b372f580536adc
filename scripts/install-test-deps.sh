#!/usr/bin/env bash
# install-test-deps.sh — makes sure the external tools the tests and benches use
# are present and the test services are running. Idempotent and quiet:
#   * apt-installs only what is missing (apt-get update only if needed):
#     postfix (for /usr/sbin/smtp-sink, smtp-source), swaks, clamav-daemon,
#     clamdscan, clamav-testfiles, time, mariadb-server/-client, redis-server
#   * starts MariaDB (127.0.0.1:3306) and Redis (127.0.0.1:6379) if they are
#     not answering, and waits up to 30 s for each.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive PATH="$PATH:/usr/sbin:/sbin"
APT=(apt-get -q -y -o DPkg::Lock::Timeout=600)

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q ' installed$'; }
have_bin() { [ -x "$1" ]; }   # fixed Debian paths (not PATH: /usr/sbin may be absent from it)

missing=()
have_bin /usr/sbin/smtp-sink && have_bin /usr/sbin/smtp-source || missing+=(postfix)
have_bin /usr/bin/swaks         || missing+=(swaks)
have_bin /usr/sbin/clamd        || missing+=(clamav-daemon)
have_bin /usr/bin/clamdscan     || missing+=(clamdscan)
have_pkg clamav-testfiles       || missing+=(clamav-testfiles)
have_bin /usr/bin/time          || missing+=(time)          # the bench harness needs GNU time
have_bin /usr/sbin/mariadbd     || missing+=(mariadb-server)
have_bin /usr/bin/mariadb       || missing+=(mariadb-client)
have_bin /usr/bin/redis-server  || missing+=(redis-server)
have_bin /usr/bin/redis-cli     || missing+=(redis-tools)

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-test-deps: installing ${missing[*]}" >&2
  # Postfix is only needed for its load tools: no mail system configuration.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  log="$(mktemp /tmp/install-test-deps.XXXXXX.log)"
  if ! { "${APT[@]}" update && "${APT[@]}" install --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    tail -n 40 "$log" >&2; echo "install-test-deps: apt-get failed (full log: $log)" >&2; exit 1
  fi
  rm -f "$log"
fi
for b in /usr/sbin/smtp-sink /usr/sbin/smtp-source /usr/bin/swaks /usr/sbin/clamd /usr/bin/clamdscan \
         /usr/bin/time /usr/sbin/mariadbd /usr/bin/mariadb /usr/bin/redis-server /usr/bin/redis-cli; do
  have_bin "$b" || { echo "install-test-deps: $b still missing after install" >&2; exit 1; }
done

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
maria_ok() { mariadb -h127.0.0.1 -uroot -e 'select 1' >/dev/null 2>&1; }
redis_ok() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }
wait_for() {  # wait_for NAME CHECK_FUNCTION: up to 30 s
  for _ in $(seq 1 300); do "$2" && return 0; sleep 0.1; done
  echo "install-test-deps: $1 not ready on 127.0.0.1 after 30 s" >&2; exit 1
}

if ! port_open 3306; then
  install -d -o mysql -g mysql /run/mysqld
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd </dev/null >/dev/null 2>&1
fi
wait_for "MariaDB (root, no password)" maria_ok

if ! port_open 6379; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log </dev/null >/dev/null 2>&1
fi
wait_for Redis redis_ok
