#include "runtime/model_weights.h"

#include <fmt/format.h>

#include "runtime/tensor_decode.h"
#include "util/error.h"

namespace octet {
namespace {

std::vector<float> LoadNorm(const Checkpoint& checkpoint, const std::string& name, int64_t hidden) {
  const TensorView& view = checkpoint.Get(name);
  ExpectShape(view, {hidden});
  return DecodeTensorF32(view);
}

}  // namespace

ModelWeights LoadModelWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                              const CheckpointQuantParams& params) {
  const ModelShape& s = config.shape;
  const int64_t hidden = s.hidden_size;
  const int64_t q_dim = s.num_heads * s.head_dim;
  const int64_t kv_dim = s.num_kv_heads * s.head_dim;
  const int64_t inter = s.intermediate_size;

  ModelWeights weights;
  weights.embedding = checkpoint.Get("model.embed_tokens.weight");
  ExpectShape(weights.embedding, {s.vocab_size, hidden});
  if (weights.embedding.dtype != DType::kF32 && weights.embedding.dtype != DType::kF16 &&
      weights.embedding.dtype != DType::kBF16) {
    Fail("{}: tensor '{}' is {}; the runtime reads embeddings as F32, F16 or BF16", weights.embedding.file,
         weights.embedding.name, DTypeName(weights.embedding.dtype));
  }

  const auto load_mlp = [&](const std::string& prefix, const char* gate, const char* up, const char* down) {
    return MlpWeights{Linear::Load(checkpoint, prefix + gate, inter, hidden, params),
                      Linear::Load(checkpoint, prefix + up, inter, hidden, params),
                      Linear::Load(checkpoint, prefix + down, hidden, inter, params)};
  };
  for (int64_t i = 0; i < s.num_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerWeights layer;
    layer.input_norm = LoadNorm(checkpoint, p + "input_layernorm.weight", hidden);
    layer.post_attention_norm = LoadNorm(checkpoint, p + "post_attention_layernorm.weight", hidden);
    layer.q = Linear::Load(checkpoint, p + "self_attn.q_proj", q_dim, hidden, params);
    layer.k = Linear::Load(checkpoint, p + "self_attn.k_proj", kv_dim, hidden, params);
    layer.v = Linear::Load(checkpoint, p + "self_attn.v_proj", kv_dim, hidden, params);
    layer.o = Linear::Load(checkpoint, p + "self_attn.o_proj", hidden, q_dim, params);
    if (config.is_moe()) {
      layer.router = Linear::Load(checkpoint, p + "block_sparse_moe.gate", s.num_experts, hidden, params);
      for (int64_t e = 0; e < s.num_experts; ++e) {
        layer.experts.push_back(
            load_mlp(fmt::format("{}block_sparse_moe.experts.{}.", p, e), "w1", "w3", "w2"));
      }
    } else {
      layer.mlp = load_mlp(p + "mlp.", "gate_proj", "up_proj", "down_proj");
    }
    weights.layers.push_back(std::move(layer));
  }
  weights.final_norm = LoadNorm(checkpoint, "model.norm.weight", hidden);
  weights.lm_head = s.tie_word_embeddings ? Linear::FromTensor(weights.embedding, "lm_head")
                                          : Linear::Load(checkpoint, "lm_head", s.vocab_size, hidden, params);
  return weights;
}

}  // namespace octet
