#!/bin/sh
# Gets a real Xen tree into a git repository outside the checkout, for the bench and the tests
# that need real Xen. Idempotent: prints the path (last line) and exits if it is already there.
#
#   scripts/get-xen.sh [master]   today's Xen (4.23-unstable), in ${LISTCI_CACHE:-/var/cache/listci}/xen-master.git,
#                                 from the first source that works, said on stderr:
#                                   1. $LISTCI_XEN_TARBALL, a `git archive` of Xen (CI: ../shared/xen/*.tar.xz)
#                                   2. upstream git ($LISTCI_XEN_GIT, default xenbits), where the network allows
#                                   3. Debian's 4.17.5 (below), saying that the modern tree could not be had
#   scripts/get-xen.sh 4.17       Debian 12's `xen` source package (4.17.5), for master's fallback and the bench (LISTCI_BENCH_XEN=4.17):
#
#   ${LISTCI_CACHE:-/var/cache/listci}/xen.git          non-bare repo, branch main, first commit = upstream
#                                                       tree (no debian/), tagged upstream
#   ${LISTCI_CACHE:-/var/cache/listci}/xen-debian-patches/   Debian's patches (git format-patch form) + series
#
# Each tree is one commit with a fixed author and date, so its id is the same on every machine
# (the baseline snapshots are keyed by it). apt runs with a private sources list and state dir,
# so the system's apt config is not changed. No registry, no GitHub.
set -eu
CACHE="${LISTCI_CACHE:-/var/cache/listci}"
WHICH="${1:-master}"
export GIT_AUTHOR_NAME=listci GIT_AUTHOR_EMAIL=listci@localhost GIT_COMMITTER_NAME=listci GIT_COMMITTER_EMAIL=listci@localhost
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'

# One commit of a tree, tagged upstream; $1: the repo dir holding the files, $2: the message.
commit_tree() {
  (cd "$1" && git init -q -b main && git add -A && git -c commit.gpgsign=false commit -q -m "$2" && git tag upstream)
}

if [ "$WHICH" = master ]; then
  MASTER="$CACHE/xen-master.git"
  if [ -d "$MASTER/.git" ] && git -C "$MASTER" rev-parse -q --verify refs/tags/upstream >/dev/null; then
    echo "xen master: $(git -C "$MASTER" log -1 --format=%s upstream)" >&2
    echo "$MASTER"; exit 0
  fi
  mkdir -p "$CACHE"
  TMP="$(mktemp -d "$CACHE/get-xen-master.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  if [ -n "${LISTCI_XEN_TARBALL:-}" ]; then
    [ -f "$LISTCI_XEN_TARBALL" ] || { echo "LISTCI_XEN_TARBALL=$LISTCI_XEN_TARBALL: no such file" >&2; exit 1; }
    mkdir "$TMP/tree"
    tar -C "$TMP/tree" --strip-components=1 -xf "$LISTCI_XEN_TARBALL"
    commit_tree "$TMP/tree" "Xen tree from $(basename "$LISTCI_XEN_TARBALL")"
  elif timeout 120 git clone -q --depth 1 "${LISTCI_XEN_GIT:-https://xenbits.xen.org/git-http/xen.git}" "$TMP/clone" 2>/dev/null; then
    mkdir "$TMP/tree"
    git -C "$TMP/clone" archive HEAD | tar -C "$TMP/tree" -x
    commit_tree "$TMP/tree" "Xen tree from upstream git at $(git -C "$TMP/clone" rev-parse --short=10 HEAD)"
  else
    echo "xen master: no LISTCI_XEN_TARBALL and upstream git is out of reach: using Debian's 4.17.5" >&2
    exec "$0" 4.17
  fi
  rm -rf "$MASTER"
  mv "$TMP/tree" "$MASTER"
  echo "xen master: $(git -C "$MASTER" log -1 --format=%s upstream)" >&2
  echo "$MASTER"; exit 0
fi
[ "$WHICH" = 4.17 ] || { echo "usage: scripts/get-xen.sh [master|4.17]" >&2; exit 2; }
# The release's own version (4.17.5 in bookworm), not a security update: mirrors and proxies do not
# always carry the security pool, and a fixed version keeps the bench's numbers comparable.
SPEC="${LISTCI_XEN_SOURCE:-xen/bookworm}"
REPO="$CACHE/xen.git"
PATCHES="$CACHE/xen-debian-patches"
if [ -d "$REPO/.git" ] && git -C "$REPO" rev-parse -q --verify refs/tags/upstream >/dev/null && [ -f "$PATCHES/series" ]; then
  echo "$REPO"; exit 0
fi
mkdir -p "$CACHE"
WORK="$(mktemp -d "$CACHE/get-xen.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# deb-src entries from the system's own sources (deb822 or one-line), so the mirror is one we can reach.
mkdir -p "$WORK/apt/lists/partial" "$WORK/apt/sources.list.d" "$WORK/src"
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources >"$WORK/apt/sources.list.d/src.sources"
  : >"$WORK/apt/sources.list"
elif [ -f /etc/apt/sources.list ]; then
  grep -E '^deb ' /etc/apt/sources.list | sed -e 's/^deb /deb-src /' >"$WORK/apt/sources.list"
else
  echo "no apt sources found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)" >&2; exit 1
fi
APT="-o Dir::Etc::SourceList=$WORK/apt/sources.list -o Dir::Etc::SourceParts=$WORK/apt/sources.list.d -o Dir::State::Lists=$WORK/apt/lists -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root -q"
# shellcheck disable=SC2086
apt-get $APT update >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log" >&2; exit 1; }
# shellcheck disable=SC2086
(cd "$WORK/src" && apt-get $APT source --download-only "$SPEC" >>"$WORK/apt.log" 2>&1) || { cat "$WORK/apt.log" >&2; exit 1; }
DSC="$(ls "$WORK"/src/xen_*.dsc | head -n 1)"
# The upstream tree as released, with Debian's patches kept aside rather than applied.
(cd "$WORK/src" && dpkg-source --skip-patches -x "$DSC" tree >/dev/null)
rm -rf "$PATCHES" && mkdir -p "$PATCHES"
cp -a "$WORK/src/tree/debian/patches/." "$PATCHES/"
rm -rf "$WORK/src/tree/debian"
VERSION="$(basename "$DSC" .dsc | sed -e 's/^xen_//')"
rm -rf "$REPO"
mv "$WORK/src/tree" "$REPO"
commit_tree "$REPO" "Xen upstream tree from Debian source package xen $VERSION"
echo "$REPO"
