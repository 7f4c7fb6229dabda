#!/usr/bin/env bash
# Accuracy of every FP8 and INT4 scheme and of GGUF Q4_0 on the small real model (README "Accuracy"): converts
# aidreams260K with each scheme, then evaluates it against the F32 original on sample_tokens.txt (perplexity, ΔPPL,
# KL divergence, top-1 agreement). Static activation scales are calibrated on sample_text_ids.txt, a different set
# of dreams, so the evaluation data never calibrates itself. GGUF files are imported back as F32 for evaluation.
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
  from "$model" "$name" "$@"
}

from() {  # source model, name, convert args... (evaluated against the F32 original either way)
  local source=$1 name=$2; shift 2
  "$build/octet" convert "$source" -o "$work/out" --overwrite --quiet "$@"
  "$build/octet" eval "$work/out" --data "$data" --reference "$model" --json |
    python3 -c 'import json,sys; m=json.load(sys.stdin); print("| %s | %.4f | %+.3f%% | %.5f | %.2f%% |" % (sys.argv[1], m["ppl"], m["delta_ppl_pct"], m["kld_mean"], 100*m["top1_agreement"]))' "$name"
}

gguf_row() {  # name, convert args...: a GGUF file, imported back as F32 (Q4_0/Q8_0/F16 blocks dequantize exactly)
  local name=$1; shift
  "$build/octet" convert "$model" -o "$work/out.gguf" --overwrite --quiet "$@"
  from "$work/out.gguf" "$name" --quantization q0f32
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
# INT4, groups of 32 (the 172-wide down_proj gets a shorter last group of 12); GPTQ / AWQ calibrate on the same
# calibration text as the static activation scales above.
row "int4 g32 symmetric, rtn (q4f32_1)" --quantization q4f32_1
row "int4 g32 asymmetric, rtn" --quantization int4 --zero-point
row "int4 g32 symmetric, gptq" --quantization int4 --method gptq --calib-data "$calib"
row "int4 g32 asymmetric, gptq" --quantization int4 --zero-point --method gptq --calib-data "$calib"
row "int4 g32 symmetric, awq" --quantization int4 --method awq --calib-data "$calib"
row "int4 g32 asymmetric, awq" --quantization int4 --zero-point --method awq --calib-data "$calib"
row "int4 g128 asymmetric, gptq" --quantization int4 --group-size 128 --zero-point --method gptq --calib-data "$calib"
# GGUF Q4_0 for llama.cpp: ggml's reference rounding (llama-quantize without an imatrix), then the same blocks with
# codes and scales chosen by GPTQ / AWQ. ffn_down (172 wide) is F16 and token_embd Q8_0 in all three.
gguf_row "GGUF Q4_0 (ggml reference rounding, as llama-quantize)" --quantization Q4_0
gguf_row "GGUF Q4_0, gptq" --quantization Q4_0 --method gptq --calib-data "$calib"
gguf_row "GGUF Q4_0, awq" --quantization Q4_0 --method awq --calib-data "$calib"
# Mixed precision: bits per weight count BF16 scales, so the BF16 model is the source (F32 scales cost twice).
bf16=$shared/models/aidreams260K-bf16
for bits in 4.5 5 6; do
  from "$bf16" "auto-mix $bits (bf16 source, int4 asymmetric gptq + fp8 + bf16)" --quantization int4 --zero-point \
    --method gptq --auto-mix "$bits" --calib-data "$calib"
done
