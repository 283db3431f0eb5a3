#!/usr/bin/env bash
# Runs every test against real services. Called by `make test` (after deps).
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export STREAMFORGE_REQUIRE_SERVICES=1

go build ./...
go test -count=1 -timeout 45m ${TEST_FLAGS:-} ./...
