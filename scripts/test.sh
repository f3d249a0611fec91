#!/usr/bin/env bash
# The whole test suite on a fresh Debian 12 machine with Node 20: installs what it
# needs (as root; otherwise prints the command), starts the services, runs npm test.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-test-env.sh
exec npm test
