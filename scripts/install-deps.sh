#!/usr/bin/env bash
# Installs the Debian packages estc needs to build and test, and nothing more.
# Safe to run again: packages already present are skipped, so `make demo` and
# `make test` call it every time without cost.
set -euo pipefail

PKGS=(build-essential cmake pkg-config flex bison
      llvm-19-dev llvm-19-tools libopenblas-dev libxxhash-dev zlib1g-dev libzstd-dev)

missing=()
for p in "${PKGS[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "estc: installing missing Debian packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
