#include "calib/auto_mix.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "models/architecture.h"
#include "numeric/convert_rows.h"
#include "quant/fp8_quantizer.h"
#include "quant/int4_group.h"
#include "runtime/eval.h"
#include "runtime/linear.h"
#include "runtime/transformer.h"
#include "util/error.h"

namespace octet {
namespace {


std::vector<LinearFormat> CandidateFormats() {
  return {{LinearPrecision::kInt4, 128}, {LinearPrecision::kInt4, 64}, {LinearPrecision::kInt4, 32},
          {LinearPrecision::kFp8, 0},    {LinearPrecision::kKeep, 0, DType::kBF16}};
}

// Scale storage bits of INT4 weights written from `source` (compressed-tensors keeps the model's dtype).
int ScaleBits(const QuantScheme& scheme, DType source) {
  const DType dtype = scheme.kept_dtype.value_or(source);
  return dtype == DType::kF32 ? 32 : 16;
}

double FormatBits(const LinearFormat& format, const QuantScheme& scheme, const TensorView& weight) {
  const double cols = static_cast<double>(weight.cols());
  switch (format.precision) {
    case LinearPrecision::kInt4: {
      const double groups = static_cast<double>(Int4NumGroups(weight.cols(), format.group_size));
      const double per_group = ScaleBits(scheme, weight.dtype) + (scheme.symmetric ? 0 : 4);
      return 4.0 + per_group * groups / cols;
    }
    case LinearPrecision::kFp8: return 8.0 + 32.0 / cols;
    case LinearPrecision::kKeep: return static_cast<double>(DTypeBits(format.dtype));
  }
  return 16.0;
}

// `weight` in `format`, dequantized to F32 ([rows, cols]).
std::vector<float> FakeQuantize(const std::vector<float>& w, int64_t rows, int64_t cols, const LinearFormat& format,
                                const QuantScheme& scheme, DType source, ThreadPool& pool) {
  switch (format.precision) {
    case LinearPrecision::kInt4: {
      Int4Params params;
      params.group_size = format.group_size;
      params.symmetric = scheme.symmetric;
      const DType scale_dtype = scheme.kept_dtype.value_or(source);
      params.scale_dtype = scale_dtype == DType::kBF16  ? Int4ScaleDtype::kBF16
                           : scale_dtype == DType::kF16 ? Int4ScaleDtype::kF16
                                                        : Int4ScaleDtype::kF32;
      return QuantizeRtn(w.data(), rows, cols, params, &pool).Dequantize();
    }
    case LinearPrecision::kFp8: {
      const Fp8ScaleLayout layout{WeightScale::kChannel, rows, cols, 128};
      std::vector<uint8_t> codes(w.size());
      std::vector<float> scales(static_cast<size_t>(rows));
      std::vector<float> reconstructed(w.size());
      QuantError error;
      QuantizeFp8Band(layout, Fp8Format::kE4M3, 0, rows, w.data(), 1.0f, codes.data(), scales.data(),
                      reconstructed.data(), error);
      return reconstructed;
    }
    case LinearPrecision::kKeep: {
      std::vector<uint8_t> bytes(w.size() * DTypeBits(format.dtype) / 8);
      std::vector<float> out(w.size());
      EncodeFromF32(format.dtype, w.data(), w.size(), bytes.data());
      DecodeToF32(format.dtype, bytes.data(), w.size(), out.data());
      return out;
    }
  }
  return w;
}

// Mean KL(P_original || P_model) over every position of every sequence.
class KlMeter {
 public:
  KlMeter(const Transformer& original, const std::vector<TokenSequence>& sequences, ThreadPool& pool)
      : sequences_(sequences), pool_(pool) {
    for (const TokenSequence& sequence : sequences) {
      KvCache cache = original.NewCache();
      const std::vector<float> logits = original.Forward(sequence, cache, pool, LogitsFor::kAll);
      const size_t vocab = logits.size() / sequence.size();
      std::vector<std::vector<double>> per_position;
      for (size_t t = 0; t < sequence.size(); ++t) per_position.push_back(LogSoftmax(logits.data() + t * vocab, vocab));
      reference_.push_back(std::move(per_position));
    }
  }

  double MeanKld(const Transformer& model) const {
    double sum = 0;
    size_t count = 0;
    for (size_t s = 0; s < sequences_.size(); ++s) {
      KvCache cache = model.NewCache();
      const std::vector<float> logits = model.Forward(sequences_[s], cache, pool_, LogitsFor::kAll);
      const size_t vocab = logits.size() / sequences_[s].size();
      for (size_t t = 0; t < sequences_[s].size(); ++t) {
        sum += KlDivergence(reference_[s][t], LogSoftmax(logits.data() + t * vocab, vocab));
        ++count;
      }
    }
    return count ? sum / static_cast<double>(count) : 0.0;
  }

 private:
  const std::vector<TokenSequence>& sequences_;
  ThreadPool& pool_;
  std::vector<std::vector<std::vector<double>>> reference_;  // [sequence][position] log-probabilities
};

double AverageBits(const std::vector<MixGroup>& groups) {
  double bits = 0, weights = 0;
  for (const MixGroup& g : groups) {
    bits += g.candidates[g.chosen].bits * static_cast<double>(g.weights);
    weights += static_cast<double>(g.weights);
  }
  return weights > 0 ? bits / weights : 0.0;
}

}  // namespace

std::vector<PrecisionRule> MixedPrecisionPlan::Rules() const {
  std::vector<PrecisionRule> rules;
  for (const MixGroup& g : groups) {
    for (const std::string& module : g.modules) rules.push_back({module, g.candidates[g.chosen].format});
  }
  return rules;
}

std::string MixedPrecisionPlan::ToText() const {
  std::string text = fmt::format("  auto-mix: {:.3f} bits per weight (budget {:.3f}), predicted KLD {:.5f}\n",
                                 average_bits, budget_bits, predicted_kld);
  for (const MixGroup& g : groups) {
    const MixCandidate& c = g.candidates[g.chosen];
    text += fmt::format("    {:<52} {:<10} {:6.3f} bits  KLD alone {:.5f}\n", g.name, c.format.Name(), c.bits, c.kld);
  }
  return text;
}

nlohmann::ordered_json MixedPrecisionReport(const MixedPrecisionPlan& plan) {
  nlohmann::ordered_json report = {{"budget_bits", plan.budget_bits},
                                   {"average_bits", plan.average_bits},
                                   {"predicted_kld", plan.predicted_kld},
                                   {"groups", nlohmann::ordered_json::array()}};
  for (const MixGroup& g : plan.groups) {
    nlohmann::ordered_json candidates = nlohmann::ordered_json::array();
    for (const MixCandidate& c : g.candidates) {
      candidates.push_back({{"format", c.format.Name()}, {"bits", c.bits}, {"kld", c.kld}});
    }
    const MixCandidate& chosen = g.candidates[g.chosen];
    report["groups"].push_back({{"name", g.name},
                                {"format", chosen.format.Name()},
                                {"bits", chosen.bits},
                                {"kld", chosen.kld},
                                {"candidates", candidates}});
  }
  return report;
}

std::vector<MixGroup> MeasureSensitivity(const Checkpoint& original, const QuantScheme& scheme,
                                         const std::vector<std::string>& modules,
                                         const std::vector<TokenSequence>& sequences, ThreadPool& pool) {
  if (sequences.empty()) Fail("--auto-mix measures each layer's sensitivity on calibration data: pass --calib-data");
  if (scheme.weight_type != WeightType::kInt4) Fail("--auto-mix needs an INT4 scheme (int4, q4f16_1, ...)");
  const Transformer model(original);
  for (size_t i = 0; i < sequences.size(); ++i) {
    if (sequences[i].empty() || static_cast<int64_t>(sequences[i].size()) > model.config().max_position_embeddings) {
      Fail("calibration sequence {} has {} tokens; auto-mix needs 1 to {} (max_position_embeddings)", i + 1,
           sequences[i].size(), model.config().max_position_embeddings);
    }
  }
  const KlMeter meter(model, sequences, pool);

  std::map<std::string, size_t> group_of;
  MixedPrecisionPlan plan;
  for (const std::string& module : modules) {
    const auto [it, inserted] = group_of.emplace(Architecture::SchemeGroupKey(module), plan.groups.size());
    if (inserted) plan.groups.push_back({Architecture::SchemeGroupKey(module), {}, 0, {}, 0});
    MixGroup& group = plan.groups[it->second];
    group.modules.push_back(module);
    group.weights += static_cast<int64_t>(original.Get(module + ".weight").num_elements());
  }

  for (MixGroup& group : plan.groups) {
    for (const LinearFormat& format : CandidateFormats()) {
      MixCandidate candidate{format, 0, 0};
      std::vector<std::vector<float>> dequantized;
      std::vector<TensorView> views;
      dequantized.reserve(group.modules.size());
      views.reserve(group.modules.size());
      std::map<std::string, Linear> replacements;
      for (const std::string& module : group.modules) {
        const TensorView& weight = original.Get(module + ".weight");
        if (!IsFloatingPointWeightType(weight.dtype) || weight.dtype == DType::kF8E4M3 ||
            weight.dtype == DType::kF8E5M2) {
          Fail("{}: --auto-mix measures F32, F16 and BF16 weights; '{}' is {}", weight.file, weight.name,
               DTypeName(weight.dtype));
        }
        std::vector<float> w(weight.num_elements());
        DecodeToF32(weight.dtype, weight.bytes.data(), w.size(), w.data());
        candidate.bits += FormatBits(format, scheme, weight) * static_cast<double>(weight.num_elements());
        dequantized.push_back(FakeQuantize(w, weight.rows(), weight.cols(), format, scheme, weight.dtype, pool));
        TensorView view = weight;
        view.dtype = DType::kF32;
        view.bytes = {reinterpret_cast<const std::byte*>(dequantized.back().data()),
                      dequantized.back().size() * sizeof(float)};
        views.push_back(view);
        replacements.emplace(module, Linear::FromTensor(views.back(), module));
      }
      candidate.bits /= static_cast<double>(group.weights);
      candidate.kld = meter.MeanKld(model.WithLinears(replacements));
      group.candidates.push_back(candidate);
    }
    std::stable_sort(group.candidates.begin(), group.candidates.end(),
                     [](const MixCandidate& a, const MixCandidate& b) { return a.bits < b.bits; });
  }

  return std::move(plan.groups);
}

MixedPrecisionPlan ChooseWithinBudget(std::vector<MixGroup> groups, double budget_bits) {
  MixedPrecisionPlan plan;
  plan.budget_bits = budget_bits;
  plan.groups = std::move(groups);
  for (MixGroup& g : plan.groups) g.chosen = 0;
  const double cheapest = AverageBits(plan.groups);
  if (budget_bits + 1e-9 < cheapest) {
    Fail("--auto-mix {}: the cheapest plan (every linear INT4 with groups of 128) needs {:.3f} bits per weight",
         budget_bits, cheapest);
  }
  double total_weights = 0;
  for (const MixGroup& g : plan.groups) total_weights += static_cast<double>(g.weights);
  double used_bits = cheapest * total_weights;
  const double budget_total = budget_bits * total_weights;
  while (true) {
    double best_gain = 0;
    size_t best_group = 0, best_candidate = 0;
    for (size_t g = 0; g < plan.groups.size(); ++g) {
      const MixGroup& group = plan.groups[g];
      const MixCandidate& current = group.candidates[group.chosen];
      for (size_t c = group.chosen + 1; c < group.candidates.size(); ++c) {
        const MixCandidate& next = group.candidates[c];
        const double extra = (next.bits - current.bits) * static_cast<double>(group.weights);
        if (next.kld >= current.kld || extra <= 0 || used_bits + extra > budget_total + 1e-6) continue;
        const double gain = (current.kld - next.kld) / extra;
        if (gain > best_gain) {
          best_gain = gain;
          best_group = g;
          best_candidate = c;
        }
      }
    }
    if (best_gain <= 0) break;
    MixGroup& group = plan.groups[best_group];
    used_bits += (group.candidates[best_candidate].bits - group.candidates[group.chosen].bits) *
                 static_cast<double>(group.weights);
    group.chosen = best_candidate;
  }
  plan.average_bits = AverageBits(plan.groups);
  for (const MixGroup& g : plan.groups) plan.predicted_kld += g.candidates[g.chosen].kld;
  return plan;
}

MixedPrecisionPlan PlanMixedPrecision(const Checkpoint& original, const QuantScheme& scheme,
                                      const std::vector<std::string>& modules,
                                      const std::vector<TokenSequence>& sequences, double budget_bits,
                                      ThreadPool& pool) {
  return ChooseWithinBudget(MeasureSensitivity(original, scheme, modules, sequences, pool), budget_bits);
}

}  // namespace octet
