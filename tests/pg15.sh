#!/usr/bin/env bash
# Run a command (the test suite) against a throwaway PostgreSQL 15 cluster.
#
#   bash tests/pg15.sh .venv/bin/python -m pytest -q tests/test_catalog.py
#
# The cluster is made from the PostgreSQL 15 binaries (Debian: /usr/lib/postgresql/15/bin,
# or PG15_BIN) with initdb in a new temporary directory, listens on a Unix socket in that
# directory only (no TCP), and is stopped and deleted when the command ends, fails or is
# interrupted. Nothing of the machine's own clusters (/etc/postgresql, /var/lib/postgresql)
# is read or changed. initdb refuses to run as root: as root, the cluster runs as the
# `postgres` system user (PG15_USER to name another one).
set -euo pipefail

if [ "$#" -eq 0 ]; then
  echo "usage: bash tests/pg15.sh COMMAND [ARG...]" >&2
  exit 2
fi

BIN=${PG15_BIN:-/usr/lib/postgresql/15/bin}
for tool in initdb pg_ctl postgres; do
  if [ ! -x "$BIN/$tool" ]; then
    echo "PostgreSQL 15 binaries not found in $BIN (apt-get install postgresql-15, or set PG15_BIN)" >&2
    exit 2
  fi
done

OWNER=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  OWNER=${PG15_USER:-postgres}
  if ! id "$OWNER" >/dev/null 2>&1; then
    echo "initdb refuses to run as root and there is no '$OWNER' user to run the cluster as;" \
         "run this as a non-root user or set PG15_USER to an existing unprivileged user" >&2
    exit 2
  fi
fi

as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$OWNER" -- "$@"
  else
    "$@"
  fi
}

# A port number nobody listens on (it only names the socket file here; there is no TCP).
PORT=${PG15_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}

DIR=$(mktemp -d "${TMPDIR:-/tmp}/pgreconcile-pg15.XXXXXX")
STARTED=0
cleanup() {
  trap - EXIT INT TERM
  if [ "$STARTED" -eq 1 ]; then
    (cd "$DIR" && as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >/dev/null) || true
  fi
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$(id -u)" -eq 0 ]; then
  chown "$OWNER" "$DIR"
fi
chmod 700 "$DIR"

# The owner may not be allowed into the caller's working directory: run the tools from $DIR.
(cd "$DIR" && as_owner "$BIN/initdb" -D "$DIR/data" -U postgres -A trust -E UTF8 --locale=C \
   --no-sync >"$DIR/initdb.log" 2>&1) || { cat "$DIR/initdb.log" >&2; exit 1; }
STARTED=1
(cd "$DIR" && as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
   -o "-c listen_addresses='' -k '$DIR' -p $PORT -c fsync=off" start >/dev/null) \
  || { cat "$DIR/server.log" >&2; exit 1; }

export PGRECONCILE_TEST_DSN="postgresql://postgres@/postgres?host=$DIR&port=$PORT"
echo "pg15.sh: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') in $DIR (socket only, port $PORT)" >&2

status=0
"$@" || status=$?
exit "$status"
