#!/usr/bin/env bash
# Installs the Debian 12 packages Prism builds and tests against (idempotent; needs root or sudo).
set -euo pipefail
packages=(
  pkg-config
  ffmpeg libavcodec-dev libavformat-dev libavfilter-dev libswscale-dev libswresample-dev libavutil-dev
  libssl-dev libsqlite3-dev
  bubblewrap runc umoci busybox-static qemu-utils uidmap qemu-system-x86 ovmf
  postgresql curl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "installing: ${missing[*]}" >&2
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
