#!/bin/sh
# npm_install.sh DIR — install the official openai client into DIR/node_modules for the serve tests
# (test-local; nothing global). Exit 77 (skipped) only when npm itself is absent.
set -e
dir=$1
if ! command -v npm >/dev/null 2>&1; then
  echo "SKIP: npm is not installed; the openai-client serve tests will be skipped"
  exit 77
fi
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"name":"minivl-serve-tests","private":true}' > "$dir/package.json"
if [ -d "$dir/node_modules/openai" ]; then echo "openai already installed in $dir"; exit 0; fi
cd "$dir" && npm install --no-audit --no-fund --loglevel=error openai@4
