#!/usr/bin/env bash
# The whole test suite: lint, type-check, then vitest (unit, PGlite, real
# PostgreSQL started by test/setup/postgres.global.ts, fake Slack on loopback).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== lint"; npx eslint .
echo "== type-check"; npx tsc -p tsconfig.json --noEmit
echo "== tests"; npx vitest run "$@"
