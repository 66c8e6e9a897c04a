#!/usr/bin/env bash
# Local base images for the build fixtures, made without any registry: `docker import` of a root file
# system built on this machine. Idempotent: an image that exists is left alone (--force remakes them).
#
#   repro-audit-local/busybox:1.35          Debian's busybox-static, its applets linked in /bin
#   repro-audit-local/python:3.11-bookworm  debootstrap --variant=minbase bookworm with python3 and pip
#
# Needs a running engine (scripts/docker-engine.sh) and root (debootstrap, apt-get). Downloads only from
# Debian's mirror (DEBIAN_MIRROR, default http://deb.debian.org/debian).
set -euo pipefail

busybox_image=repro-audit-local/busybox:1.35
python_image=repro-audit-local/python:3.11-bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${REPRO_AUDIT_DEBOOTSTRAP_CACHE:-/var/cache/repro-audit/debootstrap}
force=0
[ "${1:-}" = "--force" ] && force=1

as_root=()
[ "$(id -u)" -ne 0 ] && as_root=(sudo -n)
export DEBIAN_FRONTEND=noninteractive

have() { [ "$force" -eq 0 ] && docker image inspect "$1" >/dev/null 2>&1; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ "${#missing[@]}" -eq 0 ] && return 0
  "${as_root[@]}" apt-get install -y -q "${missing[@]}" >/tmp/repro-audit-apt.log 2>&1 || {
    "${as_root[@]}" apt-get update -q >>/tmp/repro-audit-apt.log 2>&1
    "${as_root[@]}" apt-get install -y -q "${missing[@]}" >>/tmp/repro-audit-apt.log 2>&1
  }
}

work=$(mktemp -d /tmp/repro-audit-rootfs.XXXXXX)
trap '"${as_root[@]}" rm -rf "$work"' EXIT
labels=(--change 'LABEL org.repro-audit.base=true')

if have "$busybox_image"; then
  echo "base-images: $busybox_image exists"
else
  apt_install busybox-static
  root=$work/busybox
  mkdir -p "$root"/{bin,etc,tmp,root,var/tmp,proc,sys,dev}
  chmod 1777 "$root/tmp" "$root/var/tmp"
  cp /bin/busybox "$root/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar --numeric-owner -C "$root" -c . | docker import "${labels[@]}" \
    --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' - "$busybox_image" >/dev/null
  echo "base-images: made $busybox_image"
fi

if have "$python_image"; then
  echo "base-images: $python_image exists"
else
  apt_install debootstrap
  root=$work/bookworm
  mkdir -p "$cache"
  echo "base-images: debootstrap bookworm with python3 and pip from $mirror (about a minute)"
  "${as_root[@]}" debootstrap --variant=minbase --include=python3,python3-pip --cache-dir="$cache" \
    bookworm "$root" "$mirror" >/tmp/repro-audit-debootstrap.log 2>&1 || {
    echo "base-images: debootstrap failed; see /tmp/repro-audit-debootstrap.log" >&2
    exit 1
  }
  # What the official python images give a Dockerfile: `python` and `pip`, installs into the system.
  "${as_root[@]}" ln -sf python3 "$root/usr/bin/python"
  "${as_root[@]}" ln -sf pip3 "$root/usr/bin/pip"
  "${as_root[@]}" rm -rf "$root/var/lib/apt/lists"/* "$root/var/cache/apt"/*.bin
  "${as_root[@]}" tar --numeric-owner -C "$root" -c . | docker import "${labels[@]}" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' --change 'ENV PIP_DISABLE_PIP_VERSION_CHECK=1' \
    --change 'CMD ["python3"]' - "$python_image" >/dev/null
  echo "base-images: made $python_image"
fi
