// The tensors of a Llama / Mistral / Mixtral checkpoint, by role, as the forward pass uses them. Linear weights
// stay in their storage type inside the checkpoint's memory map (runtime/linear.h); norm weights are decoded to
// F32 (they are tiny). The embedding table stays in its storage type too (F32/F16/BF16): rows are decoded as
// tokens are looked up, and a tied output head multiplies with it directly.
#ifndef OCTET_RUNTIME_MODEL_WEIGHTS_H_
#define OCTET_RUNTIME_MODEL_WEIGHTS_H_

#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/linear.h"
#include "runtime/model_config.h"
#include "runtime/quant_params.h"

namespace octet {

struct MlpWeights {
  Linear gate;  // Mixtral w1
  Linear up;    // Mixtral w3
  Linear down;  // Mixtral w2
};

struct LayerWeights {
  std::vector<float> input_norm;
  std::vector<float> post_attention_norm;
  Linear q, k, v, o;
  MlpWeights mlp;                   // dense models
  Linear router;                    // Mixtral block_sparse_moe.gate [num_experts, hidden]
  std::vector<MlpWeights> experts;  // Mixtral
};

struct ModelWeights {
  TensorView embedding;  // [vocab, hidden]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;
  Linear lm_head;  // the embedding itself when embeddings are tied
};

// Loads every tensor the forward pass needs and checks its shape; throws naming the tensor and file. The
// checkpoint must outlive the result (weights point into its memory map).
ModelWeights LoadModelWeights(const Checkpoint& checkpoint, const ModelConfig& config,
                              const CheckpointQuantParams& params);

}  // namespace octet

#endif  // OCTET_RUNTIME_MODEL_WEIGHTS_H_
