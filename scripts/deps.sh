#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages AkiDB needs.
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh --test   also what the test suite needs (PyTorch peer,
#                            clang for the sanitizer and fuzz builds)
# Runs apt-get only for packages that are missing; needs root.
set -euo pipefail

pkgs=(build-essential cmake pkg-config ca-certificates
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(python3 python3-torch python3-numpy clang libclang-rt-14-dev curl)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
