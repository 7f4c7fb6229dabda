// Activation quantization as vLLM's FP8 linears apply it, done in place on F32 activations ("fake quantization"):
// each value becomes decode(encode_e4m3_saturating(x / s)) * s, with s the activation scale. Multiplying the
// result by the dequantized FP8 weight with F32 accumulation then equals vLLM's FP8 GEMM up to the order of the
// F32 sums and where the scales are applied (vLLM scales the integer-valued product once; here x carries s).
//
// Deviations from vLLM's kernels, all within one F32 rounding of the quantized value or only for all-zero input:
//   - x / s is a division; vLLM's CUDA kernels multiply by a precomputed 1 / s.
//   - Every dynamic scale is floored (see DynamicScale) so an all-zero token gives zeros, never 0/0.
//   - vLLM's `fp8` method with dynamic activations and per-tensor weights computes ONE scale for the whole batch
//     (scaled_fp8_quant without use_per_token); octet uses per-token scales there (ActivationQuant::kDynamicToken),
//     because a batch-wide scale makes one sequence's logits depend on what else is in the batch.
// Activations are always E4M3 (fmax 448): no engine runs E5M2 activations, and octet writes E5M2 weight-only.
#ifndef OCTET_RUNTIME_ACTIVATION_QUANT_H_
#define OCTET_RUNTIME_ACTIVATION_QUANT_H_

#include <cstddef>
#include <cstdint>

#include "numeric/fp8.h"
#include "runtime/quant_params.h"

namespace octet {

// vLLM's per-token dynamic quant floors the scale at 1 / (448 * 512) (csrc/quantization/fp8 common.cuh).
inline constexpr float kMinDynamicScale = 1.0f / (kE4M3Max * 512.0f);

// Scale for a group whose largest magnitude is abs_max: max(abs_max / 448, kMinDynamicScale).
float DynamicScale(float abs_max);

// x[i] <- decode(encode_e4m3_sat(x[i] / scale)) * scale for n values.
void FakeQuantizeE4M3(float scale, float* x, size_t n);

// Applies `quant` to `tokens` rows of `dim` values. `input_scale` is used by kStatic; `group_size` by
// kDynamicGroup (the last group of a row may be shorter). kNone leaves x unchanged.
void QuantizeActivations(ActivationQuant quant, float input_scale, int64_t group_size, float* x, size_t tokens,
                         size_t dim);

}  // namespace octet

#endif  // OCTET_RUNTIME_ACTIVATION_QUANT_H_
