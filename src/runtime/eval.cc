#include "runtime/eval.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/error.h"

namespace octet {
namespace {

// Positions run per Forward call: bounds the [chunk, vocab] logits buffer for long sequences and big vocabularies.
constexpr size_t kChunkTokens = 256;

size_t ArgMax(const float* logits, size_t vocab) {
  return static_cast<size_t>(std::max_element(logits, logits + vocab) - logits);
}

// Logits of every position of `sequence` but the last (the ones that predict a next token).
class ChunkedLogits {
 public:
  ChunkedLogits(const Transformer& model, const TokenSequence& sequence, ThreadPool& pool)
      : model_(model), sequence_(sequence), pool_(pool), cache_(model.NewCache()) {}

  // Logits of position t, for t increasing. Chunks wholly before t only fill the KV cache (no logits); the
  // chunk boundaries do not depend on t, so the logits do not either.
  const float* At(size_t t) {
    while (t >= chunk_begin_ + chunk_rows_) {
      chunk_begin_ += chunk_rows_;
      chunk_rows_ = std::min(kChunkTokens, sequence_.size() - 1 - chunk_begin_);
      const LogitsFor wanted = t < chunk_begin_ + chunk_rows_ ? LogitsFor::kAll : LogitsFor::kNone;
      logits_ = model_.Forward(std::span<const int32_t>(sequence_).subspan(chunk_begin_, chunk_rows_), cache_,
                               pool_, wanted);
    }
    return logits_.data() + (t - chunk_begin_) * model_.config().shape.vocab_size;
  }

 private:
  const Transformer& model_;
  const TokenSequence& sequence_;
  ThreadPool& pool_;
  KvCache cache_;
  size_t chunk_begin_ = 0;
  size_t chunk_rows_ = 0;
  std::vector<float> logits_;
};

}  // namespace

std::vector<double> LogSoftmax(const float* logits, size_t vocab) {
  double max_logit = -INFINITY;
  for (size_t i = 0; i < vocab; ++i) max_logit = std::max(max_logit, static_cast<double>(logits[i]));
  double sum = 0;
  for (size_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - max_logit);
  const double log_z = max_logit + std::log(sum);
  std::vector<double> out(vocab);
  for (size_t i = 0; i < vocab; ++i) out[i] = static_cast<double>(logits[i]) - log_z;
  return out;
}

double KlDivergence(const std::vector<double>& log_p, const std::vector<double>& log_q) {
  double kl = 0;
  for (size_t i = 0; i < log_p.size(); ++i) {
    const double p = std::exp(log_p[i]);
    if (p > 0) kl += p * (log_p[i] - log_q[i]);
  }
  return std::max(kl, 0.0);  // rounding can give -1e-17 for identical distributions
}

double Percentile(std::vector<double>& values, double p) {
  if (values.empty()) return NAN;
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (rank - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

std::vector<ScoredSequence> ScoreAllPositions(const std::vector<TokenSequence>& sequences) {
  std::vector<ScoredSequence> scored;
  scored.reserve(sequences.size());
  for (const TokenSequence& sequence : sequences) scored.push_back({sequence, 0});
  return scored;
}

EvalMetrics Evaluate(const Transformer& model, const Transformer* reference,
                     const std::vector<TokenSequence>& sequences, ThreadPool& pool) {
  return Evaluate(model, reference, ScoreAllPositions(sequences), pool);
}

EvalMetrics Evaluate(const Transformer& model, const Transformer* reference,
                     const std::vector<ScoredSequence>& sequences, ThreadPool& pool) {
  const size_t vocab = static_cast<size_t>(model.config().shape.vocab_size);
  if (reference != nullptr && static_cast<size_t>(reference->config().shape.vocab_size) != vocab) {
    Fail("the reference model's vocabulary ({}) differs from the model's ({})",
         reference->config().shape.vocab_size, vocab);
  }
  double nll_sum = 0, ref_nll_sum = 0;
  size_t agree = 0;
  std::vector<double> klds;
  size_t positions = 0;
  for (size_t index = 0; index < sequences.size(); ++index) {
    const TokenSequence& sequence = sequences[index].tokens;
    if (sequence.size() < 2 || sequences[index].first_scored + 1 >= sequence.size()) continue;
    for (const Transformer* m : {&model, reference}) {
      if (m != nullptr && static_cast<int64_t>(sequence.size()) - 1 > m->config().max_position_embeddings) {
        Fail("sequence {} has {} tokens; the model's context (max_position_embeddings) is {}", index + 1,
             sequence.size(), m->config().max_position_embeddings);
      }
    }
    ChunkedLogits logits(model, sequence, pool);
    std::optional<ChunkedLogits> ref_logits;
    if (reference != nullptr) ref_logits.emplace(*reference, sequence, pool);
    for (size_t t = sequences[index].first_scored; t + 1 < sequence.size(); ++t) {
      const float* row = logits.At(t);
      const std::vector<double> log_q = LogSoftmax(row, vocab);
      const size_t target = static_cast<size_t>(sequence[t + 1]);
      nll_sum -= log_q[target];
      if (ref_logits) {
        const float* ref_row = ref_logits->At(t);
        const std::vector<double> log_p = LogSoftmax(ref_row, vocab);
        ref_nll_sum -= log_p[target];
        klds.push_back(KlDivergence(log_p, log_q));
        agree += ArgMax(row, vocab) == ArgMax(ref_row, vocab);
      }
      ++positions;
    }
  }
  if (positions == 0) Fail("no sequence has a scored position (two or more tokens), so there is nothing to predict");

  EvalMetrics metrics;
  metrics.positions = positions;
  metrics.ppl = std::exp(nll_sum / static_cast<double>(positions));
  if (reference != nullptr) {
    ReferenceMetrics r;
    r.ref_ppl = std::exp(ref_nll_sum / static_cast<double>(positions));
    r.delta_ppl_pct = 100.0 * (metrics.ppl / r.ref_ppl - 1.0);
    double kld_sum = 0;
    for (double k : klds) kld_sum += k;
    r.kld_mean = kld_sum / static_cast<double>(klds.size());
    r.kld_median = Percentile(klds, 50.0);
    r.kld_p99 = Percentile(klds, 99.0);
    r.top1_agreement = static_cast<double>(agree) / static_cast<double>(positions);
    metrics.reference = r;
  }
  return metrics;
}

std::vector<EvalMetrics> EvaluatePerLayer(const Transformer& model, const Transformer& reference,
                                          const std::vector<ScoredSequence>& sequences, ThreadPool& pool) {
  std::vector<EvalMetrics> per_layer;
  for (int64_t layer = 0; layer < reference.config().shape.num_layers; ++layer) {
    const Transformer hybrid = reference.WithLayerFrom(model, layer);
    per_layer.push_back(Evaluate(hybrid, &reference, sequences, pool));
  }
  return per_layer;
}

std::vector<EvalMetrics> EvaluatePerLayer(const Transformer& model, const Transformer& reference,
                                          const std::vector<TokenSequence>& sequences, ThreadPool& pool) {
  return EvaluatePerLayer(model, reference, ScoreAllPositions(sequences), pool);
}

std::string EvalMetricsJson(const EvalMetrics& metrics, const std::vector<EvalMetrics>& per_layer) {
  nlohmann::ordered_json json;
  json["ppl"] = metrics.ppl;
  const auto& r = metrics.reference;
  json["ref_ppl"] = r ? nlohmann::ordered_json(r->ref_ppl) : nullptr;
  json["delta_ppl_pct"] = r ? nlohmann::ordered_json(r->delta_ppl_pct) : nullptr;
  json["kld_mean"] = r ? nlohmann::ordered_json(r->kld_mean) : nullptr;
  json["kld_median"] = r ? nlohmann::ordered_json(r->kld_median) : nullptr;
  json["kld_p99"] = r ? nlohmann::ordered_json(r->kld_p99) : nullptr;
  json["top1_agreement"] = r ? nlohmann::ordered_json(r->top1_agreement) : nullptr;
  json["positions"] = metrics.positions;
  if (!per_layer.empty()) {
    nlohmann::ordered_json layers = nlohmann::ordered_json::array();
    for (size_t i = 0; i < per_layer.size(); ++i) {
      const ReferenceMetrics& lr = *per_layer[i].reference;
      layers.push_back({{"layer", i}, {"ppl", per_layer[i].ppl}, {"delta_ppl_pct", lr.delta_ppl_pct},
                        {"kld_mean", lr.kld_mean}, {"kld_p99", lr.kld_p99}, {"top1_agreement", lr.top1_agreement}});
    }
    json["per_layer"] = layers;
  }
  return json.dump();
}

std::string EvalMetricsText(const EvalMetrics& metrics, const std::vector<EvalMetrics>& per_layer) {
  std::string text = fmt::format("positions       {}\nperplexity      {:.4f}\n", metrics.positions, metrics.ppl);
  if (const auto& r = metrics.reference) {
    text += fmt::format("ref perplexity  {:.4f}  (delta {:+.3f}%)\n", r->ref_ppl, r->delta_ppl_pct);
    text += fmt::format("KL divergence   mean {:.6f}  median {:.6f}  p99 {:.6f} nats\n", r->kld_mean, r->kld_median,
                        r->kld_p99);
    text += fmt::format("top-1 agreement {:.2f}%\n", 100.0 * r->top1_agreement);
  }
  if (!per_layer.empty()) {
    text += "\nper layer (reference with only this layer from the model):\n";
    text += fmt::format("{:>5}  {:>10}  {:>12}  {:>12}  {:>8}\n", "layer", "delta ppl", "KLD mean", "KLD p99", "top-1");
    for (size_t i = 0; i < per_layer.size(); ++i) {
      const ReferenceMetrics& lr = *per_layer[i].reference;
      text += fmt::format("{:>5}  {:>+9.3f}%  {:>12.6f}  {:>12.6f}  {:>7.2f}%\n", i, lr.delta_ppl_pct, lr.kld_mean,
                          lr.kld_p99, 100.0 * lr.top1_agreement);
    }
  }
  return text;
}

}  // namespace octet
