#include "models/model_config.h"

#include "util/error.h"

namespace octet {
namespace {

// No real model has a dimension anywhere near 2^31; capping every size there keeps the product of any two in
// int64_t, so shape arithmetic on a hostile config cannot overflow.
constexpr int64_t kMaxDimension = int64_t{1} << 31;

int64_t RequirePositive(const nlohmann::json& config, const char* key, const std::string& source) {
  const auto it = config.find(key);
  if (it == config.end()) Fail("{}: missing \"{}\"", source, key);
  if (!it->is_number_integer() || it->get<int64_t>() <= 0 || it->get<int64_t>() > kMaxDimension) {
    Fail("{}: \"{}\" must be a positive integer no larger than 2^31, got {}", source, key, it->dump());
  }
  return it->get<int64_t>();
}

int64_t OptionalPositive(const nlohmann::json& config, const char* key, int64_t fallback,
                         const std::string& source) {
  const auto it = config.find(key);
  if (it == config.end() || it->is_null()) return fallback;
  return RequirePositive(config, key, source);
}

}  // namespace

std::string ArchitectureName(const nlohmann::json& config, const std::string& source) {
  const auto it = config.find("architectures");
  if (it == config.end() || !it->is_array() || it->empty() || !(*it)[0].is_string()) {
    Fail("{}: missing \"architectures\" (a list naming the model class, e.g. [\"LlamaForCausalLM\"])", source);
  }
  return (*it)[0].get<std::string>();
}

ModelShape ParseModelShape(const nlohmann::json& config, const std::string& source) {
  if (!config.is_object()) Fail("{}: expected a JSON object", source);
  ModelShape shape;
  shape.architecture = ArchitectureName(config, source);
  shape.hidden_size = RequirePositive(config, "hidden_size", source);
  shape.intermediate_size = RequirePositive(config, "intermediate_size", source);
  shape.num_layers = RequirePositive(config, "num_hidden_layers", source);
  shape.num_heads = RequirePositive(config, "num_attention_heads", source);
  shape.num_kv_heads = OptionalPositive(config, "num_key_value_heads", shape.num_heads, source);
  if (shape.num_heads % shape.num_kv_heads != 0) {
    Fail("{}: num_attention_heads ({}) is not a multiple of num_key_value_heads ({})", source, shape.num_heads,
         shape.num_kv_heads);
  }
  if (config.contains("head_dim") && !config["head_dim"].is_null()) {
    shape.head_dim = RequirePositive(config, "head_dim", source);
  } else {
    if (shape.hidden_size % shape.num_heads != 0) {
      Fail("{}: hidden_size ({}) is not a multiple of num_attention_heads ({}) and there is no head_dim", source,
           shape.hidden_size, shape.num_heads);
    }
    shape.head_dim = shape.hidden_size / shape.num_heads;
  }
  shape.vocab_size = RequirePositive(config, "vocab_size", source);
  if (const auto it = config.find("tie_word_embeddings"); it != config.end() && !it->is_null()) {
    if (!it->is_boolean()) Fail("{}: \"tie_word_embeddings\" must be true or false", source);
    shape.tie_word_embeddings = it->get<bool>();
  }
  if (config.contains("num_local_experts")) {
    shape.num_experts = RequirePositive(config, "num_local_experts", source);
    shape.num_experts_per_token = RequirePositive(config, "num_experts_per_tok", source);
    if (shape.num_experts_per_token > shape.num_experts) {
      Fail("{}: num_experts_per_tok ({}) exceeds num_local_experts ({})", source, shape.num_experts_per_token,
           shape.num_experts);
    }
  }
  return shape;
}

}  // namespace octet
