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

std::string_view QuantMethodName(QuantMethod method) {
  switch (method) {
    case QuantMethod::kRtn: return "rtn";
    case QuantMethod::kGptq: return "gptq";
    case QuantMethod::kAwq: return "awq";
  }
  return "rtn";
}

std::optional<QuantMethod> ParseQuantMethod(std::string_view name) {
  for (QuantMethod m : {QuantMethod::kRtn, QuantMethod::kGptq, QuantMethod::kAwq}) {
    if (QuantMethodName(m) == name) return m;
  }
  return std::nullopt;
}

std::vector<std::string> SchemeNames() {
  return {"fp8",   "fp8-e5m2", "e4m3_e4m3_f16", "e5m2_e5m2_f16", "int4",  "q4f16_1",
          "q4bf16_1", "q4f32_1", "q0f32",         "q0f16",         "q0bf16"};
}

namespace {

bool IsInt4Name(std::string_view name) {
  return name == "int4" || name == "q4f16_1" || name == "q4bf16_1" || name == "q4f32_1";
}

// INT4 presets: weight-only (W4A16), groups along the input dimension.
QuantScheme ResolveInt4Scheme(std::string_view name, const SchemeOverrides& overrides) {
  QuantScheme scheme;
  scheme.name = std::string(name);
  scheme.quantize_linears = true;
  scheme.weight_type = WeightType::kInt4;
  scheme.weight_scale = WeightScale::kNone;
  scheme.activations = ActivationScheme::kNone;
  if (name == "q4f16_1") scheme.kept_dtype = DType::kF16;
  if (name == "q4bf16_1") scheme.kept_dtype = DType::kBF16;
  if (name == "q4f32_1") scheme.kept_dtype = DType::kF32;
  if (!overrides.weight_scale.empty()) {
    Fail("--weight-scale applies to FP8 schemes; INT4 scales are per group (--group-size)");
  }
  if (!overrides.activations.empty() && overrides.activations != "none") {
    Fail("--quantization {} is weight-only (W4A16); --activations {} does not apply", name, overrides.activations);
  }
  if (overrides.group_size != 0) {
    if (name != "int4") {
      Fail("--quantization {} fixes groups of 32 (MLC-LLM's definition); use --quantization int4 --group-size {}",
           name, overrides.group_size);
    }
    if (overrides.group_size != 32 && overrides.group_size != 64 && overrides.group_size != 128) {
      Fail("--group-size {} is not supported; use 32, 64 or 128", overrides.group_size);
    }
    scheme.group_size = overrides.group_size;
  }
  if (overrides.zero_point) {
    if (name != "int4") Fail("--quantization {} is symmetric (MLC-LLM's definition); use --quantization int4 "
                             "--zero-point for asymmetric groups", name);
    scheme.symmetric = false;
  }
  if (!overrides.method.empty()) {
    const auto method = ParseQuantMethod(overrides.method);
    if (!method) Fail("unknown --method '{}'; use rtn, gptq or awq", overrides.method);
    scheme.method = *method;
  }
  return scheme;
}

}  // namespace

QuantScheme ResolveScheme(std::string_view name, const SchemeOverrides& overrides) {
  QuantScheme scheme;
  scheme.name = std::string(name);
  if (name == "q0f32" || name == "q0f16" || name == "q0bf16") {
    scheme.quantize_linears = false;
    scheme.weight_scale = WeightScale::kNone;
    scheme.activations = ActivationScheme::kNone;
    scheme.kept_dtype = name == "q0f32" ? DType::kF32 : name == "q0f16" ? DType::kF16 : DType::kBF16;
    if (!overrides.weight_scale.empty() || !overrides.activations.empty() || overrides.group_size != 0 ||
        overrides.zero_point || !overrides.method.empty()) {
      Fail("--quantization {} does not quantize, so --weight-scale, --activations, --group-size, --zero-point "
           "and --method do not apply", name);
    }
    return scheme;
  }
  if (IsInt4Name(name)) return ResolveInt4Scheme(name, overrides);
  if (overrides.group_size != 0 || overrides.zero_point) {
    Fail("--group-size and --zero-point apply to INT4 schemes (int4, q4f16_1, ...), not {}", name);
  }
  if (!overrides.method.empty() && overrides.method != "rtn") {
    Fail("--method {} applies to INT4 schemes; FP8 weights are rounded to nearest", overrides.method);
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
