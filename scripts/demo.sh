#!/usr/bin/env bash
# Runs StreamForge on embedded defaults: the control plane on SQLite under
# ./data. On first start it prints the URL and the first admin's one-time
# credentials. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
export STREAMFORGE_DATA_DIR=${STREAMFORGE_DATA_DIR:-./data}
exec bin/streamforge-cloud serve
