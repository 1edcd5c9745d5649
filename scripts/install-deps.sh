#!/usr/bin/env bash
# Install the Debian 12 packages minivl builds against (skips what is already there).
set -euo pipefail
# curl, clang (+ its libFuzzer runtime) and node/npm serve the tests: SSE framing, the request-parser
# fuzzer, the openai-client tests and the llama.cpp benchmark peer.
PKGS=(build-essential cmake pkg-config libjpeg62-turbo-dev libpng-dev libpcre2-dev libutf8proc-dev
      libcjson-dev libssl-dev libmicrohttpd-dev curl clang libclang-rt-14-dev)
# Node may come from elsewhere (e.g. NodeSource, which bundles npm): only ask Debian for what is absent.
command -v node >/dev/null 2>&1 || PKGS+=(nodejs)
command -v npm >/dev/null 2>&1 || PKGS+=(npm)
missing=()
for p in "${PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi
