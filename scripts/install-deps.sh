#!/usr/bin/env bash
# Installs the Debian packages octet needs to build and test. Idempotent; run as root (or with sudo).
set -euo pipefail
packages=(
  build-essential cmake git pkg-config
  libhwy-dev          # portable SIMD with run-time dispatch (kernels)
  nlohmann-json3-dev  # JSON: safetensors headers, config.json, reports
  libcli11-dev        # command line
  libfmt-dev          # formatting
  libgtest-dev libgmock-dev  # tests
  libbenchmark-dev    # micro-benchmarks
  libsentencepiece-dev  # tokenizer.model files (optional: octet builds without it)
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
