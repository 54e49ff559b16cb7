#!/usr/bin/env bash
# Smoke run on the next Node.js LTS (26): the signed declare slice and an Alertmanager delivery
# end to end, with node 26 from the npm registry (scripts/node26, installed on first use) first
# on the PATH. The main suite runs on node 24, the version package.json pins for the project.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=scripts/node26
want=$(node -p "require('./$dir/package.json').devDependencies.node")
if [ "$("$dir/node_modules/.bin/node" --version 2>/dev/null)" != "v$want" ]; then
  echo "installing node $want for the smoke run"
  npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
fi
export PATH="$PWD/$dir/node_modules/.bin:$PATH"
echo "node $(node --version)"
npx vitest run test/integration/declare.test.ts test/integration/alertmanager-e2e.test.ts
