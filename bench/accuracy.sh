#!/usr/bin/env bash
# Accuracy of every FP8 scheme on the small real model (README "Accuracy"): converts aidreams260K with each scheme,
# then evaluates it against the F32 original on sample_tokens.txt (perplexity, ΔPPL, KL divergence, top-1
# agreement). Static activation scales are calibrated on sample_text_ids.txt, a different set of dreams, so the
# evaluation data never calibrates itself.
#   bench/accuracy.sh [BUILD_DIR] [SHARED_DIR]
set -euo pipefail
build=${1:-build}
shared=${2:-../shared}
model=$shared/models/aidreams260K
data=$model/sample_tokens.txt
calib=$model/sample_text_ids.txt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

row() {  # name, convert args...
  local name=$1; shift
  "$build/octet" convert "$model" -o "$work/out" --overwrite --quiet "$@"
  "$build/octet" eval "$work/out" --data "$data" --reference "$model" --json |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print("| %s | %.4f | %+.3f%% | %.5f | %.2f%% |" % (sys.argv[1], m["ppl"], m["delta_ppl_pct"], m["kld_mean"], 100*m["top1_agreement"]))' "$name"
}

echo "| scheme | PPL | ΔPPL | mean KLD | top-1 agreement |"
echo "|---|---|---|---|---|"
"$build/octet" eval "$model" --data "$data" --json |
  python3 -c 'import json,sys; m=json.load(sys.stdin); print("| F32 original | %.4f | — | — | — |" % m["ppl"])'
row "q0bf16 (BF16, no quantization)" --quantization q0bf16
row "fp8, per-tensor, weight-only" --quantization fp8 --activations none
row "fp8, per-channel, weight-only" --quantization fp8 --weight-scale channel --activations none
row "fp8, 128x128 blocks, weight-only" --quantization fp8 --weight-scale block --activations none
row "fp8, per-tensor, dynamic per-token activations" --quantization fp8
row "fp8, per-channel, dynamic per-token activations" --quantization fp8 --weight-scale channel
row "fp8, blocks, dynamic per-token-group activations" --quantization fp8 --weight-scale block
for method in max percentile:99.99 percentile:99.9 mse; do
  row "e4m3_e4m3_f16, static activations, calib $method" --quantization e4m3_e4m3_f16 --calib-data "$calib" --calib-method "$method"
done
row "fp8, per-tensor, static activations, calib max (F32 kept tensors)" --quantization fp8 --activations static --calib-data "$calib"
row "fp8-e5m2, per-tensor, weight-only" --quantization fp8-e5m2
row "e5m2_e5m2_f16 (no scale)" --quantization e5m2_e5m2_f16
