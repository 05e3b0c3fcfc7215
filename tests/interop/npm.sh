#!/usr/bin/env bash
# Installs playwright-core and puppeteer-core (the versions package-lock.json pins) into
# tests/interop/node_modules when they are not there yet. Under a lock: ctest may start two
# interop tests at once.
set -euo pipefail
cd "$(dirname "$0")"
packages="['playwright-core', 'puppeteer-core']"
wanted() { node -p "$packages.map((n) => n + '@' + require('./package-lock.json').packages['node_modules/' + n].version).join(' ')"; }
installed() {
  node -p "$packages.map((n) => { try { return n + '@' + require('./node_modules/' + n + '/package.json').version } catch { return n + '@' } }).join(' ')"
}
want=$(wanted)
[ "$(installed)" = "$want" ] && exit 0
exec 9>.npm.lock
flock 9
[ "$(installed)" = "$want" ] && exit 0
echo "deps: npm ci ($want)" >&2
npm ci --no-audit --no-fund --loglevel=error >&2
