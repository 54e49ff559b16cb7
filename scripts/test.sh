#!/usr/bin/env bash
# The whole test suite on the project's Node (24, the `node` dev dependency, first on the PATH
# of npm scripts): lint, type-check, vitest (unit; integration against Firebreak's own embedded
# PostgreSQL server started by test/setup/postgres.global.ts, a real Alertmanager, fakes on
# loopback); then the smoke run on Node 26 (scripts/smoke-node26.sh) and the supply-chain checks
# (scripts/supply-chain.ts: CycloneDX SBOM in build/, npm audit of production dependencies).
# Arguments go to vitest and skip the smoke run (e.g. `npm test -- test/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== node $(node --version)"
# Lint and type-check side by side (two cores; each is one process), each one's output printed whole.
echo "== lint and type-check"
checks=$(mktemp -d)
npx eslint . >"$checks/lint" 2>&1 & lint=$!
npx tsc -p tsconfig.json --noEmit >"$checks/type-check" 2>&1 & typecheck=$!
failed=""
wait "$lint" || failed="$failed lint"
wait "$typecheck" || failed="$failed type-check"
cat "$checks/lint" "$checks/type-check"
rm -rf "$checks"
if [ -n "$failed" ]; then echo "== failed:$failed"; exit 1; fi
echo "== tests"; npx vitest run "$@"
if [ "$#" -eq 0 ]; then
  echo "== smoke on node 26"; bash scripts/smoke-node26.sh
  echo "== supply chain"; npx tsx scripts/supply-chain.ts
fi
