#!/bin/sh
# Installs the pinned dev tools (deno, supabase CLI) when node_modules is missing or stale.
# Every npm script runs this first, so a fresh clone needs nothing but Node and npm.
set -e
cd "$(dirname "$0")/.."
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/supabase ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
