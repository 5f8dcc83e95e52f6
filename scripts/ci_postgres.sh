#!/usr/bin/env bash
# Start a throw-away PostgreSQL server for the tests and print its SQLAlchemy URL (and nothing else)
# on stdout, so that CI can do:
#
#   export ATOM_TEST_POSTGRES_URL="$(bash scripts/ci_postgres.sh)"
#
# Debian's `postgresql` package (installed with apt-get when missing) runs as the unprivileged
# `postgres` user (initdb refuses root), listening on 127.0.0.1:$ATOM_PG_PORT and on a socket in
# $ATOM_PG_DIR. Idempotent: a server already answering there is reused and the database is created
# only when missing. When anything fails it prints a WARNING on stderr, prints no URL and exits 0,
# so that an apt mirror hiccup skips the PostgreSQL tests (with a visible reason) instead of
# failing CI. Settings are for tests only: trust authentication on loopback, fsync off.
set -uo pipefail

PORT="${ATOM_PG_PORT:-54329}"
DIR="${ATOM_PG_DIR:-/tmp/atom-pg}"
DB="${ATOM_PG_DB:-atom_test}"
DATA="$DIR/data"
LOG="$DIR/server.log"

give_up() {
  echo "WARNING: $*; no PostgreSQL server, the PostgreSQL tests will be skipped" >&2
  exit 0
}

pg_bin() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

BIN="$(pg_bin)"
if [ -z "$BIN" ]; then
  command -v apt-get >/dev/null 2>&1 || give_up "PostgreSQL is not installed and apt-get is not available"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || give_up "PostgreSQL is not installed and installing it needs root"
    SUDO="sudo"
  fi
  echo "installing Debian's postgresql package ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  timeout 600 $SUDO apt-get update -qq >&2 || give_up "apt-get update failed"
  # (the package may also create and start its own cluster on port 5432; this script does not use it)
  timeout 900 $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2 \
    || give_up "apt-get install postgresql failed"
  BIN="$(pg_bin)"
  [ -n "$BIN" ] || give_up "the postgresql package installed no server binaries under /usr/lib/postgresql"
fi

# Run the server as an unprivileged user: `postgres` (created by the package) when we are root.
if [ "$(id -u)" -eq 0 ]; then
  if ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres >&2 || give_up "cannot create user postgres"
  fi
  AS=(runuser -u postgres --)
  mkdir -p "$DIR" && chown postgres: "$DIR" && chmod 700 "$DIR" || give_up "cannot prepare $DIR"
else
  AS=()
  mkdir -p "$DIR" && chmod 700 "$DIR" || give_up "cannot prepare $DIR"
fi

ready() { "${AS[@]}" "$BIN/pg_isready" -q -h "$DIR" -p "$PORT"; }

if ! ready; then
  if [ ! -s "$DATA/PG_VERSION" ]; then
    "${AS[@]}" "$BIN/initdb" -D "$DATA" -U postgres -A trust -E UTF8 --locale=C >"$DIR/initdb.log" 2>&1 \
      || { tail -n 20 "$DIR/initdb.log" >&2; give_up "initdb failed"; }
  fi
  "${AS[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c max_connections=300" \
    start >&2 || { tail -n 20 "$LOG" >&2; give_up "the server did not start (port $PORT taken?)"; }
fi
ready || give_up "the server at 127.0.0.1:$PORT does not answer"

exists="$("${AS[@]}" "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$DB'" 2>/dev/null)"
if [ "$exists" != "1" ]; then
  "${AS[@]}" "$BIN/createdb" -h "$DIR" -p "$PORT" -U postgres "$DB" >&2 || give_up "createdb $DB failed"
fi

echo "$("$BIN/postgres" --version) ready on 127.0.0.1:$PORT (data in $DATA)" >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/$DB"
