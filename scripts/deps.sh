#!/usr/bin/env bash
# Installs the Debian packages peer needs, idempotently: nothing is downloaded when every
# package is already there. Usage: scripts/deps.sh build|test|sanitize
# test and sanitize also bring the browser interop tests' Chromium and Firefox ESR, Node.js (Debian's, unless
# a node is on the PATH already), playwright-core and puppeteer-core (npm, pinned in
# tests/interop/package-lock.json).
set -euo pipefail

build=(g++ cmake ninja-build pkg-config libssl-dev
       nlohmann-json3-dev libfmt-dev libspdlog-dev libcli11-dev libusrsctp-dev libsrtp2-dev
       libboost-dev libhiredis-dev libvpx-dev libopus-dev)
test=("${build[@]}" libgtest-dev libgmock-dev libbenchmark-dev coturn redis-server iproute2 procps chromium firefox-esr iptables
      iputils-ping jq bc openssl
      dpkg-dev file lintian)  # the .deb test (tests/install/deb.sh): cpack's shlibdeps, lintian
command -v node >/dev/null || test+=(nodejs)
command -v npm >/dev/null || test+=(npm)
sanitize=("${test[@]}" clang libclang-rt-14-dev)

case "${1:-build}" in
  build) want=("${build[@]}") ;;
  test) want=("${test[@]}") ;;
  sanitize) want=("${sanitize[@]}") ;;
  *) echo "usage: $0 build|test|sanitize" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -q >/dev/null
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "${1:-build}" != build ]; then
  bash "$(dirname "$0")/../tests/interop/npm.sh"
fi
