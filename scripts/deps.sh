#!/usr/bin/env bash
# deps.sh - installs the Debian 12 packages AkiDB needs.
#   scripts/deps.sh          build + run dependencies
#   scripts/deps.sh --test   also what the test suite needs (PyTorch peer,
#                            clang for the sanitizer and fuzz builds, npm for
#                            scripts/tokref.sh unless one is on the PATH,
#                            chromium for the web console's browser test)
#   scripts/deps.sh --arm64  what the 64-bit ARM stage of the suite needs:
#                            the aarch64 cross compilers, qemu-user, and the
#                            arm64 builds of the libraries (Debian multiarch)
# Runs apt-get only for packages that are missing; needs root.
set -euo pipefail

pkgs=(build-essential cmake pkg-config ca-certificates
      libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev libssl-dev libpcre2-dev
      zlib1g-dev libnats-dev)
if [[ "${1:-}" == "--test" ]]; then
  pkgs+=(python3 python3-torch python3-numpy clang libclang-rt-14-dev curl)
  pkgs+=(chromium)   # the web console's browser test (tests/ref/console_ui.mjs)
  pkgs+=(awscli)     # the S3 client's interoperability test (tests/test_s3.c)
  pkgs+=(nats-server)   # the cluster's write log test (tests/test_jlog.c)
  command -v npm >/dev/null 2>&1 || pkgs+=(npm)
fi
update=0
if [[ "${1:-}" == "--arm64" ]]; then
  if ! dpkg --print-foreign-architectures | grep -qx arm64; then
    dpkg --add-architecture arm64
    update=1
  fi
  pkgs=(qemu-user gcc-aarch64-linux-gnu g++-aarch64-linux-gnu
        libjansson-dev:arm64 libmicrohttpd-dev:arm64 libcurl4-openssl-dev:arm64
        libssl-dev:arm64 libpcre2-dev:arm64 zlib1g-dev:arm64)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}" >&2
  apt-get update
  update=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi
if ((update)); then
  apt-get update
fi
