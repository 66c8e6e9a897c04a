#!/usr/bin/env bash
# Make a Docker Engine answer on this machine: install Debian's docker.io when dockerd is missing, start
# dockerd in the background when nothing answers on the socket, and wait until it does. Idempotent: an
# engine that already answers is left alone. Needs root (or sudo) to install and start the daemon.
#
#   scripts/docker-engine.sh            install if needed, start if needed, wait (at most 90 s)
#   DOCKER_ENGINE_LOG=FILE              where dockerd writes its log (default /var/log/repro-audit-dockerd.log)
set -euo pipefail

log_file=${DOCKER_ENGINE_LOG:-/var/log/repro-audit-dockerd.log}
socket=/var/run/docker.sock
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "docker-engine: not root and no sudo: install and start a Docker Engine by hand" >&2
    exit 1
  fi
fi

answers() {
  # The engine's /_ping over its unix socket; curl when present, else Python's standard library.
  if command -v curl >/dev/null 2>&1; then
    "${as_root[@]}" curl --silent --fail --max-time 3 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1
  else
    "${as_root[@]}" python3 - "$socket" <<'PY' >/dev/null 2>&1
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: localhost\r\n\r\n")
sys.exit(0 if s.recv(64).split()[1] == b"200" else 1)
PY
  fi
}

if answers; then
  echo "docker-engine: an engine already answers on $socket"
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  echo "docker-engine: installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  if ! "${as_root[@]}" apt-get install -y -q docker.io >/tmp/repro-audit-apt.log 2>&1; then
    "${as_root[@]}" apt-get update -q >>/tmp/repro-audit-apt.log 2>&1
    "${as_root[@]}" apt-get install -y -q docker.io >>/tmp/repro-audit-apt.log 2>&1 || {
      echo "docker-engine: apt-get install docker.io failed; see /tmp/repro-audit-apt.log" >&2
      exit 1
    }
  fi
fi

if ! pgrep -x dockerd >/dev/null 2>&1; then
  echo "docker-engine: starting dockerd (log: $log_file)"
  # setsid: the daemon outlives this script and its terminal. --no-new-privileges: the classic build API
  # has no security options for RUN steps, but the engine's default reaches them (setuid binaries in an
  # entrant's build cannot gain privileges).
  "${as_root[@]}" setsid dockerd --no-new-privileges >"$log_file" 2>&1 </dev/null &
fi

for _ in $(seq 1 90); do
  if answers; then
    echo "docker-engine: the engine answers on $socket"
    exit 0
  fi
  sleep 1
done
echo "docker-engine: dockerd did not answer within 90 s; its log ends with:" >&2
tail -n 20 "$log_file" >&2 || true
exit 1
