#include "convert/gguf_export.h"

#include <algorithm>
#include <chrono>
#include <cctype>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include <fmt/format.h>

#include "convert/gguf_llama_layout.h"
#include "convert/gguf_tokenizer_metadata.h"
#include "convert/progress.h"
#include "convert/weight_checks.h"
#include "io/checkpoint.h"
#include "io/gguf_writer.h"
#include "io/output_directory.h"
#include "models/architecture.h"
#include "models/model_config.h"
#include "quant/int4_group.h"
#include "quant/quant_error.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// Source bytes per band (as convert.cc): a fixed size, so band boundaries never depend on the thread count.
constexpr uint64_t kBandSourceBytes = 4u << 20;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsBlockType(GgmlType type) { return type == GgmlType::kQ4_0 || type == GgmlType::kQ8_0; }

// Q4_0 as an INT4 grid: ggml's d = max / -8 stored as F16, symmetric groups of 32 (quant/int4_group.h), the grid
// on which QuantizeRtn is quantize_row_q4_0_ref bit for bit.
Int4Params Q4_0Params() {
  Int4Params params;
  params.group_size = static_cast<int>(kGgmlBlockElements);
  params.symmetric = true;
  params.grid = Int4Grid::kGgmlQ4_0;
  params.scale_dtype = Int4ScaleDtype::kF16;
  return params;
}

std::string ModuleOf(const std::string& weight_name) {
  return EndsWith(weight_name, ".weight") ? weight_name.substr(0, weight_name.size() - 7) : weight_name;
}

// One GGUF tensor and where its rows come from.
struct ExportTensor {
  GgufTensorSpec spec;
  std::string source_name;                 // HF name (or "experts.*.wK" description) for reports
  std::vector<const TensorView*> sources;  // one, or one per expert (merged along the new outer dimension)
  int64_t rows_per_source = 1;
  int64_t permute_heads = 0;     // > 0: attn_q / attn_k, rows permuted with this many heads
  std::vector<float> generated;  // values of a tensor octet computes (rope_freqs)
  std::string reason;            // why the type differs from the file type, if it does
  int64_t layer = -1;            // decoder layer, or -1 outside the layers
  int64_t cols() const { return spec.ne[0]; }
  int64_t rows() const {
    int64_t r = 1;
    for (size_t i = 1; i < spec.ne.size(); ++i) r *= spec.ne[i];
    return r;
  }
};

struct Band {
  size_t tensor;
  int64_t row_begin;
  int64_t rows;
};

int64_t RequireInt(const nlohmann::json& config, const char* key, const std::string& source) {
  const auto it = config.find(key);
  if (it == config.end() || !it->is_number_integer()) Fail("{}: \"{}\" must be an integer", source, key);
  return it->get<int64_t>();
}

// The rope parameters as llama.cpp's converter sees them (TextModel.rope_parameters): transformers >= 5 keeps them
// in "rope_parameters" (rope_theta included), older configs in "rope_scaling" beside a top-level "rope_theta".
// Returns the scaling object (null when there is none) and sets `theta` when the config gives one.
nlohmann::json RopeParameters(const nlohmann::json& config, std::optional<double>& theta) {
  nlohmann::json params = nlohmann::json(nullptr);
  if (const auto it = config.find("rope_parameters"); it != config.end() && it->is_object()) {
    params = *it;
  } else if (const auto s = config.find("rope_scaling"); s != config.end() && s->is_object()) {
    params = *s;
  }
  theta.reset();
  if (params.is_object() && params.contains("rope_theta") && params["rope_theta"].is_number()) {
    theta = params["rope_theta"].get<double>();
  } else if (config.contains("rope_theta") && config["rope_theta"].is_number()) {
    theta = config["rope_theta"].get<double>();
  }
  return params;
}

std::string RopeType(const nlohmann::json& params) {
  if (!params.is_object()) return "";
  const auto type = params.find("rope_type");
  if (type != params.end() && type->is_string()) return type->get<std::string>();
  const auto legacy = params.find("type");
  return legacy != params.end() && legacy->is_string() ? legacy->get<std::string>() : "";
}

// Llama 3 rope factors from the config (the arithmetic is in gguf_llama_layout.cc).
std::vector<float> Llama3RopeFactorsFromConfig(const nlohmann::json& config, const nlohmann::json& scaling,
                                               int64_t head_dim) {
  std::optional<double> theta;
  RopeParameters(config, theta);
  // llama.cpp reads original_max_position_embeddings from its merged rope parameters; HF keeps it in rope_scaling.
  return Llama3RopeFactors({theta.value_or(10000.0), scaling.value("factor", 8.0), scaling.value("low_freq_factor", 1.0),
                            scaling.value("high_freq_factor", 4.0),
                            scaling.value("original_max_position_embeddings",
                                          config.value("original_max_position_embeddings", 8192.0))},
                           head_dim);
}

// Metadata as convert_hf_to_gguf writes it for LlamaModel (conversion/base.py TextModel.set_gguf_parameters,
// conversion/llama.py LlamaModel.set_gguf_parameters, prepare_metadata), in that order. gguf-py writes counts as
// u32 and rope_theta / rms_norm_eps as f32.
std::vector<GgufKeyValue> BuildMetadata(const Checkpoint& checkpoint, const ModelShape& shape, GgmlType file_type,
                                        const std::string& source, const std::vector<GgufKeyValue>* tokenizer_keys,
                                        std::string& tokenizer_note) {
  const nlohmann::json& c = checkpoint.config();
  std::vector<GgufKeyValue> kv;
  const auto u32 = [&](const std::string& key, int64_t value) {
    if (value < 0 || value > UINT32_MAX) Fail("{}: {} = {} does not fit GGUF's u32", source, key, value);
    kv.push_back({key, GgufValue::Uint32(static_cast<uint32_t>(value))});
  };
  const auto f32 = [&](const std::string& key, const char* config_key) {
    const auto it = c.find(config_key);
    if (it == c.end() || it->is_null()) return;
    if (!it->is_number()) Fail("{}: \"{}\" must be a number", source, config_key);
    kv.push_back({key, GgufValue::Float32(it->get<float>())});
  };
  kv.push_back({"general.architecture", GgufValue::String("llama")});
  kv.push_back({"general.type", GgufValue::String("model")});
  // general.name: gguf.Metadata derives it from config.json's _name_or_path or a model card, and falls back to the
  // model directory's name. octet uses the last component of _name_or_path when there is one (an imported GGUF
  // records its general.name there), else the directory's name; it does not emulate the model-card heuristics.
  fs::path dir = fs::absolute(checkpoint.dir()).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "model/" -> "model"
  std::string name = dir.filename().string();
  if (const auto it = c.find("_name_or_path"); it != c.end() && it->is_string() && !it->get<std::string>().empty()) {
    name = fs::path(it->get<std::string>()).filename().string();
  }
  kv.push_back({"general.name", GgufValue::String(name)});
  u32("llama.block_count", shape.num_layers);
  if (c.contains("max_position_embeddings")) u32("llama.context_length", RequireInt(c, "max_position_embeddings", source));
  u32("llama.embedding_length", shape.hidden_size);
  u32("llama.feed_forward_length", shape.intermediate_size);
  u32("llama.attention.head_count", shape.num_heads);
  if (c.contains("num_key_value_heads")) u32("llama.attention.head_count_kv", shape.num_kv_heads);
  std::optional<double> rope_theta;
  const nlohmann::json rope = RopeParameters(c, rope_theta);
  if (rope_theta) kv.push_back({"llama.rope.freq_base", GgufValue::Float32(static_cast<float>(*rope_theta))});
  f32("llama.attention.layer_norm_rms_epsilon", "rms_norm_eps");
  if (shape.num_experts > 0) {
    u32("llama.expert_count", shape.num_experts);
    u32("llama.expert_used_count", shape.num_experts_per_token);
  }
  if (c.contains("head_dim") && !c["head_dim"].is_null()) {
    u32("llama.attention.key_length", shape.head_dim);
    u32("llama.attention.value_length", shape.head_dim);
  }
  u32("general.file_type", LlamaFileTypeFor(file_type));
  u32("llama.vocab_size", shape.vocab_size);
  u32("llama.rope.dimension_count", shape.head_dim);
  if (const std::string type = RopeType(rope); type == "linear") {
    if (!rope.contains("factor") || !rope["factor"].is_number()) Fail("{}: rope_scaling needs a numeric factor", source);
    kv.push_back({"llama.rope.scaling.type", GgufValue::String("linear")});
    kv.push_back({"llama.rope.scaling.factor", GgufValue::Float32(rope["factor"].get<float>())});
  } else if (type != "llama3" && type != "default" && !type.empty()) {
    Fail("{}: rope_scaling type \"{}\" is not exported to GGUF (octet exports none, linear and llama3)", source, type);
  }
  kv.push_back({"general.quantization_version", GgufValue::Uint32(kGgmlQuantVersion)});
  GgufTokenizerMetadata tokenizer;
  if (tokenizer_keys != nullptr) {
    tokenizer.keys = *tokenizer_keys;
    tokenizer.note = fmt::format("carried: the source GGUF's {} tokenizer keys", tokenizer_keys->size());
  } else {
    tokenizer = BuildGgufTokenizerMetadata(checkpoint.dir(), checkpoint.config());
  }
  tokenizer_note = tokenizer.note;
  for (GgufKeyValue& key : tokenizer.keys) kv.push_back(std::move(key));
  return kv;
}

class Exporter {
 public:
  Exporter(const ConvertOptions& options, GgmlType file_type, const std::vector<GgufKeyValue>* tokenizer_keys)
      : options_(options), file_type_(file_type), tokenizer_keys_(tokenizer_keys) {}

  ConvertSummary Run() {
    const auto start = std::chrono::steady_clock::now();
    method_ = ResolveGgufMethod(options_, file_type_);
    const Checkpoint checkpoint = Checkpoint::Open(options_.model);
    const std::string source = (checkpoint.dir() / "config.json").string();
    if (!fs::exists(source)) Fail("{}: no config.json, so the architecture is unknown", checkpoint.dir().string());
    const Architecture& architecture = Architecture::ForConfig(checkpoint.config(), source);
    const ModelShape shape = ParseModelShape(checkpoint.config(), source);
    Plan(checkpoint, architecture, shape, source);
    std::string tokenizer_note;
    std::vector<GgufKeyValue> metadata = BuildMetadata(checkpoint, shape, file_type_, source, tokenizer_keys_, tokenizer_note);

    ThreadPool pool(options_.threads);
    // The calibration data is read (and checked) before the output file is created.
    std::unique_ptr<LayerwiseQuantizer> layerwise;
    if (method_ != QuantMethod::kRtn) {
      layerwise = options_.layerwise_quantizer(checkpoint, GgufQ4_0Scheme(method_), pool);
    }

    std::vector<GgufTensorSpec> specs;
    for (const ExportTensor& t : tensors_) specs.push_back(t.spec);
    if (options_.output.has_parent_path()) fs::create_directories(options_.output.parent_path());
    GgufWriter writer(options_.output, std::move(metadata), std::move(specs), options_.overwrite);
    uint64_t total_bytes = 0;
    for (const ExportTensor& t : tensors_) {
      for (const TensorView* s : t.sources) total_bytes += s->bytes.size();
    }
    Progress progress(Progress::DetectMode(options_.log, options_.quiet), options_.log, tensors_.size(), total_bytes);

    Sinks sinks{checkpoint, writer, progress, pool, std::vector<QuantError>(tensors_.size())};
    if (layerwise) {
      RunLayerwise(*layerwise, sinks);
    } else {
      std::vector<size_t> all(tensors_.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      RunBands(all, sinks);
    }
    writer.Finish();
    progress.Finish();

    ConvertSummary summary = Summarize(sinks.errors, tokenizer_note, layerwise.get());
    summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const auto& [key, value] : options_.report_notes.items()) summary.report[key] = value;
    WriteFileAtomically(GgufReportPath(options_.output), summary.report.dump(2) + "\n");
    if (!options_.quiet) Print(summary, tokenizer_note);
    return summary;
  }

 private:
  void Add(std::string gguf_name, std::vector<const TensorView*> sources, int64_t permute_heads,
           const std::string& source_name, bool tied, int64_t layer = -1) {
    ExportTensor t;
    t.layer = layer;
    const TensorView& first = *sources.front();
    std::vector<int64_t> shape = first.shape;
    if (sources.size() > 1) shape.insert(shape.begin(), static_cast<int64_t>(sources.size()));
    t.spec.name = std::move(gguf_name);
    t.spec.ne = GgufNeFromShape(shape);
    t.spec.type = ChooseGgufTensorType(t.spec.name, static_cast<int>(shape.size()), t.spec.ne[0], file_type_, tied,
                                       t.reason);
    t.rows_per_source = first.shape.size() >= 2 ? first.shape[0] : 1;
    t.sources = std::move(sources);
    t.permute_heads = permute_heads;
    t.source_name = source_name;
    tensors_.push_back(std::move(t));
  }

  void Plan(const Checkpoint& checkpoint, const Architecture& architecture, const ModelShape& shape,
            const std::string& source) {
    // Every expected tensor must be there with its shape (as PlanConversion checks); nothing unknown may be left
    // over (llama.cpp's converter stops with "Can not map tensor" likewise).
    std::set<std::string> expected_names;
    for (const ExpectedTensor& expected : architecture.ExpectedTensors(shape)) {
      const TensorView& view = checkpoint.Get(expected.name);
      if (view.shape != expected.shape) {
        Fail("{}: tensor '{}' has shape {} but config.json implies {}", view.file, expected.name,
             ShapeToString(view.shape), ShapeToString(expected.shape));
      }
      expected_names.insert(expected.name);
    }
    for (const TensorView& view : checkpoint.tensors()) {
      if (expected_names.count(view.name) || EndsWith(view.name, ".rotary_emb.inv_freq")) continue;
      Fail("{}: tensor '{}' has no GGUF name in llama.cpp's llama architecture; octet cannot export it", view.file,
           view.name);
    }
    const bool tied = checkpoint.Find("lm_head.weight") == nullptr;
    if (tied && !shape.tie_word_embeddings) {
      Fail("{}: lm_head.weight is missing and tie_word_embeddings is false", checkpoint.dir().string());
    }
    int64_t layer = -1;  // the decoder layer being planned
    const auto add_hf = [&](const std::string& hf_name, int64_t permute_heads = 0) {
      const std::optional<std::string> gguf_name = GgufNameForHf(hf_name);
      if (!gguf_name) Fail("internal: no GGUF name for '{}'", hf_name);
      Add(*gguf_name, {&checkpoint.Get(hf_name)}, permute_heads, hf_name, tied, layer);
    };
    if (shape.head_dim % 2 != 0) Fail("{}: head_dim {} is odd; rotary embeddings need an even one", source, shape.head_dim);
    add_hf("model.embed_tokens.weight");
    for (layer = 0; layer < shape.num_layers; ++layer) {
      const std::string p = fmt::format("model.layers.{}.", layer);
      add_hf(p + "input_layernorm.weight");
      add_hf(p + "self_attn.q_proj.weight", shape.num_heads);
      add_hf(p + "self_attn.k_proj.weight", shape.num_kv_heads);
      add_hf(p + "self_attn.v_proj.weight");
      add_hf(p + "self_attn.o_proj.weight");
      add_hf(p + "post_attention_layernorm.weight");
      if (architecture.is_moe()) {
        add_hf(p + "block_sparse_moe.gate.weight");
        for (int w : {1, 2, 3}) {
          std::vector<const TensorView*> experts;
          for (int64_t e = 0; e < shape.num_experts; ++e) {
            experts.push_back(&checkpoint.Get(fmt::format("{}block_sparse_moe.experts.{}.w{}.weight", p, e, w)));
          }
          Add(GgufExpertName(layer, w), std::move(experts), 0,
              fmt::format("{}block_sparse_moe.experts.*.w{}.weight", p, w), tied, layer);
        }
      } else {
        add_hf(p + "mlp.gate_proj.weight");
        add_hf(p + "mlp.up_proj.weight");
        add_hf(p + "mlp.down_proj.weight");
      }
    }
    layer = -1;
    add_hf("model.norm.weight");
    if (!tied) add_hf("lm_head.weight");
    std::optional<double> unused_theta;
    if (const nlohmann::json rope = RopeParameters(checkpoint.config(), unused_theta); RopeType(rope) == "llama3") {
      ExportTensor t;
      t.generated = Llama3RopeFactorsFromConfig(checkpoint.config(), rope, shape.head_dim);
      t.spec = {"rope_freqs.weight", GgmlType::kF32, {static_cast<int64_t>(t.generated.size())}};
      t.source_name = "(rope_scaling llama3 factors)";
      tensors_.push_back(std::move(t));
    }
  }

  // Where the bytes go, shared by the streaming and the layer-wise paths.
  struct Sinks {
    const Checkpoint& checkpoint;
    GgufWriter& writer;
    Progress& progress;
    ThreadPool& pool;
    std::vector<QuantError> errors;  // per tensor
  };

  // Tensors `indices`, every band of every one in parallel (the reference quantizers' streaming path).
  void RunBands(const std::vector<size_t>& indices, Sinks& sinks) const {
    const std::vector<Band> bands = MakeBands(indices);
    std::vector<QuantError> band_errors(bands.size());
    sinks.pool.ParallelFor(bands.size(), [&](size_t i) {
      RunBand(sinks.checkpoint, bands[i], sinks.writer, band_errors[i], sinks.progress);
    });
    for (size_t i = 0; i < bands.size(); ++i) sinks.errors[bands[i].tensor].Merge(band_errors[i]);
  }

  // --method gptq|awq: tensors outside the decoder layers stream as with rtn; then layer by layer, as convert.cc
  // drives the quantizer: BeginLayer, Quantize for every Q4_0 tensor of the layer, Replacement for the others
  // (written with the replaced values when there are some, streamed otherwise), EndLayer.
  void RunLayerwise(LayerwiseQuantizer& quantizer, Sinks& sinks) const {
    std::vector<size_t> outside;
    std::map<int64_t, std::vector<size_t>> by_layer;  // ordered: layer 0 first
    for (size_t i = 0; i < tensors_.size(); ++i) {
      (tensors_[i].layer < 0 ? outside : by_layer[tensors_[i].layer]).push_back(i);
    }
    RunBands(outside, sinks);
    for (const auto& [layer, indices] : by_layer) {
      quantizer.BeginLayer(layer);
      std::vector<size_t> plain;
      for (size_t i : indices) {
        if (tensors_[i].spec.type == GgmlType::kQ4_0) {
          QuantizeCalibrated(quantizer, i, sinks);
        } else if (!WriteReplacement(quantizer, i, sinks)) {
          plain.push_back(i);
        }
      }
      RunBands(plain, sinks);
      quantizer.EndLayer(layer);
    }
  }

  // Encodes source `s` of tensor `i` from its rows in Hugging Face order (`reference`, [rows_per_source, cols]):
  // `encode(hf_row, dst)` fills one GGUF row; rows are taken through the Q/K permutation, and the error of the
  // encoded rows against `reference` is added to `error`.
  template <typename EncodeRow>
  void WriteSource(size_t i, size_t s, const std::vector<float>& reference, const EncodeRow& encode,
                   Sinks& sinks) const {
    const ExportTensor& t = tensors_[i];
    const int64_t rows = t.rows_per_source;
    const int64_t cols = t.cols();
    const uint64_t row_bytes = GgmlRowBytes(t.spec.type, cols);
    std::vector<std::byte> out(static_cast<size_t>(row_bytes * static_cast<uint64_t>(rows)));
    std::vector<float> decoded(static_cast<size_t>(cols));
    for (int64_t g = 0; g < rows; ++g) {
      const int64_t hf_row = t.permute_heads > 0 ? HfRowForGgufRow(g, rows, t.permute_heads) : g;
      const std::span<std::byte> dst(out.data() + static_cast<uint64_t>(g) * row_bytes, row_bytes);
      encode(hf_row, dst);
      DequantizeGgmlRow(t.spec.type, dst, decoded);
      sinks.errors[i].AddScaled(reference.data() + hf_row * cols, decoded.data(), 1.0f, decoded.size());
    }
    sinks.writer.Write(i, s * static_cast<uint64_t>(rows) * row_bytes, out);
  }

  // A Q4_0 tensor of a decoder layer: each source matrix (one, or one per Mixtral expert) is quantized whole by
  // the layer-wise quantizer in Hugging Face row order (what the runtime, and so the quantizer's forward pass to
  // the next layer, sees), then packed into ggml blocks. The Q/K permutation only reorders rows, and every Q4_0
  // block lies within one row, so permuting the packed rows gives exactly the blocks of the permuted matrix.
  void QuantizeCalibrated(LayerwiseQuantizer& quantizer, size_t i, Sinks& sinks) const {
    const ExportTensor& t = tensors_[i];
    const int64_t rows = t.rows_per_source;
    const int64_t cols = t.cols();
    for (size_t s = 0; s < t.sources.size(); ++s) {
      const TensorView& view = *t.sources[s];
      std::vector<float> weight(static_cast<size_t>(rows * cols));
      DecodeWeightsChecked(view, 0, weight.size(), weight.data());
      const Int4Matrix m = quantizer.Quantize(ModuleOf(view.name), weight, rows, cols, Q4_0Params());
      if (m.rows != rows || m.cols != cols || m.grid != Int4Grid::kGgmlQ4_0 || m.group_size != kGgmlBlockElements ||
          !m.symmetric) {
        Fail("internal: the layer-wise quantizer returned a {}x{} g{} matrix not on the Q4_0 grid for '{}'", m.rows,
             m.cols, m.group_size, view.name);
      }
      const int64_t groups = m.num_groups();
      std::vector<uint8_t> nibbles(static_cast<size_t>(cols));
      WriteSource(i, s, weight, [&](int64_t hf_row, std::span<std::byte> dst) {
        for (int64_t c = 0; c < cols; ++c) {
          nibbles[static_cast<size_t>(c)] = static_cast<uint8_t>(m.codes[static_cast<size_t>(hf_row * cols + c)] + 8);
        }
        PackQ4_0Row(std::span<const float>(m.scales).subspan(static_cast<size_t>(hf_row * groups),
                                                              static_cast<size_t>(groups)),
                    nibbles, dst);
      }, sinks);
      sinks.checkpoint.Release(view);
      sinks.progress.Advance(0, view.bytes.size());
    }
    sinks.progress.Advance(1, 0);
  }

  // Writes tensor `i` with the quantizer's replacement values (AWQ's folded norms; a kept linear whose neighbour
  // AWQ rescaled) in the tensor's own type. False when the quantizer replaces none of its sources.
  bool WriteReplacement(LayerwiseQuantizer& quantizer, size_t i, Sinks& sinks) const {
    const ExportTensor& t = tensors_[i];
    std::vector<std::vector<float>> replaced(t.sources.size());
    bool any = false;
    for (size_t s = 0; s < t.sources.size(); ++s) {
      replaced[s] = quantizer.Replacement(t.sources[s]->name);
      if (replaced[s].empty()) continue;
      if (replaced[s].size() != t.sources[s]->num_elements()) {
        Fail("internal: replacement for '{}' has {} values, not {}", t.sources[s]->name, replaced[s].size(),
             t.sources[s]->num_elements());
      }
      any = true;
    }
    if (!any) return false;
    for (size_t s = 0; s < t.sources.size(); ++s) {
      const TensorView& view = *t.sources[s];
      if (replaced[s].empty()) {
        replaced[s].resize(view.num_elements());
        DecodeWeightsChecked(view, 0, replaced[s].size(), replaced[s].data());
      }
      const int64_t cols = t.cols();
      const std::vector<float>& values = replaced[s];
      WriteSource(i, s, values, [&](int64_t hf_row, std::span<std::byte> dst) {
        QuantizeGgmlRow(t.spec.type, std::span<const float>(values).subspan(static_cast<size_t>(hf_row * cols),
                                                                             static_cast<size_t>(cols)),
                        dst);
      }, sinks);
      sinks.progress.Advance(0, view.bytes.size());
    }
    sinks.progress.Advance(1, 0);
    return true;
  }

  std::vector<Band> MakeBands(const std::vector<size_t>& indices) const {
    std::vector<Band> bands;
    for (size_t i : indices) {
      const ExportTensor& t = tensors_[i];
      const uint64_t row_bytes = static_cast<uint64_t>(t.cols()) *
                                 (t.sources.empty() ? 4 : DTypeBits(t.sources.front()->dtype) / 8);
      const int64_t band_rows = static_cast<int64_t>(std::max<uint64_t>(1, kBandSourceBytes / std::max<uint64_t>(row_bytes, 1)));
      for (int64_t r = 0; r < t.rows(); r += band_rows) bands.push_back({i, r, std::min(band_rows, t.rows() - r)});
    }
    return bands;
  }

  void RunBand(const Checkpoint& checkpoint, const Band& band, GgufWriter& writer, QuantError& error,
               Progress& progress) const {
    const ExportTensor& t = tensors_[band.tensor];
    const int64_t cols = t.cols();
    const uint64_t row_bytes = GgmlRowBytes(t.spec.type, cols);
    std::vector<float> row(static_cast<size_t>(cols));
    std::vector<float> decoded(static_cast<size_t>(cols));
    std::vector<std::byte> out(static_cast<size_t>(row_bytes * static_cast<uint64_t>(band.rows)));
    uint64_t source_bytes = 0;
    for (int64_t r = 0; r < band.rows; ++r) {
      const int64_t out_row = band.row_begin + r;
      if (t.sources.empty()) {
        std::copy(t.generated.begin() + out_row * cols, t.generated.begin() + (out_row + 1) * cols, row.begin());
      } else {
        const TensorView& view = *t.sources[static_cast<size_t>(out_row / t.rows_per_source)];
        int64_t src_row = out_row % t.rows_per_source;
        if (t.permute_heads > 0) src_row = HfRowForGgufRow(src_row, t.rows_per_source, t.permute_heads);
        DecodeWeightsChecked(view, static_cast<uint64_t>(src_row * cols), static_cast<uint64_t>(cols), row.data());
        source_bytes += static_cast<uint64_t>(cols) * DTypeBits(view.dtype) / 8;
      }
      const std::span<std::byte> dst(out.data() + static_cast<uint64_t>(r) * row_bytes, row_bytes);
      QuantizeGgmlRow(t.spec.type, row, dst);
      if (t.spec.type != GgmlType::kF32) {
        DequantizeGgmlRow(t.spec.type, dst, decoded);
        error.AddScaled(row.data(), decoded.data(), 1.0f, row.size());
      } else {
        error.AddScaled(row.data(), row.data(), 1.0f, row.size());
      }
    }
    writer.Write(band.tensor, static_cast<uint64_t>(band.row_begin) * row_bytes, out);
    // Pages of the rows just read are not needed again (rows of one band map to nearby source rows).
    for (const TensorView* view : t.sources) {
      if (t.sources.size() == 1 && t.permute_heads == 0) {
        TensorView part = *view;
        const uint64_t src_row_bytes = static_cast<uint64_t>(cols) * DTypeBits(view->dtype) / 8;
        part.bytes = view->bytes.subspan(static_cast<uint64_t>(band.row_begin) * src_row_bytes,
                                         static_cast<uint64_t>(band.rows) * src_row_bytes);
        checkpoint.Release(part);
      }
    }
    const bool last = band.row_begin + band.rows == t.rows();
    progress.Advance(last ? 1 : 0, source_bytes);
  }

  ConvertSummary Summarize(const std::vector<QuantError>& errors, const std::string& tokenizer_note,
                           const LayerwiseQuantizer* layerwise) const {
    ConvertSummary summary;
    Json tensors = Json::array();
    Json fallbacks = Json::array();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      const ExportTensor& t = tensors_[i];
      const std::string dtype_in = t.sources.empty() ? "F32" : std::string(DTypeName(t.sources.front()->dtype));
      const std::string dtype_out = GgmlTypeName(t.spec.type);
      const bool quantized = IsBlockType(t.spec.type);
      const std::string action = quantized ? "quantized" : (dtype_in == dtype_out ? "copied" : "cast");
      summary.tensors.push_back({t.spec.name, action, dtype_in, dtype_out, errors[i].relative_rms(),
                                 errors[i].sqnr_db(), errors[i].max_abs_error});
      ++(quantized ? summary.tensors_quantized : summary.tensors_kept);
      for (const TensorView* s : t.sources) summary.bytes_in += s->bytes.size();
      summary.bytes_out += t.spec.byte_size();
      Json entry = {{"name", t.spec.name}, {"source", t.source_name}, {"type", dtype_out}, {"ne", t.spec.ne},
                    {"dtype_in", dtype_in}, {"action", action},
                    {"relative_rms_error", errors[i].relative_rms()},
                    {"sqnr_db", std::isfinite(errors[i].sqnr_db()) ? Json(errors[i].sqnr_db()) : Json(nullptr)},
                    {"max_abs_error", errors[i].max_abs_error}};
      if (t.permute_heads > 0) entry["rows_permuted_for_heads"] = t.permute_heads;
      if (!t.reason.empty()) {
        entry["type_reason"] = t.reason;
        fallbacks.push_back({{"name", t.spec.name}, {"type", dtype_out}, {"reason", t.reason}});
      }
      tensors.push_back(std::move(entry));
    }
    Json& report = summary.report;
    report["octet_version"] = "0.1.0";
    report["output_format"] = "gguf";
    report["file_type"] = GgmlTypeName(file_type_);
    report["general.file_type"] = LlamaFileTypeFor(file_type_);
    report["method"] = QuantMethodName(method_);
    report["calibration"] = layerwise != nullptr ? Json(layerwise->Description()) : Json(nullptr);
    report["tensors_quantized"] = summary.tensors_quantized;
    report["tensors_kept"] = summary.tensors_kept;
    report["bytes_in"] = summary.bytes_in;
    report["bytes_out"] = summary.bytes_out;
    report["tokenizer"] = tokenizer_note;
    report["type_choices"] = std::move(fallbacks);
    report["tensors"] = std::move(tensors);
    return summary;
  }

  void Print(const ConvertSummary& summary, const std::string& tokenizer_note) const {
    FILE* log = options_.log;
    fmt::print(log, "octet convert: {} -> {} (GGUF, {}, llama.cpp file type {})\n", options_.model.string(),
               options_.output.string(), GgmlTypeName(file_type_), LlamaFileTypeFor(file_type_));
    fmt::print(log, "  tensors: {} quantized, {} kept\n", summary.tensors_quantized, summary.tensors_kept);
    fmt::print(log, "  bytes:   {} -> {} ({:.2f}x smaller) in {:.1f} s\n", FormatBytes(summary.bytes_in),
               FormatBytes(summary.bytes_out),
               summary.bytes_out ? static_cast<double>(summary.bytes_in) / static_cast<double>(summary.bytes_out) : 0.0,
               summary.seconds);
    if (!summary.report["calibration"].is_null()) {
      fmt::print(log, "  method:  Q4_0 codes by {}\n", summary.report["calibration"].get<std::string>());
    }
    for (const auto& choice : summary.report["type_choices"]) {
      fmt::print(log, "  {} -> {}: {}\n", choice["name"].get<std::string>(), choice["type"].get<std::string>(),
                 choice["reason"].get<std::string>());
    }
    fmt::print(log, "  tokenizer: {}\n", tokenizer_note);
    fmt::print(log, "  report:  {}\n", GgufReportPath(options_.output).string());
  }

  const ConvertOptions& options_;
  GgmlType file_type_;
  const std::vector<GgufKeyValue>* tokenizer_keys_;
  QuantMethod method_ = QuantMethod::kRtn;
  std::vector<ExportTensor> tensors_;
};

}  // namespace

std::optional<GgmlType> ParseGgufFileType(std::string_view scheme) {
  std::string upper(scheme);
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (upper == "Q4_0") return GgmlType::kQ4_0;
  if (upper == "Q8_0") return GgmlType::kQ8_0;
  if (upper == "F16" || upper == "Q0F16") return GgmlType::kF16;
  if (upper == "BF16" || upper == "Q0BF16") return GgmlType::kBF16;
  if (upper == "F32" || upper == "Q0F32") return GgmlType::kF32;
  return std::nullopt;
}

GgmlType ChooseGgufTensorType(std::string_view gguf_name, int n_dims, int64_t ne0, GgmlType file_type, bool tied,
                              std::string& reason) {
  reason.clear();
  if (n_dims <= 1 || EndsWith(gguf_name, "_norm.weight")) return GgmlType::kF32;
  if (gguf_name.find("ffn_gate_inp.weight") != std::string_view::npos) {
    if (file_type != GgmlType::kF32) reason = "MoE router kept F32 (convert_hf_to_gguf forces FFN_GATE_INP to F32)";
    return GgmlType::kF32;
  }
  GgmlType type = file_type;
  const bool output = gguf_name == "output.weight" || (tied && gguf_name == "token_embd.weight");
  if (file_type == GgmlType::kQ4_0 && output) {
    type = GgmlType::kQ8_0;
    reason = tied && gguf_name == "token_embd.weight"
                 ? "tied embeddings/output head: llama-quantize gives it Q6_K; octet writes Q8_0 (no Q6_K encoder)"
                 : "output head: llama-quantize gives it Q6_K; octet writes Q8_0 (no Q6_K encoder)";
  }
  if (IsBlockType(type) && ne0 % kGgmlBlockElements != 0) {
    reason = fmt::format("row length {} is not a multiple of 32, so not {}: F16 (as convert_hf_to_gguf and "
                         "llama-quantize fall back)",
                         ne0, GgmlTypeName(type));
    type = GgmlType::kF16;
  }
  return type;
}

QuantMethod ResolveGgufMethod(const ConvertOptions& options, GgmlType file_type) {
  const SchemeOverrides& o = options.overrides;
  QuantMethod method = QuantMethod::kRtn;
  if (!o.method.empty()) {
    const std::optional<QuantMethod> parsed = ParseQuantMethod(o.method);
    if (!parsed) Fail("unknown --method '{}'; use rtn, gptq or awq", o.method);
    method = *parsed;
  }
  const std::string type = GgmlTypeName(file_type);
  if (o.group_size != 0 && o.group_size != kGgmlBlockElements) {
    Fail("--group-size {} does not apply to GGUF output: ggml's Q4_0 and Q8_0 blocks always hold 32 weights",
         o.group_size);
  }
  if (o.zero_point) {
    Fail("--zero-point does not apply to GGUF output: Q4_0 is symmetric (ggml's 4-bit type with a minimum is Q4_1, "
         "which octet does not write)");
  }
  if (!options.keep_rules.empty() || options.auto_mix_bits > 0) {
    Fail("--keep and --auto-mix do not apply to GGUF output: its per-tensor types follow llama.cpp's rules "
         "(--quantization {})",
         options.scheme);
  }
  if (method != QuantMethod::kRtn && file_type != GgmlType::kQ4_0) {
    Fail("--method {} chooses 4-bit codes from calibration data and applies to GGUF Q4_0 only; {} is written as "
         "llama.cpp does ({})",
         o.method, type, file_type == GgmlType::kQ8_0 ? "ggml's reference rounding" : "a plain cast");
  }
  if (method != QuantMethod::kRtn && !options.layerwise_quantizer) {
    Fail("--method {} chooses Q4_0 codes from calibration data: pass --calib-data TOKENS or --calib-text FILE (or "
         "--method rtn)",
         o.method);
  }
  if (method == QuantMethod::kRtn && (options.calibrator || options.layerwise_quantizer)) {
    Fail("--calib-data / --calib-text apply to GGUF output only with --method gptq or awq (for Q4_0); {} with "
         "--method rtn uses no calibration",
         type);
  }
  return method;
}

QuantScheme GgufQ4_0Scheme(QuantMethod method) {
  QuantScheme scheme;
  scheme.name = "Q4_0";
  scheme.quantize_linears = true;
  scheme.weight_type = WeightType::kInt4;
  scheme.activations = ActivationScheme::kNone;
  scheme.group_size = static_cast<int>(kGgmlBlockElements);
  scheme.symmetric = true;
  scheme.method = method;
  scheme.int4_grid = Int4Grid::kGgmlQ4_0;
  return scheme;
}

fs::path GgufReportPath(const fs::path& gguf_path) { return fs::path(gguf_path.string() + ".octet-report.json"); }

ConvertSummary ExportGguf(const ConvertOptions& options, GgmlType file_type,
                          const std::vector<GgufKeyValue>* tokenizer_keys) {
  return Exporter(options, file_type, tokenizer_keys).Run();
}

}  // namespace octet
