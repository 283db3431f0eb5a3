#!/usr/bin/env bash
# Runs every test against real services. Called by `make test` (after deps).
set -euo pipefail
cd "$(dirname "$0")/.."

# A failed start stops here (eval of a failed substitution would not).
services=$(scripts/test-services.sh start)
eval "$services"
trap 'scripts/test-services.sh stop' EXIT
export STREAMFORGE_REQUIRE_SERVICES=1

go build ./...
go test -count=1 -timeout 45m ${TEST_FLAGS:-} ./...
