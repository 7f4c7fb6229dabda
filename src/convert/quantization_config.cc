#include "convert/quantization_config.h"

#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

namespace octet {
namespace {

using Json = nlohmann::ordered_json;

Json FloatQuantArgs(std::string_view strategy, bool dynamic, const Json& block_structure) {
  return Json{{"num_bits", 8},
              {"type", "float"},
              {"symmetric", true},
              {"group_size", nullptr},
              {"strategy", strategy},
              {"block_structure", block_structure},
              {"dynamic", dynamic},
              {"actorder", nullptr},
              {"observer", dynamic ? Json(nullptr) : Json("minmax")},
              {"observer_kwargs", Json::object()}};
}

Json CompressedTensorsConfig(const ConversionPlan& plan) {
  const QuantScheme& s = plan.scheme;
  const Json block = s.weight_scale == WeightScale::kBlock ? Json::array({s.block_size, s.block_size})
                                                           : Json(nullptr);
  Json input = nullptr;
  if (s.activations == ActivationScheme::kDynamic) {
    // Per-token dynamic (FP8_DYNAMIC); with block weights, per 128-channel group as FP8_BLOCK does.
    input = s.weight_scale == WeightScale::kBlock ? FloatQuantArgs("group", true, nullptr)
                                                  : FloatQuantArgs("token", true, nullptr);
    if (s.weight_scale == WeightScale::kBlock) input["group_size"] = s.block_size;
  } else if (s.activations == ActivationScheme::kStatic) {
    input = FloatQuantArgs("tensor", false, nullptr);
  }
  Json group = {{"targets", Json::array({"Linear"})},
                {"weights", FloatQuantArgs(WeightScaleName(s.weight_scale), false, block)},
                {"input_activations", input},
                {"output_activations", nullptr},
                {"format", "float-quantized"}};
  return Json{{"quant_method", "compressed-tensors"},
              {"format", "float-quantized"},
              {"quantization_status", "compressed"},
              {"config_groups", Json{{"group_0", group}}},
              {"ignore", plan.ignored_modules},
              {"kv_cache_scheme", nullptr},
              {"global_compression_ratio", nullptr}};
}

Json Int4WeightArgs(const QuantScheme& s, int group_size) {
  return Json{{"num_bits", 4},
              {"type", "int"},
              {"symmetric", s.symmetric},
              {"group_size", group_size},
              {"strategy", "group"},
              {"block_structure", nullptr},
              {"dynamic", false},
              {"actorder", s.method == QuantMethod::kGptq ? Json("weight") : Json(nullptr)},
              {"observer", "minmax"},
              {"observer_kwargs", Json::object()}};
}

Json ConfigGroup(const Json& targets, const Json& weights, std::string_view format) {
  return Json{{"targets", targets},
              {"weights", weights},
              {"input_activations", nullptr},
              {"output_activations", nullptr},
              {"format", format}};
}

// W4A16 as llm-compressor's W4A16 / W4A16_ASYM presets save it (FORMATS.md b.1-b.3, b.5). GPTQ with activation
// order computes its group scales in the original column order before reordering (static groups), which
// compressed-tensors calls actorder "weight": the checkpoint needs no g_idx.
//
// Mixed precision (--keep, --auto-mix): one config group per INT4 group size and one for FP8 (E4M3, channel
// scales, weight-only: float-quantized), each targeting its modules by full name, and the global format
// "mixed-precision" when the groups' formats differ, so each group carries its own "format" (compressed-tensors
// CompressionFormat.mixed_precision). Modules kept in BF16/F16/F32 are in "ignore".
Json PackQuantizedConfig(const ConversionPlan& plan) {
  const QuantScheme& s = plan.scheme;
  std::map<int, std::vector<std::string>> int4_modules;  // group size -> modules
  std::vector<std::string> fp8_modules;
  for (const PlannedTensor& planned : plan.tensors) {
    if (planned.action != TensorAction::kQuantize) continue;
    if (planned.shape_index) {
      int4_modules[planned.group_size].push_back(planned.module);
    } else {
      fp8_modules.push_back(planned.module);
    }
  }
  Json groups = Json::object();
  const bool uniform = int4_modules.size() <= 1 && fp8_modules.empty();
  for (const auto& [group_size, modules] : int4_modules) {
    groups[fmt::format("group_{}", groups.size())] =
        ConfigGroup(uniform ? Json::array({"Linear"}) : Json(modules), Int4WeightArgs(s, group_size), "pack-quantized");
  }
  if (!fp8_modules.empty()) {
    groups[fmt::format("group_{}", groups.size())] =
        ConfigGroup(Json(fp8_modules), FloatQuantArgs("channel", false, nullptr), "float-quantized");
  }
  return Json{{"quant_method", "compressed-tensors"},
              {"format", fp8_modules.empty() ? "pack-quantized" : "mixed-precision"},
              {"quantization_status", "compressed"},
              {"config_groups", groups},
              {"ignore", plan.ignored_modules},
              {"kv_cache_scheme", nullptr},
              {"global_compression_ratio", nullptr}};
}

}  // namespace

nlohmann::ordered_json BuildQuantizationConfig(const ConversionPlan& plan) {
  const QuantScheme& s = plan.scheme;
  switch (plan.format) {
    case OutputFormat::kPlain:
      return nullptr;
    case OutputFormat::kVllmFp8: {
      Json config = {{"quant_method", "fp8"},
                     {"activation_scheme", ActivationSchemeName(s.activations)},
                     {"ignored_layers", plan.ignored_modules}};
      if (s.weight_scale == WeightScale::kBlock) config["weight_block_size"] = {s.block_size, s.block_size};
      return config;
    }
    case OutputFormat::kCompressedTensors:
      return CompressedTensorsConfig(plan);
    case OutputFormat::kPackQuantized:
      return PackQuantizedConfig(plan);
    case OutputFormat::kOctetFp8: {
      // Deliberately not "fp8": vLLM and transformers would load E5M2 bytes as E4M3 and compute garbage; an
      // unknown quant_method makes them refuse instead. octet's runtime reads it.
      Json config = {{"quant_method", "octet"},
                     {"weight_format", "e5m2"},
                     {"weight_scale", WeightScaleName(s.weight_scale)},
                     {"activation_scheme", ActivationSchemeName(s.activations)},
                     {"ignored_layers", plan.ignored_modules}};
      if (s.weight_scale == WeightScale::kBlock) config["weight_block_size"] = {s.block_size, s.block_size};
      return config;
    }
  }
  return nullptr;
}

nlohmann::ordered_json BuildOutputConfig(const nlohmann::ordered_json& input_config, const ConversionPlan& plan) {
  Json config = input_config;
  config.erase("quantization_config");
  if (plan.scheme.kept_dtype) {
    switch (*plan.scheme.kept_dtype) {
      case DType::kF32: config["torch_dtype"] = "float32"; break;
      case DType::kF16: config["torch_dtype"] = "float16"; break;
      case DType::kBF16: config["torch_dtype"] = "bfloat16"; break;
      default: break;
    }
  }
  if (plan.format != OutputFormat::kPlain) config["quantization_config"] = BuildQuantizationConfig(plan);
  return config;
}

}  // namespace octet
