#!/usr/bin/env bash
# Fleet benchmark: one control plane on PostgreSQL, one simulator process
# with many gateways polling config and sending heartbeats.
#   GATEWAYS=10000 INTERVAL=10s DURATION=60s scripts/bench-fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# Its own PostgreSQL cluster with production durability (fsync on), not the
# test suite's (fsync off).
export STREAMFORGE_TEST_STATE=${STREAMFORGE_BENCH_STATE:-/tmp/streamforge-bench}
export STREAMFORGE_TEST_PGPORT=${STREAMFORGE_BENCH_PGPORT:-55434}
export STREAMFORGE_TEST_PG_DURABLE=1
eval "$(scripts/test-services.sh start)"
db="sf_fleet_$$"
psql "$STREAMFORGE_TEST_POSTGRES_URL" -qc "CREATE DATABASE $db"
data=$(mktemp -d)
trap 'kill $cloud_pid 2>/dev/null || true; wait 2>/dev/null || true; psql "$STREAMFORGE_TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)"; rm -rf "$data"' EXIT
go build -o bin/streamforge-cloud ./cloud/cmd/streamforge-cloud
go build -o bin/streamforge-fleet ./tests/fleet
addr=127.0.0.1:18080
pw="fleet-Quartz-lantern-$$"
STREAMFORGE_DATABASE_URL="${STREAMFORGE_TEST_POSTGRES_URL%/*}/$db?sslmode=disable" STREAMFORGE_DATA_DIR="$data" \
  STREAMFORGE_LISTEN=$addr STREAMFORGE_RATE_LIMIT=0 STREAMFORGE_GATEWAY_RATE_LIMIT=0 STREAMFORGE_ALLOW_KEY_IDENTITY=true \
  STREAMFORGE_BOOTSTRAP_ADMIN_EMAIL=admin@example.com STREAMFORGE_BOOTSTRAP_ADMIN_PASSWORD="$pw" \
  bin/streamforge-cloud serve >/dev/null 2>"$data/cloud.log" &
cloud_pid=$!
for _ in $(seq 100); do curl -sf "http://$addr/readyz" >/dev/null && break; sleep 0.1; done
FLEET_ADMIN_PASSWORD="$pw" bin/streamforge-fleet -cloud "http://$addr" -gateways "${GATEWAYS:-10000}" \
  -interval "${INTERVAL:-10s}" -duration "${DURATION:-60s}" ${FLEET_FLAGS:-}
