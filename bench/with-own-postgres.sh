#!/bin/sh
# Runs a benchmark against a PostgreSQL cluster of its own, configured as README "Operations" recommends for a
# provincial database (issue #15, Q-P6), and removes the cluster afterwards:
#
#   bash bench/with-own-postgres.sh npm run bench:scale -- --factor 1
#
# The machine's shared server (127.0.0.1:5432) is set up for test suites: 128 MB of shared_buffers, autovacuum
# off, a checkpoint at every DROP DATABASE. A database of 8 GB does not stay in memory there, and every lookup of a
# token by its random id may read from disk. Here the server gets the settings a production database of that size
# would get; BENCH_DATABASE_URL points the benchmark's servers at it. Settings can be changed with
# BENCH_PG_SETTINGS ("name=value name=value"), the port with BENCH_PG_PORT.
set -eu

BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
PORT=${BENCH_PG_PORT:-55432}
SETTINGS=${BENCH_PG_SETTINGS:-"shared_buffers=12GB max_wal_size=16GB checkpoint_timeout=15min wal_compression=lz4 autovacuum=on effective_cache_size=16GB"}
DIR=$(mktemp -d /var/tmp/uop-bench-pg-XXXXXX)
as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
# As root the cluster runs as postgres (initdb refuses root); otherwise as the caller.
if [ "$(id -u)" = 0 ]; then chown postgres "$DIR"; fi
stop() {
  as_postgres "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap stop EXIT INT TERM

as_postgres "$BIN/initdb" -D "$DIR/data" -A trust -U postgres -E UTF8 --locale C.UTF-8 >"$DIR/initdb.log"
OPTIONS="-p $PORT -k $DIR -c listen_addresses=127.0.0.1"
for setting in $SETTINGS; do OPTIONS="$OPTIONS -c $setting"; done
as_postgres "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -o "$OPTIONS" start >/dev/null
echo "[own-postgres] $("$BIN/postgres" --version) on 127.0.0.1:$PORT with: $SETTINGS" >&2

BENCH_DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/postgres" BENCH_PG_SETTINGS="$SETTINGS" "$@"
