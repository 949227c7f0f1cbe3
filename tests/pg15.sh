#!/usr/bin/env bash
# Run a command (the test suite) against Debian's PostgreSQL 15 instead of the embedded 18.
# Starts the packaged cluster and lets the local `postgres` role in over the socket.
set -euo pipefail
HBA=/etc/postgresql/15/main/pg_hba.conf
if [ ! -f "$HBA" ]; then
  echo "Debian's PostgreSQL 15 cluster is not installed (apt-get install postgresql-15)" >&2
  exit 2
fi
if ! grep -q '^local all all trust' "$HBA"; then
  cp -n "$HBA" "$HBA.orig-before-pgreconcile"
  sed -i '1i local all all trust' "$HBA"
fi
pg_ctlcluster 15 main start 2>/dev/null || pg_ctlcluster 15 main reload
export PGRECONCILE_TEST_DSN='postgresql://postgres@/postgres?host=/var/run/postgresql'
exec "$@"
