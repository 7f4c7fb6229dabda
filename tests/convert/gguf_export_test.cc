// GGUF export and import through `octet convert`, on the real aidreams260K model: every tensor name, type and ne and
// every metadata key/value against what llama.cpp's converter writes for this model (tables below, from
// ggml-org/llama.cpp conversion/llama.py, conversion/base.py, gguf-py vocab.py and src/llama-quant.cpp), block
// bytes against a scalar re-statement of ggml's reference quantizers on independently permuted rows, the F32 round
// trip GGUF -> checkpoint bit for bit, Mixtral's merged experts, the runtime's logits on an imported model, and
// the errors. llama.cpp itself cannot be downloaded here, so these field-by-field checks are the evidence that
// llama.cpp would load the files.
#include "convert/gguf_export.h"

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "convert/convert.h"
#include "convert/gguf_import.h"
#include "convert/gguf_tokenizer_metadata.h"
#include "io/checkpoint.h"
#include "io/gguf_reader.h"
#include "io/gguf_writer.h"
#include "numeric/half.h"
#include "runtime/mixtral_builder.h"
#include "runtime/scratch_checkpoint.h"
#include "runtime/transformer.h"
#include "convert_test_util.h"
#include "test_util.h"
#include "tokenizer/gguf_test_vocabularies.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"
#include "util/error.h"
#include "util/thread_pool.h"

#ifdef OCTET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

namespace octet {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testing::ReadFile;
using testing::ToFloats;

std::vector<float> RowsF32(const TensorView& view) {
  std::vector<float> values(view.num_elements());
  std::memcpy(values.data(), view.bytes.data(), view.bytes.size());  // aidreams260K is F32
  return values;
}

// LlamaModel.permute written as the numpy reshape/swapaxes it is: view [heads, 2, hd/2, cols], swap axes 1 and 2.
std::vector<float> PermuteLikeLlamaCpp(const std::vector<float>& w, int64_t rows, int64_t cols, int64_t heads) {
  const int64_t half = rows / heads / 2;
  std::vector<float> out(w.size());
  int64_t dst_row = 0;
  for (int64_t h = 0; h < heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {    // new axis 1 (was axis 2)
      for (int64_t s = 0; s < 2; ++s) {     // new axis 2 (was axis 1)
        const int64_t src_row = (h * 2 + s) * half + i;
        std::memcpy(&out[dst_row * cols], &w[src_row * cols], cols * sizeof(float));
        ++dst_row;
      }
    }
  }
  return out;
}

// ggml-quants.c quantize_row_q8_0_ref / quantize_row_q4_0_ref restated in scalar C++ for the test.
std::vector<uint8_t> RefQ8_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0;
    for (size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b + j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    const uint16_t h = EncodeF16(d);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
    for (size_t j = 0; j < 32; ++j) out.push_back(static_cast<uint8_t>(static_cast<int8_t>(std::roundf(x[b + j] * id))));
  }
  return out;
}
std::vector<uint8_t> RefQ4_0(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (size_t b = 0; b < x.size(); b += 32) {
    float amax = 0, max = 0;
    for (size_t j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[b + j])) {
        amax = std::fabs(x[b + j]);
        max = x[b + j];
      }
    }
    const float d = max / -8.0f;
    const float id = d ? 1.0f / d : 0.0f;
    const uint16_t h = EncodeF16(d);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
    for (size_t j = 0; j < 16; ++j) {
      const uint8_t lo = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x[b + j] * id + 8.5f)));
      const uint8_t hi = std::min<uint8_t>(15, static_cast<uint8_t>(static_cast<int8_t>(x[b + 16 + j] * id + 8.5f)));
      out.push_back(static_cast<uint8_t>(lo | (hi << 4)));
    }
  }
  return out;
}
std::vector<uint8_t> RefF16(const std::vector<float>& x) {
  std::vector<uint8_t> out;
  for (float v : x) {
    const uint16_t h = EncodeF16(v);
    out.push_back(static_cast<uint8_t>(h & 0xFF));
    out.push_back(static_cast<uint8_t>(h >> 8));
  }
  return out;
}
std::vector<uint8_t> Bytes(const GgufTensorInfo& t) {
  const auto* p = reinterpret_cast<const uint8_t*>(t.bytes.data());
  return {p, p + t.bytes.size()};
}

struct ExpectedTensorRow {
  std::string name;
  GgmlType type;
  std::vector<int64_t> ne;
  std::string hf;  // HF source
  int64_t permute_heads;
};

// What llama.cpp writes for aidreams260K (hidden 64, MLP 172, 4 layers, 4 heads of 16, vocab 512, tied
// embeddings): token_embd, per layer attn_norm/q/k/v/output, ffn_norm, ffn_gate/up/down, then output_norm; no
// output.weight. Types for `file_type`: norms F32; ffn_down (ne[0] = 172) F16 for block types; tied token_embd Q8_0
// for Q4_0 (llama-quantize: Q6_K, octet's documented substitute Q8_0).
std::vector<ExpectedTensorRow> AidreamsTable(GgmlType file_type) {
  const bool block = file_type == GgmlType::kQ4_0 || file_type == GgmlType::kQ8_0;
  const GgmlType embd = file_type == GgmlType::kQ4_0 ? GgmlType::kQ8_0 : file_type;
  std::vector<ExpectedTensorRow> rows = {{"token_embd.weight", embd, {64, 512}, "model.embed_tokens.weight", 0}};
  for (int l = 0; l < 4; ++l) {
    const std::string b = fmt::format("blk.{}.", l);
    const std::string m = fmt::format("model.layers.{}.", l);
    rows.push_back({b + "attn_norm.weight", GgmlType::kF32, {64}, m + "input_layernorm.weight", 0});
    rows.push_back({b + "attn_q.weight", file_type, {64, 64}, m + "self_attn.q_proj.weight", 4});
    rows.push_back({b + "attn_k.weight", file_type, {64, 64}, m + "self_attn.k_proj.weight", 4});
    rows.push_back({b + "attn_v.weight", file_type, {64, 64}, m + "self_attn.v_proj.weight", 0});
    rows.push_back({b + "attn_output.weight", file_type, {64, 64}, m + "self_attn.o_proj.weight", 0});
    rows.push_back({b + "ffn_norm.weight", GgmlType::kF32, {64}, m + "post_attention_layernorm.weight", 0});
    rows.push_back({b + "ffn_gate.weight", file_type, {64, 172}, m + "mlp.gate_proj.weight", 0});
    rows.push_back({b + "ffn_up.weight", file_type, {64, 172}, m + "mlp.up_proj.weight", 0});
    rows.push_back({b + "ffn_down.weight", block ? GgmlType::kF16 : file_type, {172, 64}, m + "mlp.down_proj.weight", 0});
  }
  rows.push_back({"output_norm.weight", GgmlType::kF32, {64}, "model.norm.weight", 0});
  return rows;
}

void ExpectTensorTable(const GgufFile& file, const std::vector<ExpectedTensorRow>& table) {
  ASSERT_EQ(file.tensors().size(), table.size());
  for (size_t i = 0; i < table.size(); ++i) {
    const GgufTensorInfo& t = file.tensors()[i];
    EXPECT_EQ(t.name, table[i].name);
    EXPECT_EQ(GgmlTypeName(t.type), GgmlTypeName(table[i].type)) << t.name;
    EXPECT_EQ(t.ne, table[i].ne) << t.name;
  }
}

// The source rows of one table entry as llama.cpp lays them out (permuted for q/k).
std::vector<float> LlamaCppRows(const Checkpoint& model, const ExpectedTensorRow& row) {
  const TensorView& view = model.Get(row.hf);
  std::vector<float> values = RowsF32(view);
  if (row.permute_heads > 0) values = PermuteLikeLlamaCpp(values, view.shape[0], view.shape[1], row.permute_heads);
  return values;
}

std::vector<uint8_t> Reference(GgmlType type, const std::vector<float>& rows) {
  switch (type) {
    case GgmlType::kQ8_0: return RefQ8_0(rows);
    case GgmlType::kQ4_0: return RefQ4_0(rows);
    case GgmlType::kF16: return RefF16(rows);
    default: {
      std::vector<uint8_t> out(rows.size() * 4);
      std::memcpy(out.data(), rows.data(), out.size());
      return out;
    }
  }
}

void ExpectData(const GgufFile& file, const Checkpoint& model, const std::vector<ExpectedTensorRow>& table) {
  for (const ExpectedTensorRow& row : table) {
    const GgufTensorInfo* t = file.FindTensor(row.name);
    ASSERT_NE(t, nullptr) << row.name;
    EXPECT_TRUE(Bytes(*t) == Reference(row.type, LlamaCppRows(model, row))) << row.name << " differs from ggml's reference";
  }
}

TEST(GgufExport, AidreamsQ8_0HasLlamaCppTensorsMetadataAndBlocks) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const fs::path out = scratch / "aidreams260K-Q8_0.gguf";
  const ConvertSummary summary = Convert(testing::QuietConvert(model_dir, out, "Q8_0"));
  const GgufFile file = GgufFile::Open(out);
  const Checkpoint model = Checkpoint::Open(model_dir);
  const auto table = AidreamsTable(GgmlType::kQ8_0);
  ExpectTensorTable(file, table);
  ExpectData(file, model, table);

  // Metadata: every key llama.cpp's converter writes for this model, with its GGUF value type, and nothing else.
  std::ifstream tokenizer_in(model_dir / "tokenizer.json");
  const nlohmann::json tokenizer = nlohmann::json::parse(tokenizer_in);
  std::vector<std::string> tokens(512);
  for (const auto& [text, id] : tokenizer["model"]["vocab"].items()) tokens[id.get<size_t>()] = text;
  std::vector<int32_t> types(512, 1);  // NORMAL
  for (int i = 0; i < 512; ++i) {
    if (tokens[i].size() == 6 && tokens[i].rfind("<0x", 0) == 0) types[i] = 6;  // BYTE
  }
  types[0] = types[1] = types[2] = 3;  // <unk> <s> </s>: special -> CONTROL
  // Scores (octet's choice, see gguf_tokenizer_metadata.h): -rank of the merge that forms the token, else 0.
  std::vector<float> scores(512, 0.0f);
  std::vector<bool> scored(512, false);
  const auto& merges = tokenizer["model"]["merges"];
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    std::string m = merges[rank].get<std::string>();
    m.erase(m.find(' '), 1);
    const size_t id = std::find(tokens.begin(), tokens.end(), m) - tokens.begin();
    ASSERT_LT(id, 512u) << m;
    if (!scored[id]) scores[id] = -static_cast<float>(rank), scored[id] = true;
  }
  const std::vector<GgufKeyValue> expected = {
      {"general.architecture", GgufValue::String("llama")},
      {"general.type", GgufValue::String("model")},
      {"general.name", GgufValue::String("aidreams260K")},
      {"llama.block_count", GgufValue::Uint32(4)},
      {"llama.context_length", GgufValue::Uint32(128)},
      {"llama.embedding_length", GgufValue::Uint32(64)},
      {"llama.feed_forward_length", GgufValue::Uint32(172)},
      {"llama.attention.head_count", GgufValue::Uint32(4)},
      {"llama.attention.head_count_kv", GgufValue::Uint32(4)},
      {"llama.rope.freq_base", GgufValue::Float32(10000.0f)},
      {"llama.attention.layer_norm_rms_epsilon", GgufValue::Float32(1e-5f)},
      {"llama.attention.key_length", GgufValue::Uint32(16)},
      {"llama.attention.value_length", GgufValue::Uint32(16)},
      {"general.file_type", GgufValue::Uint32(7)},  // LLAMA_FTYPE_MOSTLY_Q8_0
      {"llama.vocab_size", GgufValue::Uint32(512)},
      {"llama.rope.dimension_count", GgufValue::Uint32(16)},
      {"general.quantization_version", GgufValue::Uint32(2)},
      {"tokenizer.ggml.model", GgufValue::String("llama")},
      {"tokenizer.ggml.pre", GgufValue::String("default")},
      {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
      {"tokenizer.ggml.scores", GgufValue::Float32Array(scores)},
      {"tokenizer.ggml.token_type", GgufValue::Int32Array(types)},
      {"tokenizer.ggml.bos_token_id", GgufValue::Uint32(1)},
      {"tokenizer.ggml.eos_token_id", GgufValue::Uint32(2)},
      {"tokenizer.ggml.unknown_token_id", GgufValue::Uint32(0)},
      {"tokenizer.ggml.add_bos_token", GgufValue::Bool(true)},
      {"tokenizer.ggml.add_eos_token", GgufValue::Bool(false)},
  };
  ASSERT_EQ(file.metadata().size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(file.metadata()[i].key, expected[i].key);
    EXPECT_TRUE(file.metadata()[i].value == expected[i].value) << expected[i].key;
  }
  // 256 byte tokens in this vocab (llama2.c's tok512 layout: 3 specials, 256 bytes, 253 merges).
  EXPECT_EQ(std::count(types.begin(), types.end(), 6), 256);

  // The fallback is reported, in the summary and the sidecar report.
  EXPECT_EQ(summary.tensors_quantized, 1u + 4u * 6u);
  const nlohmann::json report = nlohmann::json::parse(ReadFile(GgufReportPath(out)));
  ASSERT_EQ(report["type_choices"].size(), 4u);
  EXPECT_EQ(report["type_choices"][0]["name"], "blk.0.ffn_down.weight");
  EXPECT_EQ(report["type_choices"][0]["type"], "F16");
}

// The exported vocabulary, read back the way llama.cpp reads it (octet's GGUF tokenizer implements llama-vocab.cpp),
// tokenizes aidreams260K's sample text to the ids its tokenizer.json gives.
TEST(GgufExport, ExportedVocabularyTokenizesLikeTheModel) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "v.gguf", "F32"));
  const auto tokenizer = LoadTokenizer(scratch / "v.gguf");
  std::ifstream texts(model_dir / "sample_text.txt");
  std::ifstream ids(model_dir / "sample_text_ids.txt");
  std::string text, id_line;
  int lines = 0, mismatches = 0;
  while (std::getline(texts, text) && std::getline(ids, id_line)) {
    std::vector<int32_t> expected;
    std::istringstream parse(id_line);
    for (int32_t id; parse >> id;) expected.push_back(id);
    ++lines;
    if (tokenizer->Encode(text, true) != expected) ++mismatches;
  }
  EXPECT_GT(lines, 0);
  EXPECT_EQ(mismatches, 0) << "of " << lines << " lines";
  // And the reference vectors from the tokenizers library (tests/tokenizer/data), BOS and no BOS.
  const auto cases = testing::ReadReferenceCases("aidreams260K");
  ASSERT_GE(cases.size(), 300u);
  for (const auto& c : cases) {
    EXPECT_EQ(tokenizer->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
  }
}

// Byte-level BPE tokenizer.json files (GPT-2, Llama 3, Qwen2 flavours in tests/tokenizer/data) carried as
// llama.cpp's _set_vocab_gpt2 does; read back with octet's GGUF tokenizer they match the tokenizers library.
class GgufByteLevelExport : public ::testing::TestWithParam<testing::gguf_vocab::ByteLevelCase> {};

TEST_P(GgufByteLevelExport, CarriedVocabularyTokenizesLikeTokenizersJs) {
  const auto& [name, pre] = GetParam();
  ScratchDir scratch;
  const fs::path source = testing::TokenizerDataDir() / (name + ".json");
  fs::copy_file(source, scratch / "tokenizer.json");
  const nlohmann::json root = nlohmann::json::parse(ReadFile(source));
  nlohmann::json config = nlohmann::json::object();
  for (const auto& added : root["added_tokens"]) {
    const std::string content = added["content"];
    if (content == "<|begin_of_text|>") config["bos_token_id"] = added["id"];
    if (content == "<|endoftext|>" || content == "<|end_of_text|>") config["eos_token_id"] = added["id"];
  }
  const GgufTokenizerMetadata metadata = BuildGgufTokenizerMetadata(scratch.path(), config);
  ASSERT_FALSE(metadata.keys.empty()) << metadata.note;
  std::vector<GgufKeyValue> kv = {{"general.architecture", GgufValue::String("llama")}};
  kv.insert(kv.end(), metadata.keys.begin(), metadata.keys.end());
  WriteGguf(scratch / "v.gguf", kv, {}, {});
  const GgufFile file = GgufFile::Open(scratch / "v.gguf");
  EXPECT_EQ(file.GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(file.GetString("tokenizer.ggml.pre"), pre);
  EXPECT_FALSE(file.Has("tokenizer.ggml.scores"));
  EXPECT_EQ(file.GetStringArray("tokenizer.ggml.merges").size(), root["model"]["merges"].size());
  const auto gguf = LoadTokenizer(scratch / "v.gguf");
  int compared = 0;
  for (const auto& c : testing::ReadReferenceCases(name)) {
    if (!c.nfc_inert) continue;  // Qwen2 normalizes with NFC; llama.cpp does not
    EXPECT_EQ(gguf->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(gguf->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    ++compared;
  }
  EXPECT_GE(compared, 260);
}

INSTANTIATE_TEST_SUITE_P(Flavours, GgufByteLevelExport,
                         ::testing::ValuesIn(testing::gguf_vocab::kByteLevelFlavours),
                         [](const auto& info) { return info.param.name; });

TEST(GgufExport, Q4_0BlocksEqualGgmlReferenceOnPermutedRowsAtAnyThreadCount) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "a.gguf", "q4_0", 1));
  Convert(testing::QuietConvert(model_dir, scratch / "b.gguf", "Q4_0", 3));
  EXPECT_TRUE(ReadFile(scratch / "a.gguf") == ReadFile(scratch / "b.gguf")) << "output depends on --threads";
  const GgufFile file = GgufFile::Open(scratch / "a.gguf");
  EXPECT_EQ(file.GetUint("general.file_type"), 2u);  // LLAMA_FTYPE_MOSTLY_Q4_0
  const auto table = AidreamsTable(GgmlType::kQ4_0);
  ExpectTensorTable(file, table);
  ExpectData(file, Checkpoint::Open(model_dir), table);
  const nlohmann::json report = nlohmann::json::parse(ReadFile(GgufReportPath(scratch / "a.gguf")));
  ASSERT_EQ(report["type_choices"].size(), 5u);  // token_embd Q8_0 + four ffn_down F16
  EXPECT_EQ(report["type_choices"][0]["name"], "token_embd.weight");
  EXPECT_EQ(report["type_choices"][0]["type"], "Q8_0");
}

TEST(GgufExport, F16AndBf16KeepNormsF32) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "h.gguf", "F16"));
  const GgufFile file = GgufFile::Open(scratch / "h.gguf");
  ExpectTensorTable(file, AidreamsTable(GgmlType::kF16));
  ExpectData(file, Checkpoint::Open(model_dir), AidreamsTable(GgmlType::kF16));
  EXPECT_EQ(file.GetUint("general.file_type"), 1u);
  ConvertOptions bf16 = testing::QuietConvert(model_dir, scratch / "bf16-out", "BF16");
  bf16.format = "gguf";  // a path without .gguf, GGUF chosen by --format
  Convert(bf16);
  const GgufFile b = GgufFile::Open(scratch / "bf16-out");
  ExpectTensorTable(b, AidreamsTable(GgmlType::kBF16));
  EXPECT_EQ(b.GetUint("general.file_type"), 32u);
}

// Export F32 then import: the inverse permutation restores HF's rows, so every tensor is bit-identical.
TEST(GgufExport, F32RoundTripThroughImportIsBitIdentical) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "f32.gguf", "F32"));
  const GgufFile file = GgufFile::Open(scratch / "f32.gguf");
  ExpectTensorTable(file, AidreamsTable(GgmlType::kF32));
  EXPECT_EQ(file.GetUint("general.file_type"), 0u);
  // The permutation really moved rows (else the round trip would prove nothing about it).
  EXPECT_FALSE(Bytes(*file.FindTensor("blk.0.attn_q.weight")) ==
               Reference(GgmlType::kF32, RowsF32(Checkpoint::Open(model_dir).Get("model.layers.0.self_attn.q_proj.weight"))));
  fs::create_directories(scratch / "imported");
  const GgufImportResult imported = ImportGgufCheckpoint(scratch / "f32.gguf", scratch / "imported", 2);
  const Checkpoint original = Checkpoint::Open(model_dir);
  const Checkpoint back = Checkpoint::Open(scratch / "imported");
  ASSERT_EQ(back.tensors().size(), original.tensors().size());
  for (const TensorView& t : original.tensors()) {
    const TensorView& u = back.Get(t.name);
    EXPECT_EQ(u.dtype, t.dtype) << t.name;
    EXPECT_EQ(u.shape, t.shape) << t.name;
    EXPECT_TRUE(std::equal(t.bytes.begin(), t.bytes.end(), u.bytes.begin(), u.bytes.end())) << t.name;
  }
  for (const char* key : {"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                          "num_key_value_heads", "head_dim", "vocab_size", "max_position_embeddings",
                          "tie_word_embeddings", "bos_token_id", "eos_token_id"}) {
    EXPECT_EQ(imported.config[key], original.config()[key]) << key;
  }
  EXPECT_EQ(imported.config["_name_or_path"], "aidreams260K");
  EXPECT_EQ(imported.config["rms_norm_eps"].get<double>(), 1e-5);  // the f32 key read back as config spelled it
  EXPECT_EQ(imported.config["rope_theta"].get<double>(), 10000.0);
}

// The runtime on the imported F32 checkpoint gives the original's logits exactly.
TEST(GgufImport, RuntimeLogitsOnImportedModelEqualTheOriginal) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "f32.gguf", "F32"));
  fs::create_directories(scratch / "imported");
  ImportGgufCheckpoint(scratch / "f32.gguf", scratch / "imported", 2);
  const Checkpoint original = Checkpoint::Open(model_dir);
  const Checkpoint imported = Checkpoint::Open(scratch / "imported");
  const Transformer a(original);
  const Transformer b(imported);
  ThreadPool pool(2);
  const std::vector<int32_t> tokens = {1, 300, 45, 200, 17, 411, 9, 128};
  KvCache cache_a = a.NewCache();
  KvCache cache_b = b.NewCache();
  const std::vector<float> la = a.Forward(tokens, cache_a, pool, LogitsFor::kAll);
  const std::vector<float> lb = b.Forward(tokens, cache_b, pool, LogitsFor::kAll);
  ASSERT_EQ(la.size(), tokens.size() * 512);
  EXPECT_TRUE(la == lb);
}

// GGUF in, octet FP8 out, through the CLI's Convert(): the scratch checkpoint is removed afterwards.
TEST(GgufImport, Q8_0GgufBecomesFp8Checkpoint) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "q8.gguf", "Q8_0"));
  Convert(testing::QuietConvert(scratch / "q8.gguf", scratch / "fp8", "fp8"));
  const Checkpoint fp8 = Checkpoint::Open(scratch / "fp8");
  EXPECT_EQ(fp8.Get("model.layers.0.self_attn.q_proj.weight").dtype, DType::kF8E4M3);
  EXPECT_EQ(fp8.Get("model.layers.0.mlp.down_proj.weight").dtype, DType::kF8E4M3);
  EXPECT_EQ(fp8.config()["quantization_config"]["quant_method"], "fp8");
  for (const auto& entry : fs::directory_iterator(scratch.path())) {
    EXPECT_EQ(entry.path().string().find("octet-gguf-import"), std::string::npos) << entry.path();
  }
  // Q8_0 dequantized: q_proj came back in HF order, within Q8_0's rounding of the original.
  fs::create_directories(scratch / "imported");
  ImportGgufCheckpoint(scratch / "q8.gguf", scratch / "imported", 1);
  const std::vector<float> original = RowsF32(Checkpoint::Open(model_dir).Get("model.layers.1.self_attn.k_proj.weight"));
  const std::vector<float> back = RowsF32(Checkpoint::Open(scratch / "imported").Get("model.layers.1.self_attn.k_proj.weight"));
  for (size_t i = 0; i < original.size(); i += 32) {
    float amax = 0;
    for (size_t j = i; j < i + 32; ++j) amax = std::max(amax, std::fabs(original[j]));
    // |x - F16(d) q| <= d/2 (rounding q) + 127 |d - F16(d)| <= d/2 + 127 d 2^-11, d = amax/127.
    const float d = amax / 127;
    for (size_t j = i; j < i + 32; ++j) ASSERT_LE(std::fabs(back[j] - original[j]), d * (0.5f + 127.0f / 2048) * 1.0001f) << j;
  }
}

// GGUF in, GGUF out: an F32 GGUF re-quantized to Q8_0 is the same file as the direct export (same name too).
TEST(GgufImport, GgufToGgufEqualsDirectExport) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "f32.gguf", "F32"));
  Convert(testing::QuietConvert(model_dir, scratch / "direct.gguf", "Q8_0"));
  Convert(testing::QuietConvert(scratch / "f32.gguf", scratch / "via.gguf", "Q8_0"));
  EXPECT_TRUE(ReadFile(scratch / "direct.gguf") == ReadFile(scratch / "via.gguf"));
}

TEST(GgufExport, MixtralExpertsAreMergedAndSplitBack) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const Checkpoint llama = Checkpoint::Open(model_dir);
  std::vector<float> router(3 * 64);
  for (size_t i = 0; i < router.size(); ++i) router[i] = std::sin(0.37f * static_cast<float>(i));
  fs::create_directories(scratch / "mixtral");
  testing::WriteMixtral(llama, scratch / "mixtral", 3, 2, router);
  Convert(testing::QuietConvert(scratch / "mixtral", scratch / "m.gguf", "Q8_0"));
  const GgufFile q8 = GgufFile::Open(scratch / "m.gguf");
  EXPECT_EQ(q8.GetUint("llama.expert_count"), 3u);
  EXPECT_EQ(q8.GetUint("llama.expert_used_count"), 2u);
  const std::map<std::string, std::pair<GgmlType, std::vector<int64_t>>> expected = {
      {"blk.2.ffn_gate_inp.weight", {GgmlType::kF32, {64, 3}}},
      {"blk.2.ffn_gate_exps.weight", {GgmlType::kQ8_0, {64, 172, 3}}},
      {"blk.2.ffn_down_exps.weight", {GgmlType::kF16, {172, 64, 3}}},
      {"blk.2.ffn_up_exps.weight", {GgmlType::kQ8_0, {64, 172, 3}}},
  };
  for (const auto& [name, type_ne] : expected) {
    const GgufTensorInfo* t = q8.FindTensor(name);
    ASSERT_NE(t, nullptr) << name;
    EXPECT_EQ(t->type, type_ne.first) << name;
    EXPECT_EQ(t->ne, type_ne.second) << name;
  }
  EXPECT_EQ(q8.FindTensor("blk.0.ffn_gate.weight"), nullptr);
  EXPECT_EQ(q8.tensors().size(), 1u + 4u * 10u + 1u);

  // Contents: F32 export holds torch.stack(dim=0) of the experts; importing splits it back bit for bit.
  Convert(testing::QuietConvert(scratch / "mixtral", scratch / "m32.gguf", "F32"));
  const GgufFile f32 = GgufFile::Open(scratch / "m32.gguf");
  const Checkpoint mixtral = Checkpoint::Open(scratch / "mixtral");
  std::vector<std::byte> stacked;
  for (int e = 0; e < 3; ++e) {
    const TensorView& w2 = mixtral.Get(fmt::format("model.layers.1.block_sparse_moe.experts.{}.w2.weight", e));
    stacked.insert(stacked.end(), w2.bytes.begin(), w2.bytes.end());
  }
  const GgufTensorInfo& down = *f32.FindTensor("blk.1.ffn_down_exps.weight");
  EXPECT_TRUE(std::equal(stacked.begin(), stacked.end(), down.bytes.begin(), down.bytes.end()));
  fs::create_directories(scratch / "back");
  const GgufImportResult imported = ImportGgufCheckpoint(scratch / "m32.gguf", scratch / "back", 2);
  EXPECT_EQ(imported.config["architectures"][0], "MixtralForCausalLM");
  EXPECT_EQ(imported.config["num_local_experts"], 3);
  EXPECT_EQ(imported.config["num_experts_per_tok"], 2);
  const Checkpoint back = Checkpoint::Open(scratch / "back");
  ASSERT_EQ(back.tensors().size(), mixtral.tensors().size());
  for (const TensorView& t : mixtral.tensors()) {
    const TensorView& u = back.Get(t.name);
    EXPECT_EQ(u.shape, t.shape) << t.name;
    EXPECT_TRUE(std::equal(t.bytes.begin(), t.bytes.end(), u.bytes.begin(), u.bytes.end())) << t.name;
  }
}

void ExpectError(const std::function<void()>& body, const std::string& fragment) {
  try {
    body();
    ADD_FAILURE() << "no error; expected one containing: " << fragment;
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

// stories260K has grouped-query attention (8 query heads, 4 KV heads of 8): attn_k is permuted with the KV head
// count (LlamaModel.permute's n_head_kv), and the round trip restores it.
TEST(GgufExport, GqaKeysArePermutedWithKvHeads) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "stories260K");
  ScratchDir scratch;
  Convert(testing::QuietConvert(model_dir, scratch / "s.gguf", "F32"));
  const GgufFile file = GgufFile::Open(scratch / "s.gguf");
  const Checkpoint model = Checkpoint::Open(model_dir);
  EXPECT_EQ(file.GetUint("llama.attention.head_count"), 8u);
  EXPECT_EQ(file.GetUint("llama.attention.head_count_kv"), 4u);
  EXPECT_EQ(file.GetUint("llama.rope.dimension_count"), 8u);
  for (int l = 0; l < 5; ++l) {
    const ExpectedTensorRow k = {fmt::format("blk.{}.attn_k.weight", l), GgmlType::kF32, {64, 32},
                                 fmt::format("model.layers.{}.self_attn.k_proj.weight", l), 4};
    const ExpectedTensorRow q = {fmt::format("blk.{}.attn_q.weight", l), GgmlType::kF32, {64, 64},
                                 fmt::format("model.layers.{}.self_attn.q_proj.weight", l), 8};
    EXPECT_EQ(file.FindTensor(k.name)->ne, k.ne);
    ExpectData(file, model, {k, q});
  }
  fs::create_directories(scratch / "back");
  ImportGgufCheckpoint(scratch / "s.gguf", scratch / "back", 3);
  const Checkpoint back = Checkpoint::Open(scratch / "back");
  for (const TensorView& t : model.tensors()) {
    const TensorView& u = back.Get(t.name);
    EXPECT_TRUE(std::equal(t.bytes.begin(), t.bytes.end(), u.bytes.begin(), u.bytes.end())) << t.name;
  }
}

#ifdef OCTET_HAVE_SENTENCEPIECE
// A directory with tokenizer.model: pieces, scores and types from the model, "[PADi]" up to config's vocab_size
// (_create_vocab_sentencepiece), special ids from config.json.
TEST(GgufExport, SentencePieceTokenizerIsCarried) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  fs::create_directories(scratch / "m");
  fs::copy_file(model_dir / "config.json", scratch / "m" / "config.json");
  fs::copy_file(model_dir / "model.safetensors", scratch / "m" / "model.safetensors");
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (model_dir / "sample_text.txt").string() + " --model_prefix=" + (scratch / "m" / "tokenizer").string() +
      " --vocab_size=500 --model_type=bpe --byte_fallback=true --character_coverage=1.0 --minloglevel=2");
  ASSERT_TRUE(status.ok()) << status.ToString();
  Convert(testing::QuietConvert(scratch / "m", scratch / "sp.gguf", "F16"));
  const GgufFile file = GgufFile::Open(scratch / "sp.gguf");
  sentencepiece::SentencePieceProcessor sp;
  ASSERT_TRUE(sp.Load((scratch / "m" / "tokenizer.model").string()).ok());
  const std::vector<std::string> tokens = file.GetStringArray("tokenizer.ggml.tokens");
  const std::vector<double> scores = file.GetFloatArray("tokenizer.ggml.scores");
  const std::vector<int64_t> types = file.GetIntArray("tokenizer.ggml.token_type");
  ASSERT_EQ(tokens.size(), 512u);
  ASSERT_EQ(scores.size(), 512u);
  ASSERT_EQ(types.size(), 512u);
  for (int i = 0; i < 500; ++i) {
    EXPECT_EQ(tokens[i], sp.IdToPiece(i));
    EXPECT_EQ(static_cast<float>(scores[i]), sp.GetScore(i));
    const int64_t type = sp.IsUnknown(i) ? 2 : sp.IsControl(i) ? 3 : sp.IsUnused(i) ? 5 : sp.IsByte(i) ? 6 : 1;
    EXPECT_EQ(types[i], type) << i;
  }
  EXPECT_EQ(types[0], 2);  // <unk>
  EXPECT_EQ(types[1], 3);  // <s>
  EXPECT_EQ(types[3], 6);  // <0x00>
  for (int i = 500; i < 512; ++i) {
    EXPECT_EQ(tokens[i], fmt::format("[PAD{}]", i));
    EXPECT_EQ(scores[i], -10000.0);
    EXPECT_EQ(types[i], 5);
  }
  EXPECT_EQ(file.GetString("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(file.GetUint("tokenizer.ggml.bos_token_id"), 1u);
  EXPECT_EQ(file.GetUint("tokenizer.ggml.eos_token_id"), 2u);
  EXPECT_FALSE(file.Has("tokenizer.ggml.add_bos_token"));  // no tokenizer_config.json to say
}
#endif

// rope_scaling llama3 (Llama 3.1): llama.cpp stores the per-frequency factors as rope_freqs.weight, F32 {hd/2};
// the expected values restate transformers' _compute_llama3_parameters (old inv_freq / new inv_freq) in double.
TEST(GgufExport, Llama3RopeScalingBecomesRopeFreqs) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  fs::create_directories(scratch / "m");
  fs::copy_file(model_dir / "model.safetensors", scratch / "m" / "model.safetensors");
  std::ifstream in(model_dir / "config.json");
  nlohmann::json config = nlohmann::json::parse(in);
  config["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                            {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 8192}};
  std::ofstream(scratch / "m" / "config.json") << config.dump(2);
  Convert(testing::QuietConvert(scratch / "m", scratch / "r.gguf", "F32"));
  const GgufFile file = GgufFile::Open(scratch / "r.gguf");
  const GgufTensorInfo* freqs = file.FindTensor("rope_freqs.weight");
  ASSERT_NE(freqs, nullptr);
  EXPECT_EQ(freqs->type, GgmlType::kF32);
  ASSERT_EQ(freqs->ne, (std::vector<int64_t>{8}));
  std::vector<float> got(8);
  std::memcpy(got.data(), freqs->bytes.data(), 32);
  int scaled = 0, kept = 0, smoothed = 0;
  for (int i = 0; i < 8; ++i) {
    const double inv_freq = 1.0 / std::pow(10000.0, 2.0 * i / 16.0);
    const double wavelen = 2 * M_PI / inv_freq;
    double expected = 1.0;
    if (wavelen > 8192.0) {
      expected = 8.0, ++scaled;
    } else if (wavelen >= 2048.0) {
      const double smooth = (8192.0 / wavelen - 1.0) / (4.0 - 1.0);
      expected = 1.0 / ((1 - smooth) / 8.0 + smooth), ++smoothed;
    } else {
      ++kept;
    }
    EXPECT_NEAR(got[i], expected, 1e-5 * expected) << i;
  }
  EXPECT_GT(scaled, 0);
  EXPECT_GT(kept, 0);
  EXPECT_GT(smoothed, 0);
  // Import recognises Meta's parameter set and writes it back as rope_scaling; other factors are refused.
  fs::create_directories(scratch / "back");
  const GgufImportResult back = ImportGgufCheckpoint(scratch / "r.gguf", scratch / "back", 1);
  EXPECT_EQ(back.config["rope_scaling"]["rope_type"], "llama3");
  EXPECT_EQ(back.config["rope_scaling"]["factor"], 8.0);
  EXPECT_EQ(back.config["rope_scaling"]["original_max_position_embeddings"], 8192);
  EXPECT_EQ(Checkpoint::Open(scratch / "back").Find("rope_freqs.weight"), nullptr);
  config["rope_scaling"]["high_freq_factor"] = 3.0;
  std::ofstream(scratch / "m" / "config.json") << config.dump(2);
  Convert(testing::QuietConvert(scratch / "m", scratch / "r3.gguf", "F32"));
  fs::create_directories(scratch / "back3");
  ExpectError([&] { ImportGgufCheckpoint(scratch / "r3.gguf", scratch / "back3", 1); }, "rope_freqs.weight");
}

// An untied model (its own lm_head): output.weight is written; in a Q4_0 file it is Q8_0 (llama-quantize: Q6_K)
// while token_embd stays Q4_0; import restores lm_head and tie_word_embeddings false.
TEST(GgufExport, UntiedOutputHead) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const Checkpoint llama = Checkpoint::Open(model_dir);
  testing::TensorSet set;
  for (const TensorView& t : llama.tensors()) set.Copy(t, t.name);
  std::vector<float> head = RowsF32(llama.Get("model.embed_tokens.weight"));
  for (size_t i = 0; i < head.size(); ++i) head[i] *= 0.5f + static_cast<float>(i % 7) / 8;
  set.AddF32("lm_head.weight", {512, 64}, head);
  nlohmann::json config = llama.config();
  config["tie_word_embeddings"] = false;
  fs::create_directories(scratch / "m");
  set.Write(scratch / "m", config);
  Convert(testing::QuietConvert(scratch / "m", scratch / "u.gguf", "Q4_0"));
  const GgufFile file = GgufFile::Open(scratch / "u.gguf");
  ASSERT_NE(file.FindTensor("output.weight"), nullptr);
  EXPECT_EQ(file.FindTensor("output.weight")->type, GgmlType::kQ8_0);
  EXPECT_EQ(file.FindTensor("output.weight")->ne, (std::vector<int64_t>{64, 512}));
  EXPECT_TRUE(Bytes(*file.FindTensor("output.weight")) == RefQ8_0(head));
  EXPECT_EQ(file.FindTensor("token_embd.weight")->type, GgmlType::kQ4_0);
  EXPECT_EQ(file.tensors().back().name, "output.weight");
  fs::create_directories(scratch / "back");
  const GgufImportResult back = ImportGgufCheckpoint(scratch / "u.gguf", scratch / "back", 1);
  EXPECT_EQ(back.config["tie_word_embeddings"], false);
  EXPECT_EQ(Checkpoint::Open(scratch / "back").Get("lm_head.weight").shape, (Shape{512, 64}));
}

// Hand-checked type policy cases beyond aidreams260K.
TEST(GgufExport, TensorTypePolicy) {
  std::string reason;
  EXPECT_EQ(ChooseGgufTensorType("output.weight", 2, 4096, GgmlType::kQ4_0, false, reason), GgmlType::kQ8_0);
  EXPECT_NE(reason.find("Q6_K"), std::string::npos);
  EXPECT_EQ(ChooseGgufTensorType("token_embd.weight", 2, 4096, GgmlType::kQ4_0, false, reason), GgmlType::kQ4_0);
  EXPECT_TRUE(reason.empty());
  EXPECT_EQ(ChooseGgufTensorType("output.weight", 2, 4096, GgmlType::kQ8_0, false, reason), GgmlType::kQ8_0);
  EXPECT_EQ(ChooseGgufTensorType("blk.0.ffn_down.weight", 2, 100, GgmlType::kQ4_0, false, reason), GgmlType::kF16);
  EXPECT_EQ(ChooseGgufTensorType("blk.0.ffn_down.weight", 2, 100, GgmlType::kBF16, false, reason), GgmlType::kBF16);
  EXPECT_EQ(ChooseGgufTensorType("blk.0.ffn_gate_inp.weight", 2, 64, GgmlType::kF16, false, reason), GgmlType::kF32);
  EXPECT_EQ(ChooseGgufTensorType("blk.0.attn_norm.weight", 1, 64, GgmlType::kBF16, false, reason), GgmlType::kF32);
  EXPECT_EQ(ParseGgufFileType("q8_0"), GgmlType::kQ8_0);
  EXPECT_EQ(ParseGgufFileType("q0bf16"), GgmlType::kBF16);
  EXPECT_EQ(ParseGgufFileType("Q4_K"), std::nullopt);
}

TEST(GgufConvertErrors, ImpossibleCombinationsAreRefusedClearly) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  ExpectError([&] { Convert(testing::QuietConvert(model_dir, scratch / "x.gguf", "fp8")); }, "cannot be written to GGUF");
  ExpectError([&] { Convert(testing::QuietConvert(model_dir, scratch / "dir", "Q4_0")); }, "is a llama.cpp (GGUF) type");
  ConvertOptions bad_format = testing::QuietConvert(model_dir, scratch / "y", "fp8");
  bad_format.format = "onnx";
  ExpectError([&] { Convert(bad_format); }, "--format onnx");
  ConvertOptions ignore = testing::QuietConvert(model_dir, scratch / "z.gguf", "Q8_0");
  ignore.ignore_globs = {"*.layers.0.*"};
  ExpectError([&] { Convert(ignore); }, "do not apply to GGUF output");
  EXPECT_FALSE(fs::exists(scratch / "x.gguf"));
  EXPECT_FALSE(fs::exists(scratch / "z.gguf.partial"));
  // The CLI prints one line and exits non-zero.
  const auto result = testing::RunCli(fmt::format("convert {} -q fp8 -o {}", model_dir.string(), (scratch / "c.gguf").string()));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_NE(result.output.find("cannot be written to GGUF"), std::string::npos) << result.output;
}

// NaN/Inf weights are refused with the converter's wording, naming the tensor and element; no file is left.
TEST(GgufConvertErrors, NonFiniteWeightIsRefused) {
  OCTET_REQUIRE_SHARED_MODEL(model_dir, "aidreams260K");
  ScratchDir scratch;
  const Checkpoint llama = Checkpoint::Open(model_dir);
  testing::TensorSet set;
  for (const TensorView& t : llama.tensors()) {
    if (t.name != "model.layers.2.mlp.up_proj.weight") {
      set.Copy(t, t.name);
      continue;
    }
    std::vector<float> values = RowsF32(t);
    values[5 * 64 + 7] = std::numeric_limits<float>::quiet_NaN();
    set.AddF32(t.name, t.shape, values);
  }
  fs::create_directories(scratch / "m");
  set.Write(scratch / "m", llama.config());
  ExpectError([&] { Convert(testing::QuietConvert(scratch / "m", scratch / "n.gguf", "Q8_0")); },
              "tensor 'model.layers.2.mlp.up_proj.weight' has a non-finite weight (nan) at element [5, 7]; octet "
              "refuses NaN/Inf weights");
  EXPECT_FALSE(fs::exists(scratch / "n.gguf"));
  EXPECT_FALSE(fs::exists(scratch / "n.gguf.partial"));
}

// A GGUF with `tensor` (type, ne) next to a minimal valid llama header.
void WriteSmallGguf(const fs::path& path, const std::string& arch, const GgufTensorSpec& tensor) {
  std::vector<GgufKeyValue> kv = {{"general.architecture", GgufValue::String(arch)},
                                  {"llama.block_count", GgufValue::Uint32(1)},
                                  {"llama.embedding_length", GgufValue::Uint32(256)},
                                  {"llama.feed_forward_length", GgufValue::Uint32(512)},
                                  {"llama.attention.head_count", GgufValue::Uint32(4)}};
  std::vector<GgufTensorSpec> specs = {{"token_embd.weight", GgmlType::kF32, {256, 8}}, tensor};
  std::vector<std::vector<std::byte>> storage;
  std::vector<std::span<const std::byte>> bytes;
  for (const GgufTensorSpec& spec : specs) storage.emplace_back(spec.byte_size());
  for (const auto& s : storage) bytes.emplace_back(s);
  WriteGguf(path, kv, specs, bytes);
}

TEST(GgufImportErrors, UnsupportedInputsNameTheProblem) {
  ScratchDir scratch;
  fs::create_directories(scratch / "out");
  WriteSmallGguf(scratch / "k.gguf", "llama", {"blk.0.attn_q.weight", GgmlType::kQ4_K, {256, 256}});
  ExpectError([&] { ImportGgufCheckpoint(scratch / "k.gguf", scratch / "out", 1); },
              "tensor 'blk.0.attn_q.weight' is Q4_K; octet imports F32, F16, BF16, Q8_0 and Q4_0");
  WriteSmallGguf(scratch / "g.gguf", "gpt2", {"blk.0.attn_q.weight", GgmlType::kF32, {256, 256}});
  ExpectError([&] { ImportGgufCheckpoint(scratch / "g.gguf", scratch / "out", 1); }, "general.architecture is 'gpt2'");
  WriteSmallGguf(scratch / "u.gguf", "llama", {"blk.0.mystery.weight", GgmlType::kF32, {256}});
  ExpectError([&] { ImportGgufCheckpoint(scratch / "u.gguf", scratch / "out", 1); }, "tensor 'blk.0.mystery.weight'");
  // A truncated GGUF is refused by the reader, through Convert, and leaves no output or scratch behind.
  const std::string whole = ReadFile(scratch / "k.gguf");
  std::ofstream(scratch / "t.gguf", std::ios::binary) << whole.substr(0, whole.size() / 2);
  ExpectError([&] { Convert(testing::QuietConvert(scratch / "t.gguf", scratch / "t-out", "fp8")); }, "t.gguf");
  EXPECT_FALSE(fs::exists(scratch / "t-out"));
  // A llama.cpp type with a directory output is refused before anything is imported.
  ExpectError([&] { Convert(testing::QuietConvert(scratch / "k.gguf", scratch / "k-out", "Q4_0")); }, "is a llama.cpp (GGUF) type");
  EXPECT_FALSE(fs::exists(scratch / "t-out.octet-gguf-import.partial"));
}

}  // namespace
}  // namespace octet
