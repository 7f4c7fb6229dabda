#include "runtime/mixtral_builder.h"

#include <cstring>

#include "runtime/scratch_checkpoint.h"

namespace octet::testing {

nlohmann::json WriteMixtral(const Checkpoint& llama, const std::filesystem::path& out, int experts, int top_k,
                            const std::vector<float>& router) {
  TensorSet set;
  for (const TensorView& t : llama.tensors()) {
    const size_t mlp = t.name.find(".mlp.");
    if (mlp == std::string::npos) {
      set.Copy(t, t.name);
      continue;
    }
    const std::string layer = t.name.substr(0, mlp);
    const std::string kind = t.name.substr(mlp + 5);
    const std::string w = kind == "gate_proj.weight" ? "w1" : kind == "up_proj.weight" ? "w3" : "w2";
    for (int e = 0; e < experts; ++e) {
      const std::string name = layer + ".block_sparse_moe.experts." + std::to_string(e) + "." + w + ".weight";
      if (w == "w2" && e > 0) {
        std::vector<float> values(t.num_elements());
        std::memcpy(values.data(), t.bytes.data(), t.bytes.size());
        for (float& v : values) v *= 1.0f + static_cast<float>(e) / 4.0f;
        set.AddF32(name, t.shape, values);
      } else {
        set.Copy(t, name);
      }
    }
    if (w == "w1") {
      set.AddF32(layer + ".block_sparse_moe.gate.weight", {experts, t.shape[1]}, router);
    }
  }
  nlohmann::json config = llama.config();
  config["architectures"] = {"MixtralForCausalLM"};
  config["model_type"] = "mixtral";
  config["num_local_experts"] = experts;
  config["num_experts_per_tok"] = top_k;
  config["sliding_window"] = nullptr;
  set.Write(out, config);
  return config;
}

}  // namespace octet::testing
