#!/bin/sh
# Builds listci's toolchain images from config/toolchains/ on the local base image, one at a time
# (they share the 2 cores with everything else). Idempotent: an existing image is skipped unless --rebuild.
# Usage: scripts/build-images.sh [--rebuild] [NAME...]   NAME: gcc-12 gcc-11 clang-NN gcc-12-arm64
#        (default: gcc-12 gcc-11 clang-14)
set -eu
cd "$(dirname "$0")/.."
REBUILD=0
if [ "${1:-}" = "--rebuild" ]; then REBUILD=1; shift; fi
BASE="${LISTCI_BASE_IMAGE:-listci/base:bookworm}"
scripts/make-base-image.sh "$BASE"
[ $# -gt 0 ] || set -- gcc-12 gcc-11 clang-14
for name in "$@"; do
  image="listci/$name"
  if [ $REBUILD = 0 ] && podman image exists "$image"; then echo "$image exists, skipping"; continue; fi
  case "$name" in
    gcc-*) file="config/toolchains/Containerfile.$name"; extra="" ;;  # gcc-12, gcc-11, gcc-12-arm64
    clang-*) file=config/toolchains/Containerfile.clang; extra="--build-arg CLANG_VERSION=${name#clang-}" ;;
    *) echo "unknown toolchain image $name (known: gcc-12 gcc-11 clang-NN gcc-12-arm64)" >&2; exit 2 ;;
  esac
  [ -f "$file" ] || { echo "$file: not found" >&2; exit 2; }
  start=$(date +%s)
  # shellcheck disable=SC2086
  podman build --pull=never --build-arg "BASE=$BASE" $extra -t "$image" -f "$file" config/toolchains >/tmp/listci-image-$name.log 2>&1 || {
    tail -n 30 /tmp/listci-image-$name.log >&2; echo "building $image failed (log: /tmp/listci-image-$name.log)" >&2; exit 1; }
  echo "$image built in $(( $(date +%s) - start )) s"
done
