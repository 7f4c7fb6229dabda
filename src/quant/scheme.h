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
//   q4f16_1, q4bf16_1,     INT4 weights, symmetric groups of 32 along the input dimension (MLC's group-quant
//   q4f32_1                names), kept tensors in F16 / BF16 / F32; written as compressed-tensors W4A16
//                          pack-quantized, which vLLM loads
//   int4                   INT4 weights, groups of --group-size (32 default; 64, 128), symmetric unless
//                          --zero-point, kept tensors in their original dtype
// INT4 schemes are weight-only and take --method rtn|gptq|awq (rtn by default; gptq and awq need calibration).
#ifndef OCTET_QUANT_SCHEME_H_
#define OCTET_QUANT_SCHEME_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "numeric/dtype.h"
#include "numeric/fp8.h"
#include "quant/int4_group.h"

namespace octet {

enum class WeightScale {
  kNone,     // direct cast (e5m2_e5m2_f16)
  kTensor,   // one scale per tensor: absmax / max_finite
  kChannel,  // one scale per output row
  kBlock,    // one scale per 128x128 block (DeepSeek-V3 style, vLLM `weight_block_size`)
};

// What a quantized linear's weight becomes.
enum class WeightType {
  kFp8,   // FP8 E4M3 / E5M2 (weight_format), scales per weight_scale
  kInt4,  // INT4 groups of group_size along the input dimension
};

// How INT4 codes are chosen (quant/int4_group.h, quant/gptq.h, quant/awq.h).
enum class QuantMethod {
  kRtn,   // round to nearest with absmax (or min/max) scales
  kGptq,  // second-order error compensation from calibration inputs (Frantar et al. 2022)
  kAwq,   // activation-aware per-channel scaling searched on calibration inputs (Lin et al. 2023)
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
std::string_view QuantMethodName(QuantMethod method);
std::optional<QuantMethod> ParseQuantMethod(std::string_view name);

struct QuantScheme {
  std::string name;                       // as the user spelled it
  bool quantize_linears = false;          // false for the q0* dtype-only schemes
  WeightType weight_type = WeightType::kFp8;
  Fp8Format weight_format = Fp8Format::kE4M3;
  WeightScale weight_scale = WeightScale::kTensor;
  ActivationScheme activations = ActivationScheme::kDynamic;
  int block_size = 128;                   // block edge for WeightScale::kBlock
  std::optional<DType> kept_dtype;        // dtype of tensors not quantized; nullopt keeps each tensor's own
  // INT4 only.
  int group_size = 32;                    // input channels per scale; the last group of a row may be shorter
  bool symmetric = true;                  // false: a zero point per group (--zero-point)
  QuantMethod method = QuantMethod::kRtn;
  // The grid INT4 codes lie on: compressed-tensors' for octet's INT4 schemes; ggml's for GGUF Q4_0 output
  // (convert/gguf_export.h), so that calibration searches (AWQ) measure the rounding that will be stored.
  Int4Grid int4_grid = Int4Grid::kCompressedTensors;

  bool needs_calibration() const {
    return activations == ActivationScheme::kStatic || method != QuantMethod::kRtn;
  }
};

// Overrides from --weight-scale / --activations; empty strings leave the preset's choice.
struct SchemeOverrides {
  std::string weight_scale;
  std::string activations;
  int group_size = 0;       // --group-size; 0 keeps the preset's
  bool zero_point = false;  // --zero-point
  std::string method;       // --method
};

// Resolves a scheme name and overrides; throws octet::Error listing the valid names on anything unknown or
// impossible (e.g. block scales with static activations, which vLLM rejects).
QuantScheme ResolveScheme(std::string_view name, const SchemeOverrides& overrides = {});

// Names accepted by --quantization, for help text and errors.
std::vector<std::string> SchemeNames();

}  // namespace octet

#endif  // OCTET_QUANT_SCHEME_H_
