#!/usr/bin/env bash
# Make Debian's chromium available for the browser tests (tests/browser.py drives it headless): install
# the `chromium` package when no `chromium` is on PATH, and print the binary's path (stdout) and version
# (stderr). Idempotent: a chromium already on PATH is left alone. Needs root (or sudo) to install.
#
#   scripts/chromium.sh                 install if needed, print the path
#   APT log: /tmp/repro-audit-apt.log   (shared with scripts/docker-engine.sh)
set -euo pipefail

say_found() {
  local path version
  path=$(command -v chromium) || {
    echo "chromium: installed, but no chromium on PATH ($PATH)" >&2
    exit 1
  }
  version=$("$path" --version 2>/dev/null || true)
  echo "chromium: $path (${version:-version unknown})" >&2
  echo "$path"
}

if command -v chromium >/dev/null 2>&1; then
  say_found
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "chromium: not root and no sudo: install Debian's chromium by hand (apt-get install chromium)" >&2
    exit 1
  fi
fi

# One install at a time (CI and a developer on the same machine): the second waits, then finds it.
exec 9>"${TMPDIR:-/tmp}/repro-audit-chromium.lock"
flock 9
if command -v chromium >/dev/null 2>&1; then
  say_found
  exit 0
fi

echo "chromium: installing Debian's chromium" >&2
# dpkg's own lock is waited for too: scripts/docker-engine.sh may be installing at the same time.
# Without recommends (notification daemons, printing, udev); fonts-liberation is the one that matters:
# text in the reports' screenshots is drawn with metric-compatible Arial/Times/Courier.
# `env`: sudo would drop DEBIAN_FRONTEND from the environment.
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
apt_install=("${apt_get[@]}" install -y --no-install-recommends chromium fonts-liberation)
# apt-get update only when the package lists do not know chromium (or name a version the mirror dropped).
if ! "${apt_install[@]}" >/tmp/repro-audit-apt.log 2>&1; then
  "${apt_get[@]}" update >>/tmp/repro-audit-apt.log 2>&1 || {
    echo "chromium: apt-get update failed; see /tmp/repro-audit-apt.log" >&2
    exit 1
  }
  "${apt_install[@]}" >>/tmp/repro-audit-apt.log 2>&1 || {
    echo "chromium: apt-get install chromium failed; see /tmp/repro-audit-apt.log" >&2
    exit 1
  }
fi
say_found
