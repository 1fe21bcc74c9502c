#!/usr/bin/env bash
# Makes sure Debian's nats-server (the JetStream server Herald runs on) is installed.
# Installs it when missing and we are root; otherwise says exactly what to run.
set -euo pipefail
if command -v nats-server >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "nats-server is missing: installing Debian's package (apt-get install nats-server)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
  # The package enables a system service on :4222; Herald starts its own servers.
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nats-server >/dev/null 2>&1 || true; fi
  command -v nats-server >/dev/null 2>&1 && exit 0
  echo "apt-get ran but nats-server is still not on PATH" >&2
  exit 1
fi
cat >&2 <<'MSG'
Herald needs nats-server (with JetStream) and it is not installed.
Install it with:   sudo apt-get install nats-server
or point Herald at a running server with --nats nats://HOST:4222.
MSG
exit 1
