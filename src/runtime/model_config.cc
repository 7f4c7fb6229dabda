#include "runtime/model_config.h"

#include <algorithm>

#include <fmt/ranges.h>

#include "util/error.h"

namespace octet {
namespace {

double NumberOr(const nlohmann::json& object, const char* key, double fallback, const std::string& source) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  if (!it->is_number()) Fail("{}: \"{}\" must be a number, got {}", source, key, it->dump());
  return it->get<double>();
}

double RequireNumber(const nlohmann::json& object, const char* key, const std::string& source) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) Fail("{}: rope_scaling needs a numeric \"{}\"", source, key);
  return it->get<double>();
}

// Refuses a boolean option that would add terms the runtime does not compute (e.g. attention_bias: true).
void RefuseTrue(const nlohmann::json& config, const char* key, const std::string& source) {
  const auto it = config.find(key);
  if (it != config.end() && it->is_boolean() && it->get<bool>()) {
    Fail("{}: \"{}\": true is not supported by the runtime", source, key);
  }
}

RopeScaling ParseRopeScaling(const nlohmann::json& scaling, const std::string& source) {
  RopeScaling result;
  if (scaling.is_null()) return result;
  if (!scaling.is_object()) Fail("{}: \"rope_scaling\" must be an object or null", source);
  std::string type = "default";
  if (const auto it = scaling.find("rope_type"); it != scaling.end() && it->is_string()) {
    type = it->get<std::string>();
  } else if (const auto it2 = scaling.find("type"); it2 != scaling.end() && it2->is_string()) {
    type = it2->get<std::string>();
  }
  if (type == "default") return result;
  if (type != "llama3") {
    Fail("{}: rope_scaling type \"{}\" is not supported (supported: default, llama3)", source, type);
  }
  result.kind = RopeScaling::Kind::kLlama3;
  result.factor = RequireNumber(scaling, "factor", source);
  result.low_freq_factor = RequireNumber(scaling, "low_freq_factor", source);
  result.high_freq_factor = RequireNumber(scaling, "high_freq_factor", source);
  // Range-checked before the cast: converting an out-of-range double to int64_t is undefined.
  const double original_max = RequireNumber(scaling, "original_max_position_embeddings", source);
  if (!(original_max > 0 && original_max <= 1e15)) {
    Fail("{}: rope_scaling original_max_position_embeddings must be a positive integer, got {}", source,
         original_max);
  }
  result.original_max_position_embeddings = static_cast<int64_t>(original_max);
  if (result.factor <= 0 || result.low_freq_factor <= 0 || result.high_freq_factor <= result.low_freq_factor ||
      result.original_max_position_embeddings <= 0) {
    Fail("{}: rope_scaling llama3 needs factor > 0, 0 < low_freq_factor < high_freq_factor and "
         "original_max_position_embeddings > 0",
         source);
  }
  return result;
}

}  // namespace

std::vector<std::string> RuntimeArchitectures() {
  return {"LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"};
}

ModelConfig ParseModelConfig(const nlohmann::json& config, const std::string& source) {
  if (!config.is_object() || config.empty()) Fail("{}: missing or empty config.json", source);
  const std::string architecture = ArchitectureName(config, source);
  const std::vector<std::string> supported = RuntimeArchitectures();
  if (std::find(supported.begin(), supported.end(), architecture) == supported.end()) {
    Fail("{}: architecture \"{}\" is not supported by the runtime (supported: {})", source, architecture,
         fmt::join(supported, ", "));
  }
  ModelConfig result;
  result.shape = ParseModelShape(config, source);
  const bool mixtral = architecture == "MixtralForCausalLM";
  if (mixtral && result.shape.num_experts == 0) Fail("{}: MixtralForCausalLM needs \"num_local_experts\"", source);
  if (!mixtral) result.shape.num_experts = result.shape.num_experts_per_token = 0;  // dense: keys are ignored

  for (const char* key : {"hidden_act", "hidden_activation"}) {
    const auto it = config.find(key);
    if (it != config.end() && !it->is_null() && *it != "silu") {
      Fail("{}: \"{}\": {} is not supported (the runtime computes SwiGLU with silu)", source, key, it->dump());
    }
  }
  RefuseTrue(config, "attention_bias", source);
  RefuseTrue(config, "mlp_bias", source);

  const auto max_pos = config.find("max_position_embeddings");
  if (max_pos == config.end() || !max_pos->is_number_integer() || max_pos->get<int64_t>() <= 0) {
    Fail("{}: \"max_position_embeddings\" must be a positive integer", source);
  }
  result.max_position_embeddings = max_pos->get<int64_t>();
  result.rms_norm_eps = NumberOr(config, "rms_norm_eps", 1e-6, source);
  if (!(result.rms_norm_eps > 0)) Fail("{}: \"rms_norm_eps\" must be positive", source);

  // transformers >= 5 moves rope_theta and the scaling into "rope_parameters"; older configs have them flat.
  if (const auto it = config.find("rope_parameters"); it != config.end() && it->is_object()) {
    result.rope_theta = NumberOr(*it, "rope_theta", NumberOr(config, "rope_theta", 10000.0, source), source);
    result.rope_scaling = ParseRopeScaling(*it, source);
  } else {
    result.rope_theta = NumberOr(config, "rope_theta", 10000.0, source);
    if (const auto scaling = config.find("rope_scaling"); scaling != config.end()) {
      result.rope_scaling = ParseRopeScaling(*scaling, source);
    }
  }
  if (!(result.rope_theta > 0)) Fail("{}: \"rope_theta\" must be positive", source);
  if (result.shape.head_dim % 2 != 0) Fail("{}: head_dim {} must be even for rotary embeddings", source,
                                           result.shape.head_dim);

  // LlamaForCausalLM has no sliding window (the key, if present, is ignored by transformers too).
  if (architecture != "LlamaForCausalLM") {
    if (const auto it = config.find("sliding_window"); it != config.end() && !it->is_null()) {
      if (!it->is_number_integer() || it->get<int64_t>() <= 0) {
        Fail("{}: \"sliding_window\" must be a positive integer or null", source);
      }
      result.sliding_window = it->get<int64_t>();
    }
  }
  return result;
}

}  // namespace octet
