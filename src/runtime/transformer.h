// The forward pass of a Llama / Mistral / Mixtral decoder with Hugging Face transformers semantics
// (modeling_llama.py, modeling_mistral.py, modeling_mixtral.py):
//
//   x = embed[token]
//   per layer:  h = RMSNorm(x) ; q,k,v = h W_q, h W_k, h W_v ; rotary(q, k) ; a = softmax(q k^T / sqrt(d)) v
//               (causal, grouped-query: query head i reads KV head i / (heads / kv_heads), optional sliding
//               window) ; x += a W_o ; h = RMSNorm(x) ; x += MLP(h)
//   MLP:        down(silu(gate(h)) * up(h))
//   Mixtral:    p = softmax(router(h)) over all experts, keep the top k, divide them by their sum, and
//               x += sum_e p_e * expert_e(h), summed in expert index order as MixtralSparseMoeBlock does
//   logits = lm_head(RMSNorm(x))
//
// Everything outside the linears is F32 (ops/vector_ops.h). One Forward call runs any number
// of new tokens after those already in the KV cache: a whole sequence (prefill, MatMul: each weight row is read
// once for all tokens) or one token (decode, MatVec). Threads split rows of the products and (token, head) pairs
// of attention; every output element is computed by one thread in a fixed order, so results do not depend on
// the thread count.
#ifndef OCTET_RUNTIME_TRANSFORMER_H_
#define OCTET_RUNTIME_TRANSFORMER_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <memory>
#include <span>
#include <vector>

#include "io/checkpoint.h"
#include "runtime/kv_cache.h"
#include "runtime/linear_observer.h"
#include "runtime/model_config.h"
#include "runtime/model_weights.h"
#include "runtime/quant_params.h"
#include "runtime/rope.h"
#include "util/thread_pool.h"

namespace octet {

// Which positions' logits a Forward call returns.
enum class LogitsFor {
  kNone,  // none (calibration only needs the linear inputs)
  kLast,  // the last token's: [vocab]
  kAll,   // every token's: [tokens, vocab]
};

class Transformer {
 public:
  // Parses config.json and loads the weights; throws octet::Error naming the file/tensor on any problem.
  // `checkpoint` must outlive the Transformer (weights are read in place from its memory maps).
  explicit Transformer(const Checkpoint& checkpoint);

  const ModelConfig& config() const { return config_; }
  const CheckpointQuantParams& quant_params() const { return quant_params_; }
  const ModelWeights& weights() const { return weights_; }

  KvCache NewCache() const;

  // A copy of this model whose decoder layer `layer` is taken from `other` (same shape; both checkpoints must
  // outlive the result), for finding which layer's quantization causes the error (eval --per-layer).
  Transformer WithLayerFrom(const Transformer& other, int64_t layer) const;

  // A copy of this model whose linears named in `replacements` (by module) run those weights instead (same
  // shapes; what they point at must outlive the result), for measuring one module's quantization error.
  Transformer WithLinears(const std::map<std::string, Linear>& replacements) const;

  // Runs `tokens` at positions cache.length() ... and appends their keys and values to `cache`. Throws if a token
  // id is outside the vocabulary or the sequence would pass max_position_embeddings. `observer`, if given, sees
  // the input of every quantizable linear (runtime/linear_observer.h).
  std::vector<float> Forward(std::span<const int32_t> tokens, KvCache& cache, ThreadPool& pool,
                             LogitsFor logits = LogitsFor::kLast, LinearInputObserver* observer = nullptr) const;

  // The pieces of Forward, for calibration that quantizes layer by layer and feeds each quantized layer's output
  // to the next (calib/layerwise_quantizer.h):
  // x = embed[tokens] ([tokens, hidden]); throws on an id outside the vocabulary.
  std::vector<float> Embed(std::span<const int32_t> tokens) const;
  // One decoder layer with `weights` (this model's layer or a replacement of the same shape) on x ([tokens,
  // hidden], updated in place) at positions cache.length() ...; writes the new keys and values into cache layer
  // `cache_layer` without advancing the cache.
  void RunLayer(const LayerWeights& weights, float* x, int64_t tokens, KvCache& cache, int64_t cache_layer,
                ThreadPool& pool, LinearInputObserver* observer = nullptr) const;

 private:
  void Attention(int64_t layer, int64_t start, int64_t tokens, const float* q, const KvCache& cache, float* out,
                 ThreadPool& pool) const;
  void Mlp(const MlpWeights& mlp, const float* h, int64_t tokens, float* out, ThreadPool& pool,
           LinearInputObserver* observer) const;
  void Moe(const LayerWeights& layer, const float* h, int64_t tokens, float* out, ThreadPool& pool,
           LinearInputObserver* observer) const;

  ModelConfig config_;
  CheckpointQuantParams quant_params_;
  ModelWeights weights_;
  Rope rope_;
};

// A checkpoint opened together with its Transformer, for callers that own both (the CLI).
struct LoadedModel {
  std::unique_ptr<Checkpoint> checkpoint;
  std::unique_ptr<Transformer> transformer;
};
LoadedModel LoadModel(const std::filesystem::path& path);

}  // namespace octet

#endif  // OCTET_RUNTIME_TRANSFORMER_H_
