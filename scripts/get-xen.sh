#!/bin/sh
# Gets a real Xen tree (Debian 12's `xen` source package, 4.17.5) into a git repository outside the
# checkout, for the bench and for tests that need real Xen. No registry, no GitHub: only the Debian
# mirror this machine already uses. Idempotent: prints the path and exits if it is already there.
#
#   ${LISTCI_CACHE:-/var/cache/listci}/xen.git          non-bare repo, branch main, first commit = upstream
#                                                       tree (no debian/), tagged upstream
#   ${LISTCI_CACHE:-/var/cache/listci}/xen-debian-patches/   Debian's patches (git format-patch form) + series
#
# apt runs with a private sources list and state dir, so the system's apt config is not changed.
set -eu
CACHE="${LISTCI_CACHE:-/var/cache/listci}"
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
cd "$REPO"
git init -q -b main
git add -A
git -c user.name=listci -c user.email=listci@localhost commit -q -m "Xen upstream tree from Debian source package xen $VERSION"
git tag upstream
echo "$REPO"
