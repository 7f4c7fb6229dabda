// What each supported architecture's checkpoint holds, by tensor name: which tensors are linear weights that a
// scheme may quantize, and which stay in higher precision (embeddings, norms, the output head, MoE routers).
// Architectures are keyed by config.json "architectures"[0], the Hugging Face model class. An architecture that
// is not here is refused with a message that lists those that are (MLC-LLM answers with a bare KeyError).
#ifndef OCTET_MODELS_ARCHITECTURE_H_
#define OCTET_MODELS_ARCHITECTURE_H_

#include <string>
#include <string_view>
#include <vector>

#include "io/tensor_view.h"
#include "models/model_config.h"

namespace octet {

enum class TensorRole {
  kLinear,      // a Linear weight [out, in] that quantization schemes quantize
  kEmbedding,   // token embeddings (kept; also the output head when embeddings are tied)
  kOutputHead,  // lm_head (kept by default, as vLLM, MLC and llm-compressor do)
  kRouter,      // MoE router (kept: tiny, and routing is sensitive to it)
  kNorm,        // RMSNorm weights (kept)
  kOther,       // biases, rotary inv_freq buffers, anything else: copied unchanged
};

std::string_view TensorRoleName(TensorRole role);

struct ExpectedTensor {
  std::string name;
  Shape shape;
  TensorRole role;
};

class Architecture {
 public:
  // The registered architecture for `config` (from config.json at `source`); throws naming the architecture and
  // listing the supported ones when it is unknown.
  static const Architecture& ForConfig(const nlohmann::json& config, const std::string& source);
  // Names of every supported architecture, for messages and the README.
  static std::vector<std::string> SupportedNames();

  const std::string& name() const { return name_; }
  bool is_moe() const { return moe_; }

  // Role of a tensor by its name.
  TensorRole Classify(std::string_view tensor_name) const;
  // Every tensor a checkpoint of this shape must contain, with its shape.
  std::vector<ExpectedTensor> ExpectedTensors(const ModelShape& shape) const;

  // Module prefix of a weight: "model.layers.0.mlp.up_proj.weight" -> "model.layers.0.mlp.up_proj".
  static std::string ModulePrefix(std::string_view tensor_name);

  // The key under which linears that read the same input are fused by vLLM (llama.py packed_modules_mapping,
  // fused_moe w13): "...self_attn.qkv_proj" for q/k/v, "...mlp.gate_up_proj" for gate/up,
  // "...experts.N.w13" for an expert's w1/w3; any other module is its own key.
  static std::string FusedModuleKey(const std::string& module);
  // The unit vLLM runs with one quantization scheme: the fused siblings above, and all experts of a Mixtral layer
  // ("model.layers.N.block_sparse_moe.experts", vLLM's fused MoE).
  static std::string SchemeGroupKey(const std::string& module);

 private:
  static const std::vector<Architecture>& Registry();
  Architecture(std::string name, bool moe) : name_(std::move(name)), moe_(moe) {}
  std::string name_;
  bool moe_;
};

}  // namespace octet

#endif  // OCTET_MODELS_ARCHITECTURE_H_
