#!/usr/bin/env bash
# Installs schemathesis (PyPI), the API fuzzer, into a venv under
# ~/.cache/streamforge. Idempotent.
set -euo pipefail
venv="${HOME}/.cache/streamforge/venv"
version=4.32.5
if [ -x "$venv/bin/schemathesis" ] && "$venv/bin/schemathesis" --version | grep -q "$version"; then
  exit 0
fi
python3 -m venv "$venv" 2>/dev/null || { apt-get install -y -qq python3-venv >/dev/null && python3 -m venv "$venv"; }
"$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
echo "install-fuzzer: schemathesis $version ready"
