#!/usr/bin/env bash
# Make (once) the environment HELM runs in, outside the clone, and print its bin folder.
#
# HELM (crfm-helm) is large and needs torch and torchvision; left to itself, pip takes a CUDA build of
# torch several GB large. constraints/helm-cpu.txt pins the CPU pair, and the environment is cached in
#   ${REPRO_AUDIT_CACHE:-${XDG_CACHE_HOME:-~/.cache}/repro-audit}/helm-<hash of the constraints>
# so a new clone (CI) reuses it as long as the pins do not change. repro-audit finds it there by itself;
# `export REPRO_AUDIT_HELM="$(bash scripts/helm-env.sh)"` names it explicitly.
set -euo pipefail
cd "$(dirname "$0")/.."

constraints=constraints/helm-cpu.txt
key=$(sha256sum "$constraints" | cut -c1-16)
cache=${REPRO_AUDIT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/repro-audit}
home="$cache/helm-$key"

mkdir -p "$cache"
# One install at a time (CI and a quick start on the same machine): the second waits, then reuses it.
exec 9>"$cache/helm-$key.lock"
flock 9

if [ -f "$home/.complete" ]; then
  echo "helm-env: using $home" >&2
  echo "$home/bin"
  exit 0
fi

helm_pin=$(grep -E '^crfm-helm==' "$constraints")
echo "helm-env: installing $helm_pin into $home (one to two minutes, 2 GB)" >&2
# A virtual environment's scripts name its folder, so it is built where it will live; `.complete` is
# written last, and a folder without it (an interrupted install) is made again.
rm -rf "$home"
python3 -m venv "$home"
"$home/bin/python" -m pip install --quiet --upgrade "pip>=24" >&2
"$home/bin/python" -m pip install --quiet -c "$constraints" "$helm_pin" >&2
"$home/bin/helm-run" --help >/dev/null
touch "$home/.complete"
echo "helm-env: ready in $home" >&2
echo "$home/bin"
