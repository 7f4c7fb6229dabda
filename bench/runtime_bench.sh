#!/usr/bin/env bash
# Runtime benchmark (issues #3, #4): a synthetic ~1B-parameter Llama in BF16 and the same model with FP8 E4M3
# weights (per-tensor scales, weight-only so the weight stream is all that differs) and with INT4 weights (g128,
# symmetric, W4A16), prefill and decode tokens/s at 1 and 2 threads, plus the FP8 and INT4 matrix-vector kernels
# against this machine's read bandwidth, all in one run.
#   bench/runtime_bench.sh [BUILD_DIR]      (default build/; needs octet, decode_bench and matvec_bench)
set -euo pipefail
build=${1:-build}
work=${OCTET_BENCH_DIR:-/tmp/octet-bench}
mkdir -p "$work"
bf16=$work/llama-1b-bf16
fp8=$work/llama-1b-fp8
int4=$work/llama-1b-int4
[ -d "$bf16" ] || "$build/octet" synth --arch llama --preset 1b --dtype bf16 --seed 1 -o "$bf16"
[ -d "$fp8" ] || "$build/octet" convert "$bf16" --quantization fp8 --activations none -o "$fp8" --quiet
[ -d "$int4" ] || "$build/octet" convert "$bf16" --quantization int4 --group-size 128 -o "$int4" --quiet
echo "== kernels (14336x4096) and read bandwidth"
"$build/matvec_bench" --benchmark_filter='ReadBandwidth|MatVec/(BF16|F8_E4M3)|MatVecInt4/' 2>&1 | grep -vE '^(\*\*\*|Run on|CPU Caches|  L[123]|Load Average)'
echo "== model"
OCTET_BENCH_MODELS="$bf16:$fp8:$int4" "$build/decode_bench" 2>&1 | grep -vE '^(\*\*\*|Run on|CPU Caches|  L[123]|Load Average)'
