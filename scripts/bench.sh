#!/usr/bin/env bash
# Runs the benchmarks against real services and prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
# PostgreSQL with production durability (fsync on), on a cluster of its own.
export STREAMFORGE_TEST_STATE=${STREAMFORGE_BENCH_STATE:-/tmp/streamforge-bench}
export STREAMFORGE_TEST_PGPORT=${STREAMFORGE_BENCH_PGPORT:-55434}
export STREAMFORGE_TEST_PG_DURABLE=1
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export STREAMFORGE_REQUIRE_SERVICES=1
go test -run '^$' -bench . -benchtime ${BENCHTIME:-3s} ${BENCH_PKGS:-./...}
