#!/usr/bin/env bash
# Makes the demo's git repository from demo/tree with fixed identities and dates, so its
# commit id is the same on every machine and matches the base-commit: of demo/inbox.
# Usage: demo/make-repo.sh DEST   (DEST must not exist)
set -euo pipefail
src="$(cd "$(dirname "$0")" && pwd)/tree"
dest="$1"
export GIT_AUTHOR_NAME='Demo Maintainer' GIT_AUTHOR_EMAIL='maintainer@example.org'
export GIT_COMMITTER_NAME='Demo Maintainer' GIT_COMMITTER_EMAIL='maintainer@example.org'
export GIT_AUTHOR_DATE='2026-01-01T00:00:00Z' GIT_COMMITTER_DATE='2026-01-01T00:00:00Z'
mkdir -p "$dest"
cp -r "$src/." "$dest/"
cd "$dest"
git init -q -b main
git -c core.autocrlf=false add -A
git -c commit.gpgsign=false commit -q -m 'Demo hypervisor'
git rev-parse HEAD
