#!/bin/sh
# Makes a local Node 20 image for checking listci's own Dockerfile where no registry serves
# node:20 (as on the development machines): the debootstrap base image plus this host's own
# node, npm and Node headers (node-gyp cannot download headers without the internet).
# Usage: scripts/make-node-image.sh [NAME]   (default localhost/listci/node:20)
# Then:  podman build --build-arg NODE_IMAGE=localhost/listci/node:20 -t listci .
set -eu
cd "$(dirname "$0")/.."
NAME="${1:-localhost/listci/node:20}"
BASE="${LISTCI_BASE_IMAGE:-listci/base:bookworm}"
node -e 'process.exit(process.versions.node.split(".")[0] === "20" ? 0 : 1)' || { echo "host node is not 20" >&2; exit 2; }
scripts/make-base-image.sh "$BASE" >&2
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
mkdir -p "$ctx/usr/local/bin" "$ctx/usr/local/lib" "$ctx/usr/local/include"
cp "$(command -v node)" "$ctx/usr/local/bin/node"
npm_root="$(npm root -g)"
cp -r "$npm_root/npm" "$ctx/usr/local/lib/npm"
nodedir="$(npm config get nodedir 2>/dev/null || true)"
[ -d "${nodedir:-/usr}/include/node" ] && cp -r "${nodedir:-/usr}/include/node" "$ctx/usr/local/include/node"
cat >"$ctx/Containerfile" <<CF
FROM $BASE
COPY usr /usr
RUN ln -s /usr/local/lib/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s /usr/local/lib/npm/bin/npx-cli.js /usr/local/bin/npx \
 && printf 'nodedir=/usr/local\n' > /usr/local/etc/npmrc 2>/dev/null || (mkdir -p /usr/local/etc && printf 'nodedir=/usr/local\n' > /usr/local/etc/npmrc)
CF
podman build --pull=never -t "$NAME" -f "$ctx/Containerfile" "$ctx"
echo "$NAME"
