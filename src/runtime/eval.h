// Teacher-forced evaluation over token sequences: at every position t < n-1 of every sequence the model's
// logits predict token t+1. Every metric is over the scored positions: all of them for plain sequences (--data),
// t >= first_scored for ScoredSequences (the windows of a long text, runtime/text_windows.h).
//   ppl             exp(mean negative log-likelihood over all scored positions of all sequences)
//   with a reference model (same vocabulary), per position:
//   kld             KL(P_ref || P_model) = sum_v p_ref(v) (log p_ref(v) - log p_model(v)), in nats
//   top-1 agreement the fraction of positions whose argmax (first index on ties) is the same
//   delta_ppl_pct   100 * (ppl / ref_ppl - 1)
// Log-softmax and all sums are in double. Percentiles interpolate linearly between order statistics (numpy's
// default), e.g. kld_p99 of 2032 positions lies between the 2010th and 2011th smallest values.
#ifndef OCTET_RUNTIME_EVAL_H_
#define OCTET_RUNTIME_EVAL_H_

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "runtime/scored_sequence.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "util/thread_pool.h"

namespace octet {

struct ReferenceMetrics {
  double ref_ppl = 0;
  double delta_ppl_pct = 0;
  double kld_mean = 0;
  double kld_median = 0;
  double kld_p99 = 0;
  double top1_agreement = 0;
};

struct EvalMetrics {
  size_t positions = 0;
  double ppl = 0;
  std::optional<ReferenceMetrics> reference;  // set when a reference model was given
};

// Evaluates `model` (and `reference`, if not null) on `sequences`. Throws if no sequence has two tokens, a
// sequence is longer than a model's context, or the vocabularies differ.
EvalMetrics Evaluate(const Transformer& model, const Transformer* reference,
                     const std::vector<TokenSequence>& sequences, ThreadPool& pool);
// The same, scoring only positions t >= first_scored of each sequence (the earlier ones are context). Throws
// also if no position is scored.
EvalMetrics Evaluate(const Transformer& model, const Transformer* reference,
                     const std::vector<ScoredSequence>& sequences, ThreadPool& pool);

// Per-layer attribution of a quantized model's error: for each decoder layer i, the reference model with only
// layer i taken from `model`, evaluated against the reference. Layers whose metrics stand out are the ones to
// keep in higher precision (convert --ignore). Needs models of the same shape.
std::vector<EvalMetrics> EvaluatePerLayer(const Transformer& model, const Transformer& reference,
                                          const std::vector<ScoredSequence>& sequences, ThreadPool& pool);
std::vector<EvalMetrics> EvaluatePerLayer(const Transformer& model, const Transformer& reference,
                                          const std::vector<TokenSequence>& sequences, ThreadPool& pool);
// All positions scored.
std::vector<ScoredSequence> ScoreAllPositions(const std::vector<TokenSequence>& sequences);

// The pieces, exposed for tests.
// log-softmax of `vocab` logits, in double.
std::vector<double> LogSoftmax(const float* logits, size_t vocab);
// KL(P || Q) from log-probabilities.
double KlDivergence(const std::vector<double>& log_p, const std::vector<double>& log_q);
// The p-th percentile (0..100) of `values` (sorted in place), linear interpolation.
double Percentile(std::vector<double>& values, double p);

// One JSON object with the keys ppl, ref_ppl, delta_ppl_pct, kld_mean, kld_median, kld_p99, top1_agreement,
// positions; the reference keys are null without a reference. With `per_layer` (non-empty) it has one more key,
// "per_layer": a list of {"layer", "ppl", "delta_ppl_pct", "kld_mean", "kld_p99", "top1_agreement"}.
std::string EvalMetricsJson(const EvalMetrics& metrics, const std::vector<EvalMetrics>& per_layer = {});
// Human-readable lines (and a per-layer table when given).
std::string EvalMetricsText(const EvalMetrics& metrics, const std::vector<EvalMetrics>& per_layer = {});

}  // namespace octet

#endif  // OCTET_RUNTIME_EVAL_H_
