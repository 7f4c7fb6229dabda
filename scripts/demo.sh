#!/usr/bin/env bash
# Builds octet and runs its main job on a model that needs no download: a synthetic Llama checkpoint (BF16,
# realistic weight statistics) is generated, converted to FP8 for vLLM, and inspected.
# Pass a model directory to convert that instead:  scripts/demo.sh /path/to/Llama-3-8B
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
work=${OCTET_DEMO_DIR:-build/demo}
mkdir -p "$work"
model=${1:-}
if [ -z "$model" ]; then
  model=$work/synthetic-llama
  rm -rf "$model"
  build/octet synth --arch llama --preset small --dtype bf16 --seed 1 -o "$model"
fi
build/octet convert "$model" --quantization fp8 -o "$work/fp8" --overwrite
# The whole listing goes to a file and its head to the screen: piping into head would end inspect by SIGPIPE,
# which pipefail turns into a failed demo whenever the listing outgrows the pipe buffer.
build/octet inspect "$work/fp8" > "$work/inspect.txt"
head -n 30 "$work/inspect.txt"
echo "(full listing: $work/inspect.txt)"
echo
echo "demo: FP8 checkpoint in $work/fp8 (config.json, model*.safetensors, octet-report.json)"
