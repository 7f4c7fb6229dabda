#include "calib/layerwise_int4.h"

#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "models/architecture.h"
#include "numeric/convert_rows.h"
#include "numeric/dtype.h"
#include "quant/awq.h"
#include "quant/gptq.h"
#include "quant/int4_group.h"
#include "runtime/linear_observer.h"
#include "runtime/transformer.h"
#include "util/error.h"

namespace octet {
namespace {

// AWQ searches on at most this many calibration rows per input (AutoAWQ's n_samples x seqlen is larger, but the
// search's cost grows with it and a strided subset of a few thousand tokens decides the same scales).
constexpr int64_t kAwqMaxTokens = 4096;

// What one input (shared by the linears that read it) contributed during BeginLayer.
struct InputStats {
  std::string first_module;  // siblings observe the same rows; only the first one's call is recorded
  int64_t dim = 0;
  int64_t tokens = 0;  // rows seen
  std::unique_ptr<HessianAccumulator> hessian;  // GPTQ
  std::vector<float> samples;                   // AWQ: every `stride`-th row, [sample_rows, dim]
  int64_t sample_rows = 0;
};

class LayerInputRecorder : public LinearInputObserver {
 public:
  LayerInputRecorder(QuantMethod method, int64_t awq_stride, ThreadPool& pool)
      : method_(method), awq_stride_(awq_stride), pool_(pool) {}

  void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) override {
    const std::string name(module);
    InputStats& stats = stats_[Architecture::FusedModuleKey(name)];
    if (stats.first_module.empty()) {
      stats.first_module = name;
      stats.dim = static_cast<int64_t>(dim);
      if (method_ == QuantMethod::kGptq) stats.hessian = std::make_unique<HessianAccumulator>(stats.dim);
    }
    if (stats.first_module != name) return;
    const int64_t rows = static_cast<int64_t>(tokens);
    if (stats.hessian) stats.hessian->Add(x, rows, &pool_);
    if (method_ == QuantMethod::kAwq) {
      for (int64_t r = 0; r < rows; ++r) {
        if ((stats.tokens + r) % awq_stride_ != 0) continue;
        stats.samples.insert(stats.samples.end(), x + r * stats.dim, x + (r + 1) * stats.dim);
        ++stats.sample_rows;
      }
    }
    stats.tokens += rows;
  }

  // nullptr when no calibration token reached the module (an expert nothing was routed to).
  const InputStats* Find(const std::string& module) const {
    const auto it = stats_.find(Architecture::FusedModuleKey(module));
    return it == stats_.end() || it->second.tokens == 0 ? nullptr : &it->second;
  }

 private:
  QuantMethod method_;
  int64_t awq_stride_;
  ThreadPool& pool_;
  std::map<std::string, InputStats> stats_;
};

std::vector<float> DecodeTensor(const TensorView& view) {
  std::vector<float> values(view.num_elements());
  DecodeToF32(view.dtype, view.bytes.data(), values.size(), values.data());
  return values;
}

class LayerwiseInt4Quantizer : public LayerwiseQuantizer {
 public:
  LayerwiseInt4Quantizer(const Checkpoint& original, const QuantScheme& scheme, std::vector<TokenSequence> sequences,
                         ThreadPool& pool)
      : checkpoint_(original), scheme_(scheme), model_(original), pool_(pool) {
    if (sequences.empty()) Fail("--method {} needs at least one calibration sequence", QuantMethodName(scheme.method));
    int64_t total = 0;
    for (size_t i = 0; i < sequences.size(); ++i) {
      if (sequences[i].empty()) continue;
      if (static_cast<int64_t>(sequences[i].size()) > model_.config().max_position_embeddings) {
        Fail("calibration sequence {} has {} tokens; the model's context (max_position_embeddings) is {}", i + 1,
             sequences[i].size(), model_.config().max_position_embeddings);
      }
      hidden_.push_back(WithContext("calibration sequence " + std::to_string(i + 1),
                                    [&] { return model_.Embed(sequences[i]); }));
      lengths_.push_back(static_cast<int64_t>(sequences[i].size()));
      total += lengths_.back();
    }
    tokens_ = total;
    awq_stride_ = std::max<int64_t>(1, (total + kAwqMaxTokens - 1) / kAwqMaxTokens);
  }

  void BeginLayer(int64_t layer) override {
    recorder_ = std::make_unique<LayerInputRecorder>(scheme_.method, awq_stride_, pool_);
    const LayerWeights& weights = model_.weights().layers.at(static_cast<size_t>(layer));
    for (size_t s = 0; s < hidden_.size(); ++s) {
      std::vector<float> x = hidden_[s];
      RunLayer(weights, x.data(), lengths_[s]);
    }
    if (scheme_.method == QuantMethod::kAwq) SearchAwqScales(layer, weights);
  }

  Int4Matrix Quantize(const std::string& module, std::vector<float> weight, int64_t rows, int64_t cols,
                      const Int4Params& params) override {
    const InputStats* stats = recorder_ ? recorder_->Find(module) : nullptr;
    Int4Matrix m;
    if (stats == nullptr) {
      ++rtn_fallbacks_;
      m = QuantizeRtn(weight.data(), rows, cols, params, &pool_);
    } else if (scheme_.method == QuantMethod::kGptq) {
      GptqOptions options;
      options.name = module;
      // llm-compressor's MSE observer for the static groups' scales. Only the compressed-tensors grid reads
      // mse_grid; on ggml's Q4_0 grid (GGUF output) the static groups keep ggml's own d = max / -8 of the
      // weight's block, and GPTQ chooses only the nibbles.
      Int4Params gptq_params = params;
      gptq_params.mse_grid = kGptqScaleSearchGrid;
      m = QuantizeGptq(weight.data(), rows, cols, stats->hessian->Finish(), gptq_params, options, &pool_);
    } else {
      ApplyAwqScales(module, weight, rows, cols);
      ClipForAwq(module, *stats, weight, rows, cols, params);
      m = QuantizeRtn(weight.data(), rows, cols, params, &pool_);
    }
    dequantized_[module] = m.Dequantize();
    return m;
  }

  std::vector<float> Replacement(const std::string& name) override {
    if (const auto it = replaced_norms_.find(name); it != replaced_norms_.end()) return it->second;
    // A linear the converter keeps out of INT4 (F16 for a GGUF row length not divisible by 32; BF16 or FP8 by a
    // --keep rule) while AWQ scaled its neighbour: its weight must carry the compensating scales too, or the model changes (up_proj's
    // rows divided by down_proj's s need down_proj's columns multiplied by s, quantized or not).
    if (!name.ends_with(".weight")) return {};
    const std::string module = name.substr(0, name.size() - 7);
    if (!row_divisors_.count(module) && !column_scales_.count(module)) return {};
    const TensorView& view = checkpoint_.Get(name);
    if (view.shape.size() != 2) return {};
    if (view.dtype != DType::kF32 && view.dtype != DType::kF16 && view.dtype != DType::kBF16) {
      Fail("{}: '{}' is kept unquantized while AWQ rescales its neighbour, which octet does for F32/F16/BF16 "
           "weights only, not {}; quantize it too or use --method gptq",
           view.file, name, DTypeName(view.dtype));
    }
    std::vector<float> weight = DecodeTensor(view);
    ApplyAwqScales(module, weight, view.shape[0], view.shape[1]);
    dequantized_[module] = weight;  // what EndLayer runs for this linear
    return weight;
  }

  void EndLayer(int64_t layer) override {
    LayerWeights weights = model_.weights().layers.at(static_cast<size_t>(layer));
    std::vector<TensorView> views;  // keep the dequantized weights' views alive while the layer runs
    views.reserve(dequantized_.size());
    const auto replace = [&](Linear& linear) {
      const auto it = dequantized_.find(linear.module());
      if (it == dequantized_.end()) return;  // an --ignore'd linear runs as stored
      TensorView view;
      view.name = linear.module() + ".weight";
      view.dtype = DType::kF32;
      view.shape = {linear.rows(), linear.cols()};
      view.bytes = {reinterpret_cast<const std::byte*>(it->second.data()), it->second.size() * sizeof(float)};
      view.file = "(quantized in memory)";
      views.push_back(view);
      linear = Linear::FromTensor(views.back(), linear.module());
    };
    for (Linear* linear : {&weights.q, &weights.k, &weights.v, &weights.o, &weights.mlp.gate, &weights.mlp.up,
                           &weights.mlp.down}) {
      replace(*linear);
    }
    for (MlpWeights& expert : weights.experts) {
      for (Linear* linear : {&expert.gate, &expert.up, &expert.down}) replace(*linear);
    }
    const std::string prefix = fmt::format("model.layers.{}.", layer);
    if (const auto it = replaced_norms_.find(prefix + "input_layernorm.weight"); it != replaced_norms_.end()) {
      weights.input_norm = it->second;
    }
    if (const auto it = replaced_norms_.find(prefix + "post_attention_layernorm.weight");
        it != replaced_norms_.end()) {
      weights.post_attention_norm = it->second;
    }
    // The next layer sees what the quantized model computes.
    recorder_.reset();
    for (size_t s = 0; s < hidden_.size(); ++s) RunLayer(weights, hidden_[s].data(), lengths_[s]);
    dequantized_.clear();
    replaced_norms_.clear();
    column_scales_.clear();
    row_divisors_.clear();
  }

  std::string Description() const override {
    std::string text = fmt::format("{} over {} sequences ({} tokens)", QuantMethodName(scheme_.method),
                                   hidden_.size(), tokens_);
    if (scheme_.method == QuantMethod::kGptq) {
      text += scheme_.int4_grid == Int4Grid::kCompressedTensors
                  ? ", damp 0.01, activation order with static groups (MSE-searched scales), blocks of 128"
                  : ", damp 0.01, activation order with static groups (ggml Q4_0 scales), blocks of 128";
    } else {
      text += fmt::format(", per-channel scale search (20 ratios) and clip search on {} tokens per input",
                          std::min(tokens_, (tokens_ + awq_stride_ - 1) / awq_stride_));
    }
    if (rtn_fallbacks_ > 0) {
      text += fmt::format("; {} linears no calibration token reached were rounded to nearest", rtn_fallbacks_);
    }
    return text;
  }

 private:
  void RunLayer(const LayerWeights& weights, float* x, int64_t tokens) {
    const ModelShape& shape = model_.config().shape;
    KvCache cache(1, shape.num_kv_heads * shape.head_dim);
    cache.Reserve(tokens);
    model_.RunLayer(weights, x, tokens, cache, 0, pool_, recorder_.get());
  }

  std::vector<float> OriginalWeight(const Linear& linear) const {
    return DecodeTensor(checkpoint_.Get(linear.module() + ".weight"));
  }

  // AWQ (Lin et al. 2023; AutoAWQ awq/quantize/quantizer.py, models/llama.py get_layers_for_scaling): for each
  // input shared by some linears, the per-channel scale s that minimizes their output error when quantized as
  // W diag(s) on inputs x / s. The 1/s is folded into whatever produces the input, so the model computes the same
  // function before quantization:
  //   q/k/v        <- input_layernorm weight
  //   o            <- v_proj rows (only when v's outputs are o's inputs one to one: no grouped-query attention)
  //   gate/up      <- post_attention_layernorm weight
  //   down         <- up_proj rows
  //   expert w2    <- the expert's w3 rows (Mixtral); an expert's w1/w3 share their input with the router and
  //                   every other expert, so they are not scaled (AutoAWQ scales them together with the norm).
  void SearchAwqScales(int64_t layer, const LayerWeights& weights) {
    const std::string prefix = fmt::format("model.layers.{}.", layer);
    const auto search = [&](const std::vector<const Linear*>& linears) -> std::vector<float> {
      const InputStats* stats = recorder_->Find(linears.front()->module());
      if (stats == nullptr || stats->sample_rows == 0) return {};
      std::vector<std::vector<float>> originals;
      std::vector<AwqLinear> awq_linears;
      for (const Linear* linear : linears) {
        originals.push_back(OriginalWeight(*linear));
      }
      for (size_t i = 0; i < linears.size(); ++i) awq_linears.push_back({originals[i].data(), linears[i]->rows()});
      Int4Params params;
      params.group_size = scheme_.group_size;
      params.symmetric = scheme_.symmetric;
      params.grid = scheme_.int4_grid;
      if (params.grid == Int4Grid::kGgmlQ4_0) params.scale_dtype = Int4ScaleDtype::kF16;  // ggml stores d as F16
      const AwqScaleResult result = SearchAwqScale(awq_linears, stats->dim, stats->samples.data(),
                                                   stats->sample_rows, params, AwqOptions{}, &pool_);
      for (const Linear* linear : linears) column_scales_[linear->module()] = result.scales;
      return result.scales;
    };
    const auto fold_into_norm = [&](const std::string& norm_name, const std::vector<float>& norm,
                                    const std::vector<float>& scales) {
      if (scales.empty()) return;
      std::vector<float> folded = norm;
      for (size_t c = 0; c < folded.size(); ++c) folded[c] /= scales[c];
      replaced_norms_[norm_name] = std::move(folded);
    };
    fold_into_norm(prefix + "input_layernorm.weight", weights.input_norm, search({&weights.q, &weights.k, &weights.v}));
    if (weights.v.rows() == weights.o.cols()) {
      const std::vector<float> s = search({&weights.o});
      if (!s.empty()) row_divisors_[weights.v.module()] = s;
    }
    if (weights.experts.empty()) {
      fold_into_norm(prefix + "post_attention_layernorm.weight", weights.post_attention_norm,
                     search({&weights.mlp.gate, &weights.mlp.up}));
      const std::vector<float> s = search({&weights.mlp.down});
      if (!s.empty()) row_divisors_[weights.mlp.up.module()] = s;
    } else {
      for (const MlpWeights& expert : weights.experts) {
        const std::vector<float> s = search({&expert.down});
        if (!s.empty()) row_divisors_[expert.up.module()] = s;
      }
    }
  }

  void ApplyAwqScales(const std::string& module, std::vector<float>& w, int64_t rows, int64_t cols) const {
    if (const auto it = row_divisors_.find(module); it != row_divisors_.end()) {
      for (int64_t r = 0; r < rows; ++r) {
        const float d = it->second[static_cast<size_t>(r)];
        for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(r * cols + c)] /= d;
      }
    }
    if (const auto it = column_scales_.find(module); it != column_scales_.end()) {
      ScaleWeightColumns(w.data(), rows, cols, it->second);
    }
  }

  // AutoAWQ's auto_clip: per (row, group), the clipping threshold that minimizes the group's output error on the
  // (scaled) calibration inputs. Skipped for q/k, whose outputs meet in q k^T (AutoAWQ does the same).
  void ClipForAwq(const std::string& module, const InputStats& stats, std::vector<float>& w, int64_t rows,
                  int64_t cols, const Int4Params& params) {
    if (module.ends_with(".q_proj") || module.ends_with(".k_proj") || stats.sample_rows == 0) return;
    std::vector<float> x = stats.samples;
    if (const auto it = column_scales_.find(module); it != column_scales_.end()) {
      DivideInputColumns(x.data(), stats.sample_rows, cols, it->second);
    }
    const std::vector<float> clip =
        SearchAwqClip(w.data(), rows, cols, x.data(), stats.sample_rows, params, AwqClipOptions{}, &pool_);
    ApplyAwqClip(w.data(), rows, cols, params.EffectiveGroupSize(cols), clip);
  }

  const Checkpoint& checkpoint_;
  const QuantScheme scheme_;
  const Transformer model_;
  ThreadPool& pool_;
  std::vector<std::vector<float>> hidden_;  // per sequence [tokens, hidden]: the next layer's input
  std::vector<int64_t> lengths_;
  int64_t tokens_ = 0;
  int64_t awq_stride_ = 1;
  size_t rtn_fallbacks_ = 0;
  std::unique_ptr<LayerInputRecorder> recorder_;
  std::map<std::string, std::vector<float>> dequantized_;     // module -> [rows, cols] of the current layer
  std::map<std::string, std::vector<float>> replaced_norms_;  // AWQ-folded norm weights of the current layer
  std::map<std::string, std::vector<float>> column_scales_;   // AWQ s per module (multiplies W's columns)
  std::map<std::string, std::vector<float>> row_divisors_;    // AWQ s of the next linear (divides W's rows)
};

}  // namespace

std::unique_ptr<LayerwiseQuantizer> NewLayerwiseInt4Quantizer(const Checkpoint& original, const QuantScheme& scheme,
                                                              std::vector<TokenSequence> sequences, ThreadPool& pool) {
  if (scheme.weight_type != WeightType::kInt4 || scheme.method == QuantMethod::kRtn) {
    Fail("internal: layer-wise quantization is for INT4 with --method gptq or awq");
  }
  return std::make_unique<LayerwiseInt4Quantizer>(original, scheme, std::move(sequences), pool);
}

}  // namespace octet
