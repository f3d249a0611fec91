#!/bin/sh
# Starts podman's Docker Engine API service on a unix socket for dockerode, and waits for it.
# Idempotent: returns at once when the socket already answers.
# Usage: scripts/start-podman-service.sh [SOCKET]   (default /run/podman/podman.sock)
set -eu
SOCK="${1:-/run/podman/podman.sock}"
CONF=/etc/containers/containers.conf

# crun fails on this machine's cgroup layout ("cgroups in hybrid mode") and the default
# open-file ulimit cannot be set, so pin runc and explicit ulimits unless someone already chose.
if [ ! -e "$CONF" ]; then
  mkdir -p /etc/containers
  cat >"$CONF" <<'CONF'
# Written by listci scripts/start-podman-service.sh: podman + runc, explicit ulimits.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]
[engine]
runtime = "runc"
[engine.runtimes]
runc = ["/usr/sbin/runc"]
CONF
  echo "wrote $CONF (runc, ulimits)"
fi

ping() { curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; }
if ping; then echo "podman service already answers on $SOCK"; exit 0; fi

mkdir -p "$(dirname "$SOCK")"
rm -f "$SOCK"
LOG="${LISTCI_PODMAN_LOG:-/tmp/listci-podman-service.log}"
# From / : conmon fails every container ("Failed to get working directory") once the
# directory the service was started in is deleted, e.g. a CI checkout removed after the run.
(cd / && nohup podman system service --time=0 "unix://$SOCK" >"$LOG" 2>&1 &)
i=0
while [ $i -lt 100 ]; do
  if ping; then echo "podman service answers on $SOCK (log: $LOG)"; exit 0; fi
  i=$((i + 1)); sleep 0.1
done
echo "podman system service did not answer on $SOCK within 10 s; see $LOG" >&2
exit 1
