// `convert --auto-mix BITS`: per-module formats (INT4 with groups of 128, 64 or 32, FP8, or BF16) that fit an
// average bits-per-weight budget with the least measured loss.
//
// Sensitivity: for every group of linears vLLM runs with one scheme (a layer's q/k/v, its o, its gate/up, its
// down; all experts of a Mixtral layer) and every candidate format, the model with only that group quantized is
// run over the calibration sequences and its mean KL divergence from the original's next-token distribution is
// measured (over every position, in double, as `eval --reference` computes it). Each candidate is quantized the way
// the conversion will: INT4 by GPTQ when --method gptq (on the Hessians of the original model's inputs to the
// layer, built one decoder layer at a time; the converter's sequential GPTQ sees the quantized layers' outputs
// instead), by round to nearest for rtn and awq (AWQ rescales neighbouring layers, which a one-group measurement
// cannot represent); FP8 E4M3 with channel scales; BF16. Losses are taken as additive across groups (the usual
// first-order assumption of mixed-precision search, e.g. HAWQ, and llama.cpp's imatrix-guided type choices);
// MeasurePlanKld checks it (aidreams260K: the joint KLD of the chosen plans is within 3% of the sum).
//
// Choice: every group starts at its cheapest format; then, repeatedly, the upgrade with the largest loss
// reduction per added bit that still fits the budget is taken, until none fits (a greedy multiple-choice
// knapsack). Bits per weight count what is stored: 4 + scale bits x groups / inputs for INT4 (the scale in the
// checkpoint's dtype, plus 4 bits of zero point per group when asymmetric), 8 + 32 / inputs for FP8, 16 for BF16.
//
// Cost: per group, 5 candidates (with GPTQ: 3 runs sharing one factorization of the input's Hessian) and 6 forward
// passes over the calibration tokens (the 5 candidates and the original, whose logits are recomputed per sequence
// rather than stored: memory holds one sequence's logits per model, the group's 5 dequantized F32 copies and one
// layer's Hessians). aidreams260K: 16 groups, a few seconds. A 7B Llama: 128 groups x 6 = 768 forward passes; at
// the ~10 tokens/s a 7B prefill reaches on 2 cores (BENCHMARKS.md measures 68 for 1.1B) that is about 2 days with
// 4 x 512 calibration tokens, so pass few sequences (--calib-samples) and many cores.
#ifndef OCTET_CALIB_AUTO_MIX_H_
#define OCTET_CALIB_AUTO_MIX_H_

#include <string>

#include <nlohmann/json.hpp>
#include <vector>

#include "io/checkpoint.h"
#include "quant/precision_rule.h"
#include "quant/scheme.h"
#include "runtime/token_file.h"
#include "util/thread_pool.h"

namespace octet {

struct MixCandidate {
  LinearFormat format;
  double bits = 0;  // per weight, averaged over the group
  double kld = 0;   // mean KL divergence with only this group in this format
};

struct MixGroup {
  std::string name;                  // e.g. "model.layers.0.self_attn.qkv_proj"
  std::vector<std::string> modules;  // the linears in it
  int64_t weights = 0;               // parameters
  std::vector<MixCandidate> candidates;  // by increasing bits
  size_t chosen = 0;                 // index into candidates
};

struct MixedPrecisionPlan {
  double budget_bits = 0;
  double average_bits = 0;
  double predicted_kld = 0;  // sum of the chosen candidates' KLDs
  std::vector<MixGroup> groups;

  // One --keep rule per module, for the planner (convert/conversion_plan.h).
  std::vector<PrecisionRule> Rules() const;
  // A table for the log.
  std::string ToText() const;
};

// {"budget_bits", "average_bits", "predicted_kld", "groups": [{"name", "format", "bits", "kld", "candidates"}]}
nlohmann::ordered_json MixedPrecisionReport(const MixedPrecisionPlan& plan);

// The sensitivity of every group of `modules` in every candidate format (MixedPrecisionPlan::groups with
// `chosen` at the cheapest). Throws octet::Error when there is no calibration data.
std::vector<MixGroup> MeasureSensitivity(const Checkpoint& original, const QuantScheme& scheme,
                                         const std::vector<std::string>& modules,
                                         const std::vector<TokenSequence>& sequences, ThreadPool& pool);

// The mean KL divergence on `sequences` of the model with every group in its chosen format at once, each
// quantized as MeasureSensitivity does (to check the additive prediction; holds the whole model's quantized
// linears as F32).
double MeasurePlanKld(const Checkpoint& original, const QuantScheme& scheme, const std::vector<MixGroup>& groups,
                      const std::vector<TokenSequence>& sequences, ThreadPool& pool);

// The greedy choice within `budget_bits`; throws octet::Error when the budget is below the cheapest plan.
MixedPrecisionPlan ChooseWithinBudget(std::vector<MixGroup> groups, double budget_bits);

// MeasureSensitivity then ChooseWithinBudget. `modules`: the linears the conversion quantizes and no --keep rule
// fixes.
MixedPrecisionPlan PlanMixedPrecision(const Checkpoint& original, const QuantScheme& scheme,
                                      const std::vector<std::string>& modules,
                                      const std::vector<TokenSequence>& sequences, double budget_bits,
                                      ThreadPool& pool);

}  // namespace octet

#endif  // OCTET_CALIB_AUTO_MIX_H_
