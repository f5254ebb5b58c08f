#!/usr/bin/env bash
# Starts (idempotently) a throwaway PostgreSQL 15 cluster for the registry's tests, owned by the
# `postgres` user, listening on 127.0.0.1 only with trust authentication, and prints the URL the
# tests read from PRISM_TEST_POSTGRES_URL. Use: export PRISM_TEST_POSTGRES_URL=$(scripts/start-postgres.sh)
# Stop it with: scripts/start-postgres.sh --stop
set -euo pipefail
port=${PRISM_POSTGRES_PORT:-54329}
cluster=${PRISM_POSTGRES_DIR:-/tmp/prism-postgres-$port}
database=prism_test
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n "$bin" && -x "$bin/pg_ctl" ]] || { echo "start-postgres: PostgreSQL server not installed (apt-get install postgresql)" >&2; exit 2; }

as_postgres() {
  if [[ $(id -un) == postgres ]]; then "$@"
  elif [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"
  else sudo -u postgres -- "$@"
  fi
}

if [[ ${1:-} == --stop ]]; then
  as_postgres "$bin/pg_ctl" -D "$cluster" -m fast stop >&2 || true
  exit 0
fi

if [[ ! -f "$cluster/PG_VERSION" ]]; then
  rm -rf "$cluster"
  install -d -o postgres -g postgres -m 0700 "$cluster"
  as_postgres "$bin/initdb" -D "$cluster" -U postgres --auth=trust --no-sync -E UTF8 >/dev/null
  # Loopback only, trust auth: a test database nobody else can reach.
  cat > "$cluster/pg_hba.conf" <<HBA
local all all trust
host all all 127.0.0.1/32 trust
HBA
  chown postgres:postgres "$cluster/pg_hba.conf"
fi

if ! as_postgres "$bin/pg_ctl" -D "$cluster" status >/dev/null 2>&1; then
  # Sockets in the cluster folder so no system-wide /var/run/postgresql is needed; fsync off: throwaway data.
  as_postgres "$bin/pg_ctl" -D "$cluster" -l "$cluster/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $cluster -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
fi

if ! as_postgres "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
    "SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1; then
  as_postgres "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$database"
fi
echo "postgres://postgres@127.0.0.1:$port/$database"
