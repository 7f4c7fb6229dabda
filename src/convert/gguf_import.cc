#include "convert/gguf_import.h"

#include <algorithm>
#include <cstring>
#include <fstream>

#include <fmt/format.h>

#include "convert/gguf_llama_layout.h"
#include "convert/gguf_tokenizer_files.h"
#include "io/gguf_reader.h"
#include "io/safetensors_writer.h"
#include "numeric/convert_rows.h"
#include "util/error.h"
#include "util/thread_pool.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

constexpr uint64_t kBandBytes = 4u << 20;

// One HF tensor to write and where its rows are in the GGUF.
struct ImportTensor {
  TensorSpec spec;
  const GgufTensorInfo* source = nullptr;
  int64_t first_row = 0;      // row of the GGUF tensor where this HF tensor starts (experts)
  int64_t permute_heads = 0;  // attn_q / attn_k: undo LlamaModel.permute with this many heads
};

int64_t Positive(const GgufFile& file, std::string_view key) {
  const uint64_t v = file.GetUint(key);
  if (v == 0 || v > (1u << 31)) Fail("{}: must be a positive integer no larger than 2^31, got {}", file.KeyContext(key), v);
  return static_cast<int64_t>(v);
}

DType ImportDType(const GgufFile& file, const GgufTensorInfo& t) {
  switch (t.type) {
    case GgmlType::kF32:
    case GgmlType::kQ8_0:
    case GgmlType::kQ4_0: return DType::kF32;
    case GgmlType::kF16: return DType::kF16;
    case GgmlType::kBF16: return DType::kBF16;
    default: break;
  }
  Fail("{}: tensor '{}' is {}; octet imports F32, F16, BF16, Q8_0 and Q4_0 GGUF tensors", file.path().string(),
       t.name, GgmlTypeName(t.type));
}

// An f32 metadata value as the shortest decimal that reads back as the same float ("1e-05", not
// 9.99999974737875e-06), which is how config.json spelled it before gguf-py narrowed it to f32.
std::optional<double> FindF32AsDecimal(const GgufFile& file, std::string_view key) {
  const std::optional<double> value = file.FindFloat(key);
  if (!value) return std::nullopt;
  return std::stod(fmt::format("{}", static_cast<float>(*value)));
}

// rope_freqs.weight holds Llama 3.1 rope factors, which the GGUF does not keep the parameters of. octet recognises
// the parameter sets Meta ships (factor 8 for Llama 3.1, 32 for Llama 3.2; low 1, high 4, original context 8192)
// by recomputing the factors exactly as the converter did, and refuses any other factors.
Json Llama3ScalingFor(const GgufFile& file, const GgufTensorInfo& freqs, const Json& config) {
  const int64_t head_dim = config.contains("head_dim") ? config["head_dim"].get<int64_t>()
                                                       : config["hidden_size"].get<int64_t>() /
                                                             config["num_attention_heads"].get<int64_t>();
  if (freqs.type != GgmlType::kF32 || freqs.ne.size() != 1 || freqs.ne[0] * 2 != head_dim) {
    Fail("{}: tensor 'rope_freqs.weight' is {} {}, expected F32 [{}]", file.path().string(), GgmlTypeName(freqs.type),
         ShapeToString(freqs.shape()), head_dim / 2);
  }
  std::vector<float> stored(static_cast<size_t>(freqs.ne[0]));
  std::memcpy(stored.data(), freqs.bytes.data(), stored.size() * sizeof(float));
  const double theta = config["rope_theta"].get<double>();
  for (const double factor : {8.0, 32.0}) {
    const Llama3RopeScaling scaling{theta, factor, 1.0, 4.0, 8192.0};
    if (Llama3RopeFactors(scaling, head_dim) == stored) {
      return {{"rope_type", "llama3"}, {"factor", factor}, {"low_freq_factor", 1.0}, {"high_freq_factor", 4.0},
              {"original_max_position_embeddings", 8192}};
    }
  }
  Fail("{}: tensor 'rope_freqs.weight' holds rope factors of no Llama 3 parameter set octet knows (factor 8 or 32, "
       "low 1, high 4, original context 8192), so they cannot be written as config.json's rope_scaling",
       file.path().string());
}

Json BuildConfig(const GgufFile& file) {
  const std::string arch = file.GetString("general.architecture");
  if (arch != "llama") {
    Fail("{}: general.architecture is '{}'; octet imports llama-architecture GGUFs (Llama, Mistral, Mixtral)",
         file.path().string(), arch);
  }
  const GgufTensorInfo* embed = file.FindTensor("token_embd.weight");
  if (embed == nullptr || embed->ne.size() != 2) Fail("{}: tensor 'token_embd.weight' is missing or not 2-D", file.path().string());
  const int64_t hidden = Positive(file, "llama.embedding_length");
  const int64_t heads = Positive(file, "llama.attention.head_count");
  const std::optional<uint64_t> kv_heads = file.FindUint("llama.attention.head_count_kv");
  const std::optional<uint64_t> key_length = file.FindUint("llama.attention.key_length");
  const std::optional<uint64_t> rope_dims = file.FindUint("llama.rope.dimension_count");
  const uint64_t experts = file.FindUint("llama.expert_count").value_or(0);
  Json c;
  c["architectures"] = {experts > 0 ? "MixtralForCausalLM" : "LlamaForCausalLM"};
  c["model_type"] = experts > 0 ? "mixtral" : "llama";
  c["hidden_size"] = hidden;
  c["intermediate_size"] = Positive(file, "llama.feed_forward_length");
  c["num_hidden_layers"] = Positive(file, "llama.block_count");
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = kv_heads.value_or(static_cast<uint64_t>(heads));
  if (key_length) {
    c["head_dim"] = *key_length;
  } else if (rope_dims && static_cast<int64_t>(*rope_dims) * heads != hidden) {
    c["head_dim"] = *rope_dims;
  }
  c["vocab_size"] = embed->ne[1];
  c["max_position_embeddings"] = file.FindUint("llama.context_length").value_or(2048);
  c["rms_norm_eps"] = FindF32AsDecimal(file, "llama.attention.layer_norm_rms_epsilon").value_or(1e-5);
  c["rope_theta"] = FindF32AsDecimal(file, "llama.rope.freq_base").value_or(10000.0);
  if (const std::optional<std::string> scaling = file.FindString("llama.rope.scaling.type");
      scaling && *scaling != "none") {
    if (*scaling != "linear") {
      Fail("{}: rope scaling '{}' cannot be expressed in config.json by octet", file.KeyContext("llama.rope.scaling.type"), *scaling);
    }
    file.GetFloat("llama.rope.scaling.factor");  // throws naming the key when it is absent or not a float
    c["rope_scaling"] = {{"rope_type", "linear"}, {"factor", *FindF32AsDecimal(file, "llama.rope.scaling.factor")}};
  } else {
    c["rope_scaling"] = nullptr;
  }
  if (const GgufTensorInfo* freqs = file.FindTensor("rope_freqs.weight")) c["rope_scaling"] = Llama3ScalingFor(file, *freqs, c);
  c["tie_word_embeddings"] = file.FindTensor("output.weight") == nullptr;
  if (experts > 0) {
    c["num_local_experts"] = experts;
    c["num_experts_per_tok"] = file.GetUint("llama.expert_used_count");
  }
  if (const auto bos = file.FindUint("tokenizer.ggml.bos_token_id")) c["bos_token_id"] = *bos;
  if (const auto eos = file.FindUint("tokenizer.ggml.eos_token_id")) c["eos_token_id"] = *eos;
  if (const std::optional<std::string> name = file.FindString("general.name"); name && !name->empty()) {
    c["_name_or_path"] = *name;  // so a re-export keeps the model's name (gguf_export.cc)
  }
  c["hidden_act"] = "silu";
  c["attention_bias"] = false;
  c["torch_dtype"] = "float32";
  return c;
}

std::vector<ImportTensor> Plan(const GgufFile& file, const Json& config) {
  const int64_t heads = config["num_attention_heads"].get<int64_t>();
  const int64_t kv_heads = config["num_key_value_heads"].get<int64_t>();
  std::vector<ImportTensor> out;
  for (const GgufTensorInfo& t : file.tensors()) {
    const DType dtype = ImportDType(file, t);
    const Shape shape = t.shape();
    if (const std::optional<std::string> hf = HfNameForGguf(t.name)) {
      ImportTensor it{{*hf, dtype, shape}, &t, 0, 0};
      const bool q = t.name.ends_with(".attn_q.weight");
      const bool k = t.name.ends_with(".attn_k.weight");
      if (q || k) {
        it.permute_heads = q ? heads : kv_heads;
        if (shape.size() != 2 || shape[0] % it.permute_heads != 0 || (shape[0] / it.permute_heads) % 2 != 0) {
          Fail("{}: tensor '{}' has shape {}, which {} heads of even size cannot split", file.path().string(),
               t.name, ShapeToString(shape), it.permute_heads);
        }
      }
      out.push_back(std::move(it));
    } else if (const auto expert = ParseGgufExpertName(t.name)) {
      if (shape.size() != 3) Fail("{}: tensor '{}' has shape {}; merged experts are 3-D", file.path().string(), t.name, ShapeToString(shape));
      for (int64_t e = 0; e < shape[0]; ++e) {
        out.push_back({{fmt::format("model.layers.{}.block_sparse_moe.experts.{}.w{}.weight", expert->first, e,
                                    expert->second),
                        dtype, {shape[1], shape[2]}},
                       &t, e * shape[1], 0});
      }
    } else if (t.name == "rope_freqs.weight") {
      continue;  // BuildConfig turned it into config.json's rope_scaling
    } else {
      Fail("{}: tensor '{}' is not part of llama.cpp's llama architecture as octet imports it", file.path().string(),
           t.name);
    }
  }
  return out;
}

struct Band {
  size_t tensor;
  int64_t row_begin;
  int64_t rows;
};

}  // namespace

bool IsGgufFile(const fs::path& path) {
  std::error_code error;
  if (!fs::is_regular_file(path, error)) return false;
  std::ifstream in(path, std::ios::binary);
  uint32_t magic = 0;
  in.read(reinterpret_cast<char*>(&magic), sizeof(magic));
  return in.gcount() == sizeof(magic) && magic == kGgufMagic;
}

GgufImportResult ImportGgufCheckpoint(const fs::path& gguf, const fs::path& dir, size_t threads) {
  const GgufFile file = GgufFile::Open(gguf);
  const Json config = BuildConfig(file);
  const std::vector<ImportTensor> tensors = Plan(file, config);

  std::vector<TensorSpec> specs;
  for (const ImportTensor& t : tensors) specs.push_back(t.spec);
  SafetensorsWriter writer(dir, specs);
  std::vector<Band> bands;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Shape& shape = tensors[i].spec.shape;
    const int64_t cols = shape.empty() ? 1 : shape.back();
    const int64_t rows = shape.size() >= 2 ? shape[0] : 1;
    const int64_t band_rows = std::max<int64_t>(1, static_cast<int64_t>(kBandBytes / (4 * static_cast<uint64_t>(cols))));
    for (int64_t r = 0; r < rows; r += band_rows) bands.push_back({i, r, std::min(band_rows, rows - r)});
  }
  ThreadPool pool(threads);
  pool.ParallelFor(bands.size(), [&](size_t b) {
    const Band& band = bands[b];
    const ImportTensor& t = tensors[band.tensor];
    const GgufTensorInfo& src = *t.source;
    const int64_t cols = src.ne[0];
    const int64_t rows = t.spec.shape.size() >= 2 ? t.spec.shape[0] : 1;
    const uint64_t src_row_bytes = GgmlRowBytes(src.type, cols);
    const size_t out_elem = DTypeBits(t.spec.dtype) / 8;
    std::vector<std::byte> out(static_cast<size_t>(band.rows * cols) * out_elem);
    std::vector<float> row(static_cast<size_t>(cols));
    for (int64_t r = 0; r < band.rows; ++r) {
      int64_t src_row = band.row_begin + r;
      if (t.permute_heads > 0) src_row = GgufRowForHfRow(src_row, rows, t.permute_heads);
      src_row += t.first_row;
      const std::span<const std::byte> bytes = src.bytes.subspan(static_cast<uint64_t>(src_row) * src_row_bytes, src_row_bytes);
      std::byte* dst = out.data() + static_cast<size_t>(r * cols) * out_elem;
      if (t.spec.dtype == DType::kF32) {
        DequantizeGgmlRow(src.type, bytes, row);
        const RangeScan scan = ScanRange(row.data(), row.size());
        if (scan.first_non_finite < row.size()) {
          Fail("{}: tensor '{}' decodes to a non-finite value ({}) at row {}, element {}", gguf.string(), src.name,
               row[scan.first_non_finite], src_row, scan.first_non_finite);
        }
        std::memcpy(dst, row.data(), row.size() * sizeof(float));
      } else {
        std::memcpy(dst, bytes.data(), bytes.size());  // F16 / BF16: bit for bit
      }
    }
    writer.Write(band.tensor, static_cast<uint64_t>(band.row_begin * cols) * out_elem, out);
  });
  writer.Finish();
  std::ofstream(dir / "config.json") << config.dump(2) << "\n";
  if (!fs::exists(dir / "config.json")) Fail("{}: cannot write config.json", dir.string());
  GgufImportResult result;
  result.config = nlohmann::json::parse(config.dump());
  result.tensors_written = tensors.size();
  const HfTokenizerWriteResult tokenizer = WriteHfTokenizerFiles(file, dir);
  result.tokenizer_written = tokenizer.written;
  result.tokenizer_note = tokenizer.note;
  for (const GgufKeyValue& kv : file.metadata()) {
    if (kv.key.rfind("tokenizer.", 0) == 0) result.tokenizer_keys.push_back(kv);
  }
  return result;
}

}  // namespace octet
