#!/bin/sh
# Makes the Debian 12 base image the toolchain images build on, without a registry:
# debootstrap --variant=minbase bookworm + podman import. Idempotent: skips if the image exists.
# Usage: scripts/make-base-image.sh [IMAGE]   (default listci/base:bookworm)
set -eu
IMAGE="${1:-listci/base:bookworm}"
MIRROR="${LISTCI_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
if podman image exists "$IMAGE"; then echo "$IMAGE exists, skipping"; exit 0; fi
DIR="$(mktemp -d /var/tmp/listci-rootfs.XXXXXX)"
trap 'rm -rf "$DIR"' EXIT
start=$(date +%s)
debootstrap --variant=minbase bookworm "$DIR" "$MIRROR" >"$DIR.log" 2>&1 || {
  tail -n 30 "$DIR.log" >&2; echo "debootstrap failed (full log: $DIR.log)" >&2; exit 1; }
rm -f "$DIR.log"
# Keep the image small: no apt caches or lists in the layer.
rm -rf "$DIR"/var/cache/apt/archives/*.deb "$DIR"/var/lib/apt/lists/*
tar -C "$DIR" -c . | podman import - "$IMAGE" >/dev/null 2>"$DIR.import.log" || { cat "$DIR.import.log" >&2; exit 1; }
rm -f "$DIR.import.log"
echo "$IMAGE imported in $(( $(date +%s) - start )) s"
