#include "quant/scheme.h"

#include <fmt/format.h>

#include "util/error.h"

namespace octet {

std::string_view WeightScaleName(WeightScale scale) {
  switch (scale) {
    case WeightScale::kNone: return "none";
    case WeightScale::kTensor: return "tensor";
    case WeightScale::kChannel: return "channel";
    case WeightScale::kBlock: return "block";
  }
  return "none";
}

std::string_view ActivationSchemeName(ActivationScheme scheme) {
  switch (scheme) {
    case ActivationScheme::kNone: return "none";
    case ActivationScheme::kDynamic: return "dynamic";
    case ActivationScheme::kStatic: return "static";
  }
  return "none";
}

std::optional<WeightScale> ParseWeightScale(std::string_view name) {
  for (WeightScale s : {WeightScale::kTensor, WeightScale::kChannel, WeightScale::kBlock}) {
    if (WeightScaleName(s) == name) return s;
  }
  return std::nullopt;
}

std::optional<ActivationScheme> ParseActivationScheme(std::string_view name) {
  for (ActivationScheme s : {ActivationScheme::kNone, ActivationScheme::kDynamic, ActivationScheme::kStatic}) {
    if (ActivationSchemeName(s) == name) return s;
  }
  return std::nullopt;
}

std::vector<std::string> SchemeNames() {
  return {"fp8", "fp8-e5m2", "e4m3_e4m3_f16", "e5m2_e5m2_f16", "q0f32", "q0f16", "q0bf16"};
}

QuantScheme ResolveScheme(std::string_view name, const SchemeOverrides& overrides) {
  QuantScheme scheme;
  scheme.name = std::string(name);
  if (name == "q0f32" || name == "q0f16" || name == "q0bf16") {
    scheme.quantize_linears = false;
    scheme.weight_scale = WeightScale::kNone;
    scheme.activations = ActivationScheme::kNone;
    scheme.kept_dtype = name == "q0f32" ? DType::kF32 : name == "q0f16" ? DType::kF16 : DType::kBF16;
    if (!overrides.weight_scale.empty() || !overrides.activations.empty()) {
      Fail("--quantization {} does not quantize, so --weight-scale and --activations do not apply", name);
    }
    return scheme;
  }
  scheme.quantize_linears = true;
  if (name == "fp8") {
    scheme.weight_format = Fp8Format::kE4M3;
  } else if (name == "fp8-e5m2") {
    scheme.weight_format = Fp8Format::kE5M2;
  } else if (name == "e4m3_e4m3_f16") {
    scheme.weight_format = Fp8Format::kE4M3;
    scheme.activations = ActivationScheme::kStatic;
    scheme.kept_dtype = DType::kF16;
  } else if (name == "e5m2_e5m2_f16") {
    // MLC casts E5M2 weights with no scale (use_scale=False); its activations are cast to E5M2 the same way,
    // which no serving engine reproduces, so octet writes the weights that way and leaves activations alone.
    scheme.weight_format = Fp8Format::kE5M2;
    scheme.weight_scale = WeightScale::kNone;
    scheme.activations = ActivationScheme::kNone;
    scheme.kept_dtype = DType::kF16;
  } else {
    Fail("unknown quantization scheme '{}'; octet knows {}", name, fmt::join(SchemeNames(), ", "));
  }
  if (!overrides.weight_scale.empty()) {
    if (scheme.weight_scale == WeightScale::kNone) {
      Fail("--quantization {} casts weights without a scale; --weight-scale does not apply", name);
    }
    const auto parsed = ParseWeightScale(overrides.weight_scale);
    if (!parsed) Fail("unknown --weight-scale '{}'; use tensor, channel or block", overrides.weight_scale);
    scheme.weight_scale = *parsed;
  }
  if (!overrides.activations.empty()) {
    const auto parsed = ParseActivationScheme(overrides.activations);
    if (!parsed) Fail("unknown --activations '{}'; use dynamic, static or none", overrides.activations);
    scheme.activations = *parsed;
  }
  if (scheme.weight_scale == WeightScale::kBlock && scheme.activations == ActivationScheme::kStatic) {
    // vLLM Fp8Config: weight_block_size is only allowed with activation_scheme "dynamic".
    Fail("block weight scales go with dynamic activations (vLLM rejects weight_block_size with static "
         "activation scales); use --activations dynamic or none");
  }
  if (scheme.weight_format == Fp8Format::kE5M2 && scheme.activations != ActivationScheme::kNone) {
    // No engine has an E5M2-activation path that matches MLC's unscaled cast; keep it honest.
    if (!overrides.activations.empty()) {
      Fail("E5M2 weights are written weight-only (no engine runs E5M2 activations); use --activations none");
    }
    scheme.activations = ActivationScheme::kNone;
  }
  return scheme;
}

}  // namespace octet
