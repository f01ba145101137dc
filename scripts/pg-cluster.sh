#!/usr/bin/env bash
# A throwaway PostgreSQL 15 cluster for lienthong's tests and benchmarks (issue 23).
#
#   scripts/pg-cluster.sh start DIR [WATCH_PID]   initdb DIR/data if new, start it listening only
#                                                 on a unix socket in DIR, print its URL; when
#                                                 WATCH_PID (default: the caller) exits, stop it
#                                                 and remove DIR
#   scripts/pg-cluster.sh stop DIR [MODE]         stop it now (MODE: fast, immediate)
#   scripts/pg-cluster.sh standby PRIMARY DIR [WATCH_PID]
#                                                 a streaming standby of the cluster in PRIMARY
#                                                 (pg_basebackup -R), made the primary's
#                                                 synchronous standby, started like `start`
#   scripts/pg-cluster.sh promote DIR             the standby in DIR becomes a primary
#
# Run as root (as CI does), initdb and the server run as the `postgres` user, as Debian's
# packages expect; DIR's parent directories must then be traversable by that user. Binaries:
# /usr/lib/postgresql/15/bin (package postgresql-15), or LIENTHONG_PG_BIN. Without them this
# fails, loudly: a test that needs PostgreSQL never passes without it.
set -euo pipefail

BIN=${LIENTHONG_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:?usage: pg-cluster.sh start|stop DIR}
dir=${2:?usage: pg-cluster.sh start|stop DIR}

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
standby)
  primary=$dir
  dir=${3:?usage: pg-cluster.sh standby PRIMARY DIR}
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$BIN/pg_basebackup" -h "$primary" -U lienthong -D "$dir/data" -R -X stream -c fast \
      >"$dir/basebackup.log" 2>&1 || { cat "$dir/basebackup.log" >&2; exit 1; }
    echo "primary_conninfo = 'host=$primary user=lienthong application_name=standby1'" \
      >>"$dir/data/postgresql.auto.conf"
  fi
  as_pg "$BIN/psql" -h "$primary" -U lienthong -d postgres -qc \
    "ALTER SYSTEM SET synchronous_standby_names = 'standby1'" -c "SELECT pg_reload_conf()" >/dev/null
  exec "$0" start "$dir" "${4:-$PPID}"
  ;;
promote)
  as_pg "$BIN/pg_ctl" -D "$dir/data" -w promote >/dev/null
  ;;
start)
  watch=${3:-$PPID}
  if [ ! -x "$BIN/initdb" ]; then
    echo "pg-cluster: no $BIN/initdb: install postgresql-15 (apt-get install postgresql-15)" >&2
    exit 2
  fi
  mkdir -p "$dir"
  [ "$(id -u)" -eq 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_pg "$BIN/initdb" -D "$dir/data" -A trust -U lienthong -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # fsync and synchronous commit as in production: the tests check durability for real.
  as_pg "$BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o \
    "-k $dir -c listen_addresses='' -c fsync=on -c synchronous_commit=on \
     -c max_connections=300 -c shared_buffers=64MB" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  if ! as_pg "$BIN/psql" -h "$dir" -U lienthong -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'lienthong' OR pg_is_in_recovery()" | grep -q 1; then
    as_pg "$BIN/createdb" -h "$dir" -U lienthong lienthong
  fi
  # The watchdog: detached from the caller's output, so that a test harness reading it ends.
  setsid bash -c "while kill -0 $watch 2>/dev/null; do sleep 1; done
    $( [ "$(id -u)" -eq 0 ] && echo 'runuser -u postgres --' ) '$BIN/pg_ctl' -D '$dir/data' -m immediate stop
    rm -rf '$dir'" </dev/null >/dev/null 2>&1 &
  echo "postgresql://lienthong@/lienthong?host=$dir"
  ;;
stop)
  as_pg "$BIN/pg_ctl" -D "$dir/data" -m "${3:-fast}" -w stop >/dev/null
  ;;
*)
  echo "usage: pg-cluster.sh start|stop|standby|promote DIR" >&2
  exit 2
  ;;
esac
