#!/usr/bin/env bash
# Starts the real services the test suite uses and prints their environment
# as shell assignments (eval "$(scripts/test-services.sh start)").
#   start  - a private PostgreSQL cluster (Debian's server) on 127.0.0.1:$PGPORT
#   stop   - stops it
# The test cluster runs with fsync=off (its data is thrown away); set
# STREAMFORGE_TEST_PG_DURABLE=1 for production durability settings, as the
# benchmarks do (with their own STREAMFORGE_TEST_STATE and port).
# Other real parts (swtpm, step-ca, Kafka brokers, protocol simulators) are
# started per test by the helpers in internal/testenv.
set -euo pipefail

STATE_DIR=${STREAMFORGE_TEST_STATE:-/tmp/streamforge-test}
# Below the kernel's ephemeral range (32768-60999): a port in that range can
# be taken at any moment by an outgoing connection (a fleet benchmark opens
# thousands), and PostgreSQL then fails to start.
PGPORT=${STREAMFORGE_TEST_PGPORT:-15432}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
PGDATA=$STATE_DIR/pg
PGOPTS="-c listen_addresses=127.0.0.1 -c max_connections=300"
[ "${STREAMFORGE_TEST_PG_DURABLE:-0}" = 1 ] || PGOPTS="$PGOPTS -c fsync=off"

as_postgres() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_pg() {
  mkdir -p "$STATE_DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres "$STATE_DIR"
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    as_postgres "$PGBIN/initdb" -D "$PGDATA" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -l "$STATE_DIR/pg.log" -w \
      -o "-p $PGPORT -k $STATE_DIR $PGOPTS" start >/dev/null
  fi
  echo "export STREAMFORGE_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$PGPORT/postgres?sslmode=disable'"
}

case "${1:-start}" in
  start) start_pg ;;
  stop) as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null 2>&1 || true ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
