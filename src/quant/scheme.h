// Quantization schemes: what `--quantization NAME` (plus --weight-scale / --activations) means.
//
// MLC-LLM's names are accepted exactly as MLC spells them, so an existing `mlc_llm convert_weight` command line
// works (mlc-ai/mlc-llm python/mlc_llm/quantization/quantization.py); they are presets of octet's own FP8 family:
//   q0f32, q0f16, q0bf16   no quantization; every floating-point tensor cast to the named dtype
//   e5m2_e5m2_f16          E5M2 weights cast directly with no scale (MLC `use_scale=False`), kept tensors F16
//   e4m3_e4m3_f16          E4M3 weights, per-tensor scale absmax/448, static per-tensor E4M3 activation scales
//                          from calibration, kept tensors F16
//   fp8                    E4M3 weights, per-tensor scales (default), dynamic per-token activations (default),
//                          kept tensors in their original dtype
//   fp8-e5m2               E5M2 weights with scales (same options as fp8)
#ifndef OCTET_QUANT_SCHEME_H_
#define OCTET_QUANT_SCHEME_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "numeric/dtype.h"
#include "numeric/fp8.h"

namespace octet {

enum class WeightScale {
  kNone,     // direct cast (e5m2_e5m2_f16)
  kTensor,   // one scale per tensor: absmax / max_finite
  kChannel,  // one scale per output row
  kBlock,    // one scale per 128x128 block (DeepSeek-V3 style, vLLM `weight_block_size`)
};

enum class ActivationScheme {
  kNone,     // weight-only: activations stay in the model dtype
  kDynamic,  // per-token scales computed at run time (per token and 128-channel group with block weights)
  kStatic,   // one calibrated per-tensor input_scale per linear
};

std::string_view WeightScaleName(WeightScale scale);
std::string_view ActivationSchemeName(ActivationScheme scheme);
std::optional<WeightScale> ParseWeightScale(std::string_view name);
std::optional<ActivationScheme> ParseActivationScheme(std::string_view name);

struct QuantScheme {
  std::string name;                       // as the user spelled it
  bool quantize_linears = false;          // false for the q0* dtype-only schemes
  Fp8Format weight_format = Fp8Format::kE4M3;
  WeightScale weight_scale = WeightScale::kTensor;
  ActivationScheme activations = ActivationScheme::kDynamic;
  int block_size = 128;                   // block edge for WeightScale::kBlock
  std::optional<DType> kept_dtype;        // dtype of tensors not quantized; nullopt keeps each tensor's own
};

// Overrides from --weight-scale / --activations; empty strings leave the preset's choice.
struct SchemeOverrides {
  std::string weight_scale;
  std::string activations;
};

// Resolves a scheme name and overrides; throws octet::Error listing the valid names on anything unknown or
// impossible (e.g. block scales with static activations, which vLLM rejects).
QuantScheme ResolveScheme(std::string_view name, const SchemeOverrides& overrides = {});

// Names accepted by --quantization, for help text and errors.
std::vector<std::string> SchemeNames();

}  // namespace octet

#endif  // OCTET_QUANT_SCHEME_H_
