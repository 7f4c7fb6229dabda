// What the runtime needs from config.json to run a Llama, Mistral or Mixtral checkpoint: the shape (parsed by
// models/model_config.h) plus the numerics of the forward pass (norm epsilon, rotary embedding, attention window).
// Every option that would change the computed function and that the runtime does not implement is refused here,
// by name, instead of silently producing different logits (biases, other activations, other rope_scaling types).
#ifndef OCTET_RUNTIME_MODEL_CONFIG_H_
#define OCTET_RUNTIME_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "models/model_config.h"

namespace octet {

// Rotary embedding frequency scaling (transformers modeling_rope_utils.py).
struct RopeScaling {
  enum class Kind { kNone, kLlama3 };
  Kind kind = Kind::kNone;
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  ModelShape shape;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  // Mistral/Mixtral "sliding_window": a query at position i sees keys at positions j with i - j < window
  // (transformers masking_utils sliding_window_overlay). 0 = full causal attention.
  int64_t sliding_window = 0;

  bool is_moe() const { return shape.num_experts > 0; }
};

// The architectures the runtime can execute (config.json "architectures"[0]).
std::vector<std::string> RuntimeArchitectures();

// Parses and validates `config`; `source` (the config.json path) prefixes every error.
ModelConfig ParseModelConfig(const nlohmann::json& config, const std::string& source);

}  // namespace octet

#endif  // OCTET_RUNTIME_MODEL_CONFIG_H_
