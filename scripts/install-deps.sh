#!/usr/bin/env bash
# Install the Debian 12 packages minivl builds against (skips what is already there).
set -euo pipefail
PKGS=(build-essential cmake pkg-config libjpeg62-turbo-dev libpng-dev libpcre2-dev libutf8proc-dev
      libcjson-dev libssl-dev libmicrohttpd-dev)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
