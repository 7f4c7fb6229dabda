#include "runtime/transformer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "ops/vector_ops.h"
#include "runtime/tensor_decode.h"
#include "util/error.h"

namespace octet {
namespace {

// RMSNorm of `rows` rows of `dim` values (transformers LlamaRMSNorm, in F32).
void RmsNormRows(const float* x, const std::vector<float>& weight, double eps, int64_t rows, int64_t dim,
                 float* out) {
  for (int64_t r = 0; r < rows; ++r) {
    RmsNorm(x + r * dim, weight.data(), static_cast<size_t>(dim), static_cast<float>(eps), out + r * dim);
  }
}

void Observe(LinearInputObserver* observer, const Linear& linear, const float* x, int64_t tokens) {
  if (observer != nullptr && tokens > 0) {
    observer->Observe(linear.module(), x, static_cast<size_t>(tokens), static_cast<size_t>(linear.cols()));
  }
}

}  // namespace

Transformer::Transformer(const Checkpoint& checkpoint)
    : config_(ParseModelConfig(checkpoint.config(), (checkpoint.dir() / "config.json").string())),
      quant_params_(ParseCheckpointQuantParams(checkpoint.config(), (checkpoint.dir() / "config.json").string())),
      weights_(LoadModelWeights(checkpoint, config_, quant_params_)),
      rope_(config_) {}

Transformer Transformer::WithLayerFrom(const Transformer& other, int64_t layer) const {
  const ModelShape& a = config_.shape;
  const ModelShape& b = other.config_.shape;
  if (a.hidden_size != b.hidden_size || a.intermediate_size != b.intermediate_size || a.num_layers != b.num_layers ||
      a.num_heads != b.num_heads || a.num_kv_heads != b.num_kv_heads || a.head_dim != b.head_dim ||
      a.num_experts != b.num_experts) {
    Fail("the two models have different shapes, so their layers cannot be exchanged");
  }
  if (layer < 0 || layer >= a.num_layers) Fail("layer {} does not exist (the model has {})", layer, a.num_layers);
  Transformer hybrid(*this);
  hybrid.weights_.layers[layer] = other.weights_.layers[layer];
  return hybrid;
}

Transformer Transformer::WithLinears(const std::map<std::string, Linear>& replacements) const {
  Transformer copy(*this);
  size_t replaced = 0;
  const auto replace = [&](Linear& linear) {
    const auto it = replacements.find(linear.module());
    if (it == replacements.end()) return;
    if (it->second.rows() != linear.rows() || it->second.cols() != linear.cols()) {
      Fail("replacement for '{}' is {}x{}, not {}x{}", linear.module(), it->second.rows(), it->second.cols(),
           linear.rows(), linear.cols());
    }
    linear = it->second;
    ++replaced;
  };
  for (LayerWeights& layer : copy.weights_.layers) {
    for (Linear* linear : {&layer.q, &layer.k, &layer.v, &layer.o, &layer.mlp.gate, &layer.mlp.up, &layer.mlp.down}) {
      replace(*linear);
    }
    for (MlpWeights& expert : layer.experts) {
      for (Linear* linear : {&expert.gate, &expert.up, &expert.down}) replace(*linear);
    }
  }
  if (replaced != replacements.size()) Fail("{} replacement linears name no module of the model", replacements.size() - replaced);
  return copy;
}

KvCache Transformer::NewCache() const {
  return KvCache(config_.shape.num_layers, config_.shape.num_kv_heads * config_.shape.head_dim);
}

std::vector<float> Transformer::Embed(std::span<const int32_t> tokens) const {
  const ModelShape& s = config_.shape;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t dim = s.hidden_size;
  std::vector<float> x(static_cast<size_t>(n * dim));
  for (int64_t t = 0; t < n; ++t) {
    const int32_t id = tokens[t];
    if (id < 0 || id >= s.vocab_size) Fail("token id {} is outside the vocabulary [0, {})", id, s.vocab_size);
    DecodeElementsF32(weights_.embedding, static_cast<size_t>(id) * dim, dim, x.data() + t * dim);
  }
  return x;
}

void Transformer::RunLayer(const LayerWeights& layer, float* x, int64_t n, KvCache& cache, int64_t l,
                           ThreadPool& pool, LinearInputObserver* observer) const {
  const ModelShape& s = config_.shape;
  const int64_t start = cache.length();
  const int64_t dim = s.hidden_size;
  const int64_t q_dim = s.num_heads * s.head_dim;
  const int64_t kv_dim = s.num_kv_heads * s.head_dim;
  const size_t x_size = static_cast<size_t>(n * dim);
  std::vector<float> h(x_size), delta(x_size);
  std::vector<float> q(static_cast<size_t>(n * q_dim)), attn(q.size());
  std::vector<float> k(static_cast<size_t>(n * kv_dim)), v(k.size());
  RmsNormRows(x, layer.input_norm, config_.rms_norm_eps, n, dim, h.data());
  for (const Linear* proj : {&layer.q, &layer.k, &layer.v}) Observe(observer, *proj, h.data(), n);
  layer.q.Apply(h.data(), n, q.data(), pool);
  layer.k.Apply(h.data(), n, k.data(), pool);
  layer.v.Apply(h.data(), n, v.data(), pool);
  for (int64_t t = 0; t < n; ++t) {
    rope_.Apply(start + t, q.data() + t * q_dim, s.num_heads);
    rope_.Apply(start + t, k.data() + t * kv_dim, s.num_kv_heads);
    std::copy_n(k.data() + t * kv_dim, kv_dim, cache.key(l, start + t));
    std::copy_n(v.data() + t * kv_dim, kv_dim, cache.value(l, start + t));
  }
  Attention(l, start, n, q.data(), cache, attn.data(), pool);
  Observe(observer, layer.o, attn.data(), n);
  layer.o.Apply(attn.data(), n, delta.data(), pool);
  AddInPlace(x, delta.data(), x_size);

  RmsNormRows(x, layer.post_attention_norm, config_.rms_norm_eps, n, dim, h.data());
  if (config_.is_moe()) {
    Moe(layer, h.data(), n, delta.data(), pool, observer);
  } else {
    Mlp(layer.mlp, h.data(), n, delta.data(), pool, observer);
  }
  AddInPlace(x, delta.data(), x_size);
}

std::vector<float> Transformer::Forward(std::span<const int32_t> tokens, KvCache& cache, ThreadPool& pool,
                                        LogitsFor logits, LinearInputObserver* observer) const {
  const ModelShape& s = config_.shape;
  const int64_t n = static_cast<int64_t>(tokens.size());
  const int64_t start = cache.length();
  if (n == 0) return {};
  if (start + n > config_.max_position_embeddings) {
    Fail("{} positions exceed the model's max_position_embeddings ({})", start + n,
         config_.max_position_embeddings);
  }
  const int64_t dim = s.hidden_size;
  std::vector<float> x = Embed(tokens);
  cache.Reserve(n);
  for (int64_t l = 0; l < s.num_layers; ++l) {
    RunLayer(weights_.layers[l], x.data(), n, cache, l, pool, observer);
  }
  cache.Advance(n);

  if (logits == LogitsFor::kNone) return {};
  const int64_t first = logits == LogitsFor::kAll ? 0 : n - 1;
  const int64_t rows = n - first;
  std::vector<float> h(static_cast<size_t>(rows * dim));
  RmsNormRows(x.data() + first * dim, weights_.final_norm, config_.rms_norm_eps, rows, dim, h.data());
  std::vector<float> out(static_cast<size_t>(rows * s.vocab_size));
  weights_.lm_head.Apply(h.data(), rows, out.data(), pool);
  return out;
}

void Transformer::Attention(int64_t layer, int64_t start, int64_t tokens, const float* q, const KvCache& cache,
                            float* out, ThreadPool& pool) const {
  const ModelShape& s = config_.shape;
  const int64_t hd = s.head_dim;
  const int64_t group = s.num_heads / s.num_kv_heads;
  const float scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(hd)));
  const int64_t q_dim = s.num_heads * hd;
  pool.ParallelFor(static_cast<size_t>(tokens * s.num_heads), [&](size_t item) {
    const int64_t t = static_cast<int64_t>(item) / s.num_heads;
    const int64_t head = static_cast<int64_t>(item) % s.num_heads;
    const int64_t pos = start + t;
    const int64_t first = config_.sliding_window > 0 ? std::max<int64_t>(0, pos - config_.sliding_window + 1) : 0;
    const int64_t kv_offset = (head / group) * hd;
    const float* qh = q + t * q_dim + head * hd;
    std::vector<float> scores(static_cast<size_t>(pos + 1 - first));
    for (int64_t j = first; j <= pos; ++j) {
      scores[j - first] = Dot(qh, cache.key(layer, j) + kv_offset, static_cast<size_t>(hd)) * scale;
    }
    Softmax(scores.data(), scores.size());
    float* o = out + t * q_dim + head * hd;
    std::fill_n(o, hd, 0.0f);
    for (int64_t j = first; j <= pos; ++j) {
      MulAddInPlace(o, scores[j - first], cache.value(layer, j) + kv_offset, static_cast<size_t>(hd));
    }
  });
}

void Transformer::Mlp(const MlpWeights& mlp, const float* h, int64_t tokens, float* out, ThreadPool& pool,
                      LinearInputObserver* observer) const {
  const size_t inter = static_cast<size_t>(mlp.gate.rows());
  std::vector<float> gate(tokens * inter), up(tokens * inter);
  Observe(observer, mlp.gate, h, tokens);
  Observe(observer, mlp.up, h, tokens);
  mlp.gate.Apply(h, tokens, gate.data(), pool);
  mlp.up.Apply(h, tokens, up.data(), pool);
  SwiGLU(gate.data(), up.data(), gate.size(), gate.data());
  Observe(observer, mlp.down, gate.data(), tokens);
  mlp.down.Apply(gate.data(), tokens, out, pool);
}

void Transformer::Moe(const LayerWeights& layer, const float* h, int64_t tokens, float* out, ThreadPool& pool,
                      LinearInputObserver* observer) const {
  const int64_t dim = config_.shape.hidden_size;
  const int64_t num_experts = config_.shape.num_experts;
  const int64_t top_k = config_.shape.num_experts_per_token;
  std::vector<float> router(static_cast<size_t>(tokens * num_experts));
  layer.router.Apply(h, tokens, router.data(), pool);

  // Per token: softmax over all experts, the top k (ties to the lower index), renormalized to sum 1.
  std::vector<std::vector<std::pair<int64_t, float>>> routed(num_experts);  // expert -> (token, weight)
  std::vector<int64_t> order(num_experts);
  for (int64_t t = 0; t < tokens; ++t) {
    float* logits = router.data() + t * num_experts;
    const float max_logit = *std::max_element(logits, logits + num_experts);
    float sum = 0.0f;
    for (int64_t e = 0; e < num_experts; ++e) sum += (logits[e] = std::exp(logits[e] - max_logit));
    for (int64_t e = 0; e < num_experts; ++e) logits[e] /= sum;
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return logits[a] > logits[b]; });
    float selected = 0.0f;
    for (int64_t i = 0; i < top_k; ++i) selected += logits[order[i]];
    for (int64_t i = 0; i < top_k; ++i) routed[order[i]].emplace_back(t, logits[order[i]] / selected);
  }

  std::fill_n(out, tokens * dim, 0.0f);
  std::vector<float> gathered, expert_out;
  for (int64_t e = 0; e < num_experts; ++e) {
    const auto& assignments = routed[e];
    const int64_t count = static_cast<int64_t>(assignments.size());
    if (count == 0) continue;
    gathered.resize(static_cast<size_t>(count * dim));
    expert_out.resize(gathered.size());
    for (int64_t i = 0; i < count; ++i) std::copy_n(h + assignments[i].first * dim, dim, gathered.data() + i * dim);
    Mlp(layer.experts[e], gathered.data(), count, expert_out.data(), pool, observer);
    for (int64_t i = 0; i < count; ++i) {
      MulAddInPlace(out + assignments[i].first * dim, assignments[i].second, expert_out.data() + i * dim,
                    static_cast<size_t>(dim));
    }
  }
}

LoadedModel LoadModel(const std::filesystem::path& path) {
  LoadedModel model;
  model.checkpoint = std::make_unique<Checkpoint>(Checkpoint::Open(path));
  model.transformer = std::make_unique<Transformer>(*model.checkpoint);
  return model;
}

}  // namespace octet
