#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian 12 machine and starts the
# services that live longer than one test (Podman's Engine API socket). Dovecot, Redis
# and the SMTP server are started by the tests themselves, one per test file, each on a
# free loopback port (test/helpers/).
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  git git-email make gcc clang binutils flex bison python3 ccache   # real git and compilers
  podman runc uidmap slirp4netns fuse-overlayfs containernetworking-plugins debootstrap  # containers
  dovecot-imapd dovecot-core        # the real IMAP server of the integration tests
  public-inbox                      # a real v2 archive (lore's software) for the public-inbox source
  redis-server                      # Redis 7.0 for the BullMQ queue and build workers (test/helpers/redis.ts)
  chromium                          # the browser test of the web page
  dpkg-dev curl xz-utils            # the real Xen tree (scripts/get-xen.sh; dpkg-dev for its 4.17.5 fallback)
  libmailtools-perl                 # git send-email (regenerating the mail corpus, e2e series)
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages; run as root:" >&2
    echo "  apt-get update && apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
  echo "setup: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # Installing redis-server enables and starts Debian's own instance on 127.0.0.1:6379 (where
  # systemd or sysvinit runs). The tests never use it: each starts its own redis-server on a
  # free port. Stop and disable only the instance this run installed; one already installed
  # belongs to the machine's owner and is left alone.
  if [[ " ${missing[*]} " == *" redis-server "* ]]; then
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now redis-server.service >/dev/null 2>&1 || true
    elif [[ -x /etc/init.d/redis-server ]]; then
      /etc/init.d/redis-server stop >/dev/null 2>&1 || true
      update-rc.d redis-server disable >/dev/null 2>&1 || true
    fi
  fi
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

# Podman's Docker-compatible API for the container runner, the toolchain images (made
# here from Debian's packages: no registry is needed), and today's Xen tree for the
# end-to-end tests (cached outside the checkout; every real Xen test builds this one tree,
# so they share each cold baseline).
scripts/start-podman-service.sh >&2
scripts/build-images.sh gcc-12 clang-14 gcc-12-arm64 >&2
scripts/get-xen.sh master >&2
