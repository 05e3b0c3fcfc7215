#!/usr/bin/env bash
# The Debian package end to end, without installing it: cpack -G DEB builds the .deb from
# the build tree; dpkg-deb -I must show Depends (computed by dpkg-shlibdeps) and -c the
# files that make it useful; lintian must report no error (E:); then the package is
# unpacked with dpkg -x into a scratch root, a consumer is built and run against that root
# through find_package and pkg-config, the unpacked `peer` prints its version, and its
# `peer signal` takes its listen address the way the service gives it (the environment of
# /etc/default/peer-signal) and exits 0 on SIGTERM.
set -euo pipefail
build=${1:?build dir}; src=${2:?source dir}
scratch=$(mktemp -d)
server=""
cleanup() { [ -z "$server" ] || kill "$server" 2>/dev/null || true; rm -rf "$scratch"; }
trap cleanup EXIT
fail() { echo "deb: $*" >&2; exit 1; }
for tool in cpack dpkg-deb dpkg-shlibdeps lintian; do
  command -v "$tool" >/dev/null || fail "$tool is missing (scripts/deps.sh test installs it)"
done

cpack -G DEB --config "$build/CPackConfig.cmake" -B "$scratch/out" >"$scratch/cpack.log" 2>&1 ||
  { cat "$scratch/cpack.log"; fail "cpack failed"; }
deb=$(find "$scratch/out" -maxdepth 1 -name '*.deb' | head -1)
[ -n "$deb" ] || fail "cpack made no .deb"
echo "deb: $(basename "$deb"), $(du -k "$deb" | cut -f1) KiB"

dpkg-deb -I "$deb" | tee "$scratch/info"
grep -Eq '^ Depends: .*libc6' "$scratch/info" || fail "no Depends with libc6 (dpkg-shlibdeps)"
grep -Eq '^ Depends: .*libssl3' "$scratch/info" || fail "Depends lacks libssl3"
grep -Eq '^ Installed-Size: [0-9]+' "$scratch/info" || fail "no Installed-Size"
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/default/peer-signal ||
  fail "/etc/default/peer-signal is not a conffile"

dpkg-deb -c "$deb" | awk '{print $NF}' >"$scratch/contents"
for f in ./usr/bin/peer ./usr/lib/libpeer.a ./usr/include/peer/peer.hpp ./usr/lib/pkgconfig/peer.pc \
         ./usr/lib/cmake/peer/peerConfig.cmake ./usr/share/man/man1/peer.1.gz \
         ./lib/systemd/system/peer-signal.service ./etc/default/peer-signal \
         ./usr/lib/sysusers.d/peer-signal.conf ./usr/share/doc/peer/copyright ./usr/share/doc/peer/changelog.gz; do
  grep -qx -- "$f" "$scratch/contents" || fail "missing $f"
done

# lintian: errors fail the test; warnings are printed (and listed in docs/architecture.md).
lintian --no-tag-display-limit "$deb" >"$scratch/lintian" 2>&1 || true
cat "$scratch/lintian"
if grep -q '^E:' "$scratch/lintian"; then fail "lintian reports errors"; fi

root=$scratch/root
dpkg -x "$deb" "$root"
bash "$src/tests/install/consumer.sh" "$root/usr" "$src" "$scratch"
"$root/usr/bin/peer" --version | grep -E '^peer [0-9.]+ \(commit [0-9a-f]{12}' || fail "peer --version"

# The service's way to start: options from /etc/default/peer-signal's variables (set -a
# exports them, as EnvironmentFile= does), the listen address moved to a free port, and
# PEER_SIGNAL_OPTS split into words as systemd splits an unbraced $VAR.
# shellcheck disable=SC1091,SC2034,SC2086
(set -a; . "$root/etc/default/peer-signal"; PEER_SIGNAL_LISTEN=127.0.0.1:0
 exec "$root/usr/bin/peer" signal $PEER_SIGNAL_OPTS --log-level warn) >"$scratch/signal.out" &
server=$!
for _ in $(seq 100); do grep -q '^listening on' "$scratch/signal.out" && break; sleep 0.05; done
grep -q '^listening on 127.0.0.1:[0-9]' "$scratch/signal.out" || fail "peer signal did not take PEER_SIGNAL_LISTEN"
kill -TERM "$server"
rc=0; wait "$server" || rc=$?
server=""
[ "$rc" -eq 0 ] || fail "peer signal exited $rc on SIGTERM"
echo "deb: ok"
