#!/usr/bin/env bash
# Make Debian's docker-registry (the distribution registry, `registry:2` without the image) available
# for the digest tests (tests/rebuild/registry.py starts one per test session on 127.0.0.1 with its own
# config and storage): install the package when no `docker-registry` is on PATH, and print the binary's
# path (stdout) and version (stderr). Idempotent: a docker-registry already on PATH is left alone.
#
# The package ships a system service listening on every address at port 5000 that its postinst enables
# and starts (where policy-rc.d allows it). The tests want no registry but their own, so right after
# installing, the service is stopped and disabled; the binary is all that is used.
#
#   scripts/registry.sh                 install if needed, print the path
#   APT log: /tmp/repro-audit-apt.log   (shared with scripts/docker-engine.sh and scripts/chromium.sh)
set -euo pipefail

say_found() {
  local path version
  path=$(command -v docker-registry) || {
    echo "registry: installed, but no docker-registry on PATH ($PATH)" >&2
    exit 1
  }
  version=$("$path" --version 2>/dev/null || true)
  echo "registry: $path (${version:-version unknown})" >&2
  echo "$path"
}

if command -v docker-registry >/dev/null 2>&1; then
  say_found
  exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
  else
    echo "registry: not root and no sudo: install Debian's docker-registry by hand" >&2
    exit 1
  fi
fi

# One install at a time (CI and a developer on the same machine): the second waits, then finds it.
exec 9>"${TMPDIR:-/tmp}/repro-audit-registry.lock"
flock 9
if command -v docker-registry >/dev/null 2>&1; then
  say_found
  exit 0
fi

echo "registry: installing Debian's docker-registry" >&2
# `env`: sudo would drop DEBIAN_FRONTEND. dpkg's own lock is waited for: another script may be installing.
apt_get=("${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=300)
apt_install=("${apt_get[@]}" install -y --no-install-recommends docker-registry)
# apt-get update only when the package lists do not know docker-registry (or name a dropped version).
if ! "${apt_install[@]}" >>/tmp/repro-audit-apt.log 2>&1; then
  "${apt_get[@]}" update >>/tmp/repro-audit-apt.log 2>&1 || {
    echo "registry: apt-get update failed; see /tmp/repro-audit-apt.log" >&2
    exit 1
  }
  "${apt_install[@]}" >>/tmp/repro-audit-apt.log 2>&1 || {
    echo "registry: apt-get install docker-registry failed; see /tmp/repro-audit-apt.log" >&2
    exit 1
  }
fi

# The service the postinst started (systemd) or would start at boot (sysvinit): stopped and disabled.
# Each step may find nothing to do (no systemd, policy-rc.d refused the start), so none may fail the script.
if [ -d /run/systemd/system ]; then
  "${as_root[@]}" systemctl disable --now docker-registry.service >>/tmp/repro-audit-apt.log 2>&1 || true
fi
if [ -x /etc/init.d/docker-registry ]; then
  "${as_root[@]}" /etc/init.d/docker-registry stop >>/tmp/repro-audit-apt.log 2>&1 || true
  "${as_root[@]}" update-rc.d docker-registry disable >>/tmp/repro-audit-apt.log 2>&1 || true
fi
say_found
