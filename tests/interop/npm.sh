#!/usr/bin/env bash
# Installs playwright-core (the version package-lock.json pins) into tests/interop/node_modules
# when it is not there yet. Under a lock: ctest may start two interop tests at once.
set -euo pipefail
cd "$(dirname "$0")"
want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")
[ "$have" = "$want" ] && exit 0
exec 9>.npm.lock
flock 9
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch { '' }")
[ "$have" = "$want" ] && exit 0
echo "deps: npm ci (playwright-core $want)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
