#include "calib/auto_mix.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <regex>

#include <fmt/format.h>

#include "calib/layerwise_int4.h"
#include "models/architecture.h"
#include "numeric/convert_rows.h"
#include "quant/fp8_quantizer.h"
#include "quant/gptq.h"
#include "quant/int4_group.h"
#include "runtime/linear_observer.h"
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

Int4Params Int4ParamsFor(const LinearFormat& format, const QuantScheme& scheme, DType source) {
  Int4Params params;
  params.group_size = format.group_size;
  params.symmetric = scheme.symmetric;
  const DType scale_dtype = scheme.kept_dtype.value_or(source);
  params.scale_dtype = scale_dtype == DType::kBF16  ? Int4ScaleDtype::kBF16
                       : scale_dtype == DType::kF16 ? Int4ScaleDtype::kF16
                                                    : Int4ScaleDtype::kF32;
  return params;
}

// `w` in `format`, dequantized to F32 ([rows, cols]). INT4 by GPTQ when `gptq` is given (the inverse Hessian of
// the linear's input), else by round to nearest.
std::vector<float> FakeQuantize(const std::vector<float>& w, int64_t rows, int64_t cols, const LinearFormat& format,
                                const QuantScheme& scheme, DType source, const GptqInverseHessian* gptq,
                                const std::string& module, ThreadPool& pool) {
  switch (format.precision) {
    case LinearPrecision::kInt4: {
      Int4Params params = Int4ParamsFor(format, scheme, source);
      if (gptq == nullptr) return QuantizeRtn(w.data(), rows, cols, params, &pool).Dequantize();
      params.mse_grid = kGptqScaleSearchGrid;  // as the converter's GPTQ will choose the scales
      GptqOptions options;
      options.name = module;
      return QuantizeGptq(w.data(), rows, cols, *gptq, params, options, &pool).Dequantize();
    }
    case LinearPrecision::kFp8: {
      const Fp8ScaleLayout layout{WeightScale::kChannel, rows, cols, 128};
      std::vector<uint8_t> codes(w.size());
      std::vector<float> scales(static_cast<size_t>(rows));
      std::vector<float> scratch(w.size());
      QuantError error;
      QuantizeFp8Band(layout, Fp8Format::kE4M3, 0, rows, w.data(), 1.0f, codes.data(), scales.data(),
                      scratch.data(), error);
      // `scratch` holds the decoded codes without their scales; the weight an engine runs is code x scale.
      std::vector<float> reconstructed(w.size());
      DequantizeFp8Band(layout, Fp8Format::kE4M3, 0, rows, codes.data(), scales.data(), 1.0f, reconstructed.data());
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

// "model.layers.12.mlp.up_proj" -> 12; -1 outside the decoder layers.
int64_t LayerOf(const std::string& module) {
  static const std::regex kLayer(R"(^model\.layers\.(\d{1,9})\.)");
  std::smatch m;
  if (!std::regex_search(module, m, kLayer)) return -1;
  return std::stoll(m[1].str());
}

// GPTQ's inverse Hessians of the ORIGINAL model's linear inputs, one decoder layer at a time: the calibration
// sequences' hidden states are kept and advanced layer by layer through the original weights (as
// calib/layerwise_int4.cc does with quantized ones), so each layer costs one layer's forward pass and memory holds
// one layer's Hessians. Linears that read the same input (q/k/v, gate/up, an expert's w1/w3) share one.
class OriginalInputHessians : public LinearInputObserver {
 public:
  OriginalInputHessians(const Transformer& model, const std::vector<TokenSequence>& sequences, ThreadPool& pool)
      : model_(model), pool_(pool) {
    for (const TokenSequence& sequence : sequences) hidden_.push_back(model.Embed(sequence));
    for (const TokenSequence& sequence : sequences) lengths_.push_back(static_cast<int64_t>(sequence.size()));
  }

  // The prepared inverse Hessian of `module`'s input in decoder layer `layer` (layers are visited in
  // non-decreasing order); nullptr when no calibration token reached it (a Mixtral expert nothing was routed to).
  const GptqInverseHessian* For(const std::string& module, int64_t layer) {
    if (layer < 0 || layer >= static_cast<int64_t>(model_.weights().layers.size())) return nullptr;
    if (layer < next_layer_ - 1) Fail("internal: auto-mix visited layer {} after layer {}", layer, next_layer_ - 1);
    while (next_layer_ <= layer) {
      accumulators_.clear();
      prepared_.clear();
      const bool record = next_layer_ == layer;
      for (size_t s = 0; s < hidden_.size(); ++s) {
        const ModelShape& shape = model_.config().shape;
        KvCache cache(1, shape.num_kv_heads * shape.head_dim);
        cache.Reserve(lengths_[s]);
        model_.RunLayer(model_.weights().layers[static_cast<size_t>(next_layer_)], hidden_[s].data(), lengths_[s],
                        cache, 0, pool_, record ? this : nullptr);
      }
      ++next_layer_;
    }
    const std::string key = Architecture::FusedModuleKey(module);
    if (const auto it = prepared_.find(key); it != prepared_.end()) return &it->second;
    const auto accumulator = accumulators_.find(key);
    if (accumulator == accumulators_.end()) return nullptr;
    GptqOptions options;
    options.name = module;
    return &prepared_.emplace(key, PrepareGptq(accumulator->second.hessian->Finish(), options, &pool_))
                .first->second;
  }

  void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) override {
    const std::string name(module);
    Accumulator& accumulator = accumulators_[Architecture::FusedModuleKey(name)];
    if (accumulator.first_module.empty()) {
      accumulator.first_module = name;
      accumulator.hessian = std::make_unique<HessianAccumulator>(static_cast<int64_t>(dim));
    }
    // Siblings observe the same rows; only the first one's are added.
    if (accumulator.first_module == name) accumulator.hessian->Add(x, static_cast<int64_t>(tokens), &pool_);
  }

 private:
  struct Accumulator {
    std::string first_module;
    std::unique_ptr<HessianAccumulator> hessian;
  };

  const Transformer& model_;
  ThreadPool& pool_;
  std::vector<std::vector<float>> hidden_;  // per sequence [tokens, hidden]: layer next_layer_'s input
  std::vector<int64_t> lengths_;
  int64_t next_layer_ = 0;
  std::map<std::string, Accumulator> accumulators_;      // of layer next_layer_ - 1, by fused module key
  std::map<std::string, GptqInverseHessian> prepared_;  // of layer next_layer_ - 1
};

// Dequantized weights of groups of linears in candidate formats, as the conversion would write them: INT4 by
// GPTQ on the original model's input Hessians when the scheme's method is GPTQ, else by round to nearest. (The
// converter's GPTQ sees the inputs of the already quantized layers instead, so its later layers compensate earlier
// ones' errors: on aidreams260K that moves a whole plan's loss by up to +-8% from this one-group-at-a-time estimate.)
// Groups must be asked for in non-decreasing layer order (the Hessians are built one layer at a time).
class CandidateWeights {
 public:
  CandidateWeights(const Checkpoint& original, const Transformer& model, const QuantScheme& scheme,
                   const std::vector<TokenSequence>& sequences, ThreadPool& pool)
      : original_(original), scheme_(scheme), pool_(pool) {
    if (scheme.method == QuantMethod::kGptq) hessians_ = std::make_unique<OriginalInputHessians>(model, sequences, pool);
  }

  // Adds `group` in `format` to `replacements`; the weights live as long as this object. Returns the group's
  // bits per weight.
  double Add(const MixGroup& group, const LinearFormat& format, std::map<std::string, Linear>& replacements) {
    double bits = 0;
    for (const std::string& module : group.modules) {
      const TensorView& weight = original_.Get(module + ".weight");
      if (!IsFloatingPointWeightType(weight.dtype) || weight.dtype == DType::kF8E4M3 ||
          weight.dtype == DType::kF8E5M2) {
        Fail("{}: --auto-mix measures F32, F16 and BF16 weights; '{}' is {}", weight.file, weight.name,
             DTypeName(weight.dtype));
      }
      std::vector<float> w(weight.num_elements());
      DecodeToF32(weight.dtype, weight.bytes.data(), w.size(), w.data());
      bits += FormatBits(format, scheme_, weight) * static_cast<double>(weight.num_elements());
      const GptqInverseHessian* gptq =
          hessians_ && format.precision == LinearPrecision::kInt4 ? hessians_->For(module, LayerOf(module)) : nullptr;
      weights_.push_back(
          FakeQuantize(w, weight.rows(), weight.cols(), format, scheme_, weight.dtype, gptq, module, pool_));
      TensorView view = weight;
      view.dtype = DType::kF32;
      view.bytes = {reinterpret_cast<const std::byte*>(weights_.back().data()), weights_.back().size() * sizeof(float)};
      views_.push_back(view);
      replacements.insert_or_assign(module, Linear::FromTensor(views_.back(), module));
    }
    return bits / static_cast<double>(group.weights);
  }

  // Drops the weights made so far (every Linear made from them).
  void Release() {
    weights_.clear();
    views_.clear();
  }

 private:
  const Checkpoint& original_;
  const QuantScheme& scheme_;
  ThreadPool& pool_;
  std::unique_ptr<OriginalInputHessians> hessians_;
  std::deque<std::vector<float>> weights_;  // deques: what the views point at never moves
  std::deque<TensorView> views_;
};

// The groups' indices by layer (stable), the order CandidateWeights needs.
std::vector<size_t> LayerOrder(const std::vector<MixGroup>& groups) {
  std::vector<size_t> order(groups.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return LayerOf(groups[a].modules.front()) < LayerOf(groups[b].modules.front());
  });
  return order;
}

// Mean KL(P_original || P_variant) over every position of every sequence, for several variants of the model
// at once. Each sequence's reference logits are computed when that sequence is measured and dropped after it, so
// memory holds one sequence's logits ([tokens, vocab] floats) per model, never the whole calibration set's; the
// reference costs one extra forward pass per sequence per call, shared by the call's variants.
class KlMeter {
 public:
  KlMeter(const Transformer& original, const std::vector<TokenSequence>& sequences, ThreadPool& pool)
      : original_(original), sequences_(sequences), pool_(pool) {}

  std::vector<double> MeanKlds(const std::vector<Transformer>& variants) const {
    std::vector<double> sums(variants.size(), 0.0);
    size_t count = 0;
    for (const TokenSequence& sequence : sequences_) {
      const std::vector<float> reference = Logits(original_, sequence);
      const size_t vocab = reference.size() / sequence.size();
      for (size_t v = 0; v < variants.size(); ++v) {
        const std::vector<float> logits = Logits(variants[v], sequence);
        for (size_t t = 0; t < sequence.size(); ++t) {
          sums[v] += KlDivergence(LogSoftmax(reference.data() + t * vocab, vocab),
                                  LogSoftmax(logits.data() + t * vocab, vocab));
        }
      }
      count += sequence.size();
    }
    for (double& sum : sums) sum = count ? sum / static_cast<double>(count) : 0.0;
    return sums;
  }

 private:
  std::vector<float> Logits(const Transformer& model, const TokenSequence& sequence) const {
    KvCache cache = model.NewCache();
    return model.Forward(sequence, cache, pool_, LogitsFor::kAll);
  }

  const Transformer& original_;
  const std::vector<TokenSequence>& sequences_;
  ThreadPool& pool_;
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

  CandidateWeights builder(original, model, scheme, sequences, pool);
  for (const size_t g : LayerOrder(plan.groups)) {
    MixGroup& group = plan.groups[g];
    // Every candidate of the group is built first, then all are measured in one pass over the calibration data.
    std::vector<MixCandidate> candidates;
    std::vector<Transformer> variants;
    for (const LinearFormat& format : CandidateFormats()) {
      std::map<std::string, Linear> replacements;
      candidates.push_back({format, builder.Add(group, format, replacements), 0});
      variants.push_back(model.WithLinears(replacements));
    }
    const std::vector<double> klds = meter.MeanKlds(variants);
    variants.clear();
    builder.Release();
    for (size_t c = 0; c < candidates.size(); ++c) candidates[c].kld = klds[c];
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const MixCandidate& a, const MixCandidate& b) { return a.bits < b.bits; });
    group.candidates = std::move(candidates);
  }

  return std::move(plan.groups);
}

double MeasurePlanKld(const Checkpoint& original, const QuantScheme& scheme, const std::vector<MixGroup>& groups,
                      const std::vector<TokenSequence>& sequences, ThreadPool& pool) {
  const Transformer model(original);
  CandidateWeights builder(original, model, scheme, sequences, pool);
  std::map<std::string, Linear> replacements;
  for (const size_t g : LayerOrder(groups)) {
    builder.Add(groups[g], groups[g].candidates[groups[g].chosen].format, replacements);
  }
  std::vector<Transformer> variants;
  variants.push_back(model.WithLinears(replacements));
  return KlMeter(model, sequences, pool).MeanKlds(variants)[0];
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
