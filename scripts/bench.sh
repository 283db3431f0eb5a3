#!/usr/bin/env bash
# Runs the benchmarks against real services and prints their figures.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export STREAMFORGE_REQUIRE_SERVICES=1
go test -run '^$' -bench . -benchtime ${BENCHTIME:-3s} ${BENCH_PKGS:-./...}
