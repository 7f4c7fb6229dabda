// The shape of a transformer as config.json describes it: what the converter needs to know which tensors must
// exist and how big they are, and what the runtime needs to run it. Parsing validates every field it uses, so a
// hand-edited config fails with the key's name instead of a wrong shape later.
#ifndef OCTET_MODELS_MODEL_CONFIG_H_
#define OCTET_MODELS_MODEL_CONFIG_H_

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace octet {

struct ModelShape {
  std::string architecture;  // config.json "architectures"[0], e.g. "LlamaForCausalLM"
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;  // "head_dim", or hidden_size / num_heads
  int64_t vocab_size = 0;
  bool tie_word_embeddings = false;
  int64_t num_experts = 0;          // Mixtral "num_local_experts"; 0 for dense models
  int64_t num_experts_per_token = 0;
};

// Reads the fields above from a parsed config.json. `source` names the file in error messages.
ModelShape ParseModelShape(const nlohmann::json& config, const std::string& source);

// config.json "architectures"[0]; throws naming `source` when absent or not a string.
std::string ArchitectureName(const nlohmann::json& config, const std::string& source);

}  // namespace octet

#endif  // OCTET_MODELS_MODEL_CONFIG_H_
