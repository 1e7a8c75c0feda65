#!/usr/bin/env bash
# Install the Debian packages dsoftbus-lite needs, when they are missing.
# As root: apt-get installs them. Otherwise: print the exact command and fail.
set -eu
pkgs="build-essential cmake pkg-config libssl-dev libuv1-dev libjson-c-dev
libcmocka-dev libseccomp-dev clang libclang-rt-14-dev clang-format clang-tidy
cppcheck iproute2 nftables python3 python3-cryptography"
missing=""
for p in $pkgs; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then
  echo "deps: installing$missing" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
else
  echo "deps: missing packages:$missing" >&2
  echo "deps: run: sudo apt-get install -y$missing" >&2
  exit 1
fi
