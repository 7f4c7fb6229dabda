#!/usr/bin/env bash
# Builds octet and runs the whole test suite. Tests that need the real models in ../shared/models skip with a
# message when that directory is absent (a fresh clone); set OCTET_SHARED_DIR to point elsewhere.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
