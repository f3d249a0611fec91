#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine with Node 20: installs what it
# needs (as root; otherwise prints the command), starts the services, runs npm test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
# One work dir for every real Xen test of this run: they share each cold baseline snapshot
# (minutes per toolchain) instead of building it once per test file.
if [[ -z "${LISTCI_E2E_WORKDIR:-}" ]]; then
  LISTCI_E2E_WORKDIR="$(mktemp -d /var/tmp/listci-e2e-work-XXXXXX)"
  export LISTCI_E2E_WORKDIR
  trap 'rm -rf "$LISTCI_E2E_WORKDIR"' EXIT
fi
npm test
