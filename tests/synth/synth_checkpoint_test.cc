#include "synth/synth_checkpoint.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/checkpoint.h"
#include "numeric/convert_rows.h"
#include "numeric/half.h"
#include "synth/synth_spec.h"
#include "synth/weight_generator.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::octet::testing::ScratchDir;

SynthSummary Write(const SynthSpec& spec, const fs::path& dir, size_t threads = 2,
                   uint64_t max_shard_bytes = SafetensorsWriter::kDefaultMaxShardBytes) {
  SynthOptions options;
  options.threads = threads;
  options.max_shard_bytes = max_shard_bytes;
  return WriteSynthCheckpoint(spec, dir, options);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<float> ToF32(const TensorView& view) {
  std::vector<float> values(view.num_elements());
  DecodeToF32(view.dtype, view.bytes.data(), values.size(), values.data());
  return values;
}

// Median |x| / 0.6745: the std of the normal bulk, insensitive to the outliers.
double RobustStd(std::vector<float> values) {
  for (float& v : values) v = std::fabs(v);
  std::nth_element(values.begin(), values.begin() + values.size() / 2, values.end());
  return values[values.size() / 2] / 0.6745;
}

TEST(SynthCheckpointTest, TinyLlamaReadsBackWithHfNamesShapesAndConfig) {
  ScratchDir scratch;
  const SynthSpec spec = SynthPreset(SynthArch::kLlama, "tiny");
  const SynthSummary summary = Write(spec, scratch / "m");
  const Checkpoint checkpoint = Checkpoint::Open(scratch / "m");
  const size_t expected_tensors = 1 + static_cast<size_t>(spec.num_layers) * 9 + 2;
  EXPECT_EQ(checkpoint.tensors().size(), expected_tensors);
  EXPECT_EQ(summary.num_tensors, expected_tensors);
  EXPECT_LT(summary.tensor_bytes, 1'000'000u);
  EXPECT_EQ(checkpoint.TotalTensorBytes(), summary.tensor_bytes);

  const int64_t h = spec.hidden_size, f = spec.intermediate_size;
  const int64_t kv = spec.num_kv_heads * (h / spec.num_heads);
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"model.embed_tokens.weight", {spec.vocab_size, h}},
      {"model.layers.0.input_layernorm.weight", {h}},
      {"model.layers.0.post_attention_layernorm.weight", {h}},
      {"model.layers.0.self_attn.q_proj.weight", {h, h}},
      {"model.layers.0.self_attn.k_proj.weight", {kv, h}},
      {"model.layers.0.self_attn.v_proj.weight", {kv, h}},
      {"model.layers.0.self_attn.o_proj.weight", {h, h}},
      {"model.layers.1.mlp.gate_proj.weight", {f, h}},
      {"model.layers.1.mlp.up_proj.weight", {f, h}},
      {"model.layers.1.mlp.down_proj.weight", {h, f}},
      {"model.norm.weight", {h}},
      {"lm_head.weight", {spec.vocab_size, h}},
  };
  for (const auto& [name, shape] : expected) {
    const TensorView& view = checkpoint.Get(name);
    EXPECT_EQ(view.shape, shape) << name;
    EXPECT_EQ(view.dtype, DType::kBF16) << name;
  }

  const nlohmann::json& config = checkpoint.config();
  EXPECT_EQ(config["architectures"][0], "LlamaForCausalLM");
  EXPECT_EQ(config["model_type"], "llama");
  EXPECT_EQ(config["hidden_size"], h);
  EXPECT_EQ(config["intermediate_size"], f);
  EXPECT_EQ(config["num_hidden_layers"], spec.num_layers);
  EXPECT_EQ(config["num_attention_heads"], spec.num_heads);
  EXPECT_EQ(config["num_key_value_heads"], spec.num_kv_heads);
  EXPECT_EQ(config["vocab_size"], spec.vocab_size);
  EXPECT_EQ(config["tie_word_embeddings"], false);
  EXPECT_EQ(config["torch_dtype"], "bfloat16");
  EXPECT_TRUE(config.contains("rms_norm_eps"));
  EXPECT_TRUE(config.contains("rope_theta"));
  EXPECT_TRUE(config.contains("max_position_embeddings"));
  EXPECT_EQ(config["bos_token_id"], 1);
  EXPECT_EQ(config["eos_token_id"], 2);
  EXPECT_FALSE(fs::exists(scratch / "m.partial"));
}

TEST(SynthCheckpointTest, TinyMixtralHasRouterAndExperts) {
  ScratchDir scratch;
  SynthSpec spec = SynthPreset(SynthArch::kMixtral, "tiny");
  spec.dtype = DType::kF16;
  Write(spec, scratch / "m");
  const Checkpoint checkpoint = Checkpoint::Open(scratch / "m");
  const int64_t h = spec.hidden_size, f = spec.intermediate_size, e = spec.num_experts;
  EXPECT_EQ(checkpoint.tensors().size(), static_cast<size_t>(1 + spec.num_layers * (4 + 1 + 3 * e + 2) + 2));
  EXPECT_EQ(checkpoint.Get("model.layers.0.block_sparse_moe.gate.weight").shape, (Shape{e, h}));
  for (int64_t expert = 0; expert < e; ++expert) {
    const std::string p = "model.layers.1.block_sparse_moe.experts." + std::to_string(expert) + ".";
    EXPECT_EQ(checkpoint.Get(p + "w1.weight").shape, (Shape{f, h}));
    EXPECT_EQ(checkpoint.Get(p + "w2.weight").shape, (Shape{h, f}));
    EXPECT_EQ(checkpoint.Get(p + "w3.weight").shape, (Shape{f, h}));
    EXPECT_EQ(checkpoint.Get(p + "w3.weight").dtype, DType::kF16);
  }
  EXPECT_EQ(checkpoint.Find("model.layers.0.mlp.gate_proj.weight"), nullptr);
  const nlohmann::json& config = checkpoint.config();
  EXPECT_EQ(config["architectures"][0], "MixtralForCausalLM");
  EXPECT_EQ(config["model_type"], "mixtral");
  EXPECT_EQ(config["num_local_experts"], e);
  EXPECT_EQ(config["num_experts_per_tok"], spec.num_experts_per_token);
  EXPECT_EQ(config["torch_dtype"], "float16");
}

TEST(SynthCheckpointTest, ByteIdenticalAtAnyThreadCountAndAcrossRuns) {
  ScratchDir scratch;
  SynthSpec spec = SynthPreset(SynthArch::kMixtral, "tiny");
  spec.seed = 7;
  // 100 kB shards: several shards and an index, and chunks that split rows of the biggest tensors.
  constexpr uint64_t kShard = 100'000;
  const SynthSummary one = Write(spec, scratch / "t1", 1, kShard);
  Write(spec, scratch / "t2", 2, kShard);
  Write(spec, scratch / "t3", 3, kShard);
  Write(spec, scratch / "again", 2, kShard);
  ASSERT_GT(one.files.size(), 3u) << "expected several shards";
  EXPECT_TRUE(fs::exists(scratch / "t1" / "model.safetensors.index.json"));
  for (const std::string& file : one.files) {
    const std::string reference = ReadFile(scratch / "t1" / file);
    ASSERT_FALSE(reference.empty()) << file;
    for (const char* other : {"t2", "t3", "again"}) {
      EXPECT_TRUE(ReadFile(scratch / other / file) == reference) << other << "/" << file << " differs";
    }
  }
  // Another seed gives other values.
  spec.seed = 8;
  Write(spec, scratch / "seed8", 2, kShard);
  EXPECT_NE(ReadFile(scratch / "seed8" / one.files[0]), ReadFile(scratch / "t1" / one.files[0]));
}

TEST(SynthCheckpointTest, GeneratorSlicesEqualTheWholeTensor) {
  const SynthTensor tensor{"model.layers.3.mlp.down_proj.weight", {37, 53}, SynthInit::kLinear};
  const WeightGenerator generator(tensor, 11);
  std::vector<float> whole(generator.num_elements());
  generator.Fill(0, whole.size(), whole.data());
  for (uint64_t first : {0u, 1u, 52u, 53u, 54u, 1000u}) {
    for (uint64_t count : {1u, 2u, 3u, 106u, 500u}) {
      if (first + count > whole.size()) continue;
      std::vector<float> part(count);
      generator.Fill(first, count, part.data());
      EXPECT_TRUE(std::equal(part.begin(), part.end(), whole.begin() + static_cast<ptrdiff_t>(first)))
          << "first " << first << " count " << count;
    }
  }
}

TEST(SynthCheckpointTest, StatisticsLookLikeTrainedWeights) {
  ScratchDir scratch;
  SynthSpec spec = SynthPreset(SynthArch::kLlama, "tiny");
  spec.hidden_size = 256;
  spec.intermediate_size = 512;
  spec.num_layers = 1;
  spec.dtype = DType::kF32;
  Write(spec, scratch / "m");
  const Checkpoint checkpoint = Checkpoint::Open(scratch / "m");

  for (const char* name : {"model.layers.0.mlp.gate_proj.weight", "model.layers.0.mlp.down_proj.weight",
                           "model.layers.0.self_attn.q_proj.weight"}) {
    const TensorView& view = checkpoint.Get(name);
    const std::vector<float> w = ToF32(view);
    const double target = 1.0 / std::sqrt(static_cast<double>(view.cols()));
    const double bulk = RobustStd(w);
    EXPECT_GT(bulk, 0.8 * target) << name;
    EXPECT_LT(bulk, 1.25 * target) << name;
    float max_abs = 0;
    for (float v : w) max_abs = std::max(max_abs, std::fabs(v));
    EXPECT_GT(max_abs / bulk, 15.0) << name << ": no outliers";

    // The outlier input channels are much larger than the median channel.
    const int64_t rows = view.rows(), cols = view.cols();
    std::vector<float> column_rms(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      for (int64_t r = 0; r < rows; ++r) sum += double(w[r * cols + c]) * w[r * cols + c];
      column_rms[c] = static_cast<float>(std::sqrt(sum / rows));
    }
    std::vector<float> sorted = column_rms;
    std::sort(sorted.begin(), sorted.end());
    const float median = sorted[sorted.size() / 2];
    const size_t outliers = std::count_if(column_rms.begin(), column_rms.end(), [&](float v) { return v > 8 * median; });
    EXPECT_GE(outliers, 1u) << name;
    EXPECT_LE(outliers, static_cast<size_t>(cols / 50 + 1)) << name;
  }

  const std::vector<float> norm = ToF32(checkpoint.Get("model.layers.0.input_layernorm.weight"));
  double mean = 0;
  for (float v : norm) mean += v;
  mean /= norm.size();
  EXPECT_NEAR(mean, 1.0, 0.02);
  for (float v : norm) EXPECT_NEAR(v, 1.0, 0.4);

  const std::vector<float> embed = ToF32(checkpoint.Get("model.embed_tokens.weight"));
  double sq = 0;
  for (float v : embed) sq += double(v) * v;
  EXPECT_NEAR(std::sqrt(sq / embed.size()), 0.02, 0.002);
}

TEST(SynthCheckpointTest, HalfPrecisionFilesAreTheRoundedF32File) {
  ScratchDir scratch;
  SynthSpec spec = SynthPreset(SynthArch::kLlama, "tiny");
  spec.seed = 3;
  spec.dtype = DType::kF32;
  Write(spec, scratch / "f32");
  spec.dtype = DType::kBF16;
  Write(spec, scratch / "bf16", 1);
  spec.dtype = DType::kF16;
  Write(spec, scratch / "f16", 3);
  const Checkpoint f32 = Checkpoint::Open(scratch / "f32");
  const Checkpoint bf16 = Checkpoint::Open(scratch / "bf16");
  const Checkpoint f16 = Checkpoint::Open(scratch / "f16");
  for (const TensorView& view : f32.tensors()) {
    const std::vector<float> values = ToF32(view);
    const TensorView& b = bf16.Get(view.name);
    const TensorView& h = f16.Get(view.name);
    ASSERT_EQ(b.num_elements(), values.size());
    size_t mismatches = 0;
    for (size_t i = 0; i < values.size(); ++i) {
      uint16_t b_bits, h_bits;
      std::memcpy(&b_bits, b.bytes.data() + 2 * i, 2);
      std::memcpy(&h_bits, h.bytes.data() + 2 * i, 2);
      mismatches += b_bits != EncodeBF16(values[i]);
      mismatches += h_bits != EncodeF16(values[i]);
    }
    EXPECT_EQ(mismatches, 0u) << view.name;
  }
}

TEST(SynthCheckpointTest, RefusesImpossibleShapesAndExistingOutput) {
  ScratchDir scratch;
  SynthSpec spec = SynthPreset(SynthArch::kLlama, "tiny");
  spec.num_heads = 5;
  EXPECT_THROW(Write(spec, scratch / "a"), Error);
  spec = SynthPreset(SynthArch::kLlama, "tiny");
  spec.num_kv_heads = 3;
  EXPECT_THROW(Write(spec, scratch / "a"), Error);
  spec = SynthPreset(SynthArch::kLlama, "tiny");
  spec.num_experts = 4;
  EXPECT_THROW(Write(spec, scratch / "a"), Error);
  spec = SynthPreset(SynthArch::kMixtral, "tiny");
  spec.num_experts_per_token = 9;
  EXPECT_THROW(Write(spec, scratch / "a"), Error);
  EXPECT_THROW(SynthPreset(SynthArch::kLlama, "huge"), Error);
  EXPECT_THROW(ParseSynthArch("gpt2"), Error);

  spec = SynthPreset(SynthArch::kLlama, "tiny");
  Write(spec, scratch / "m");
  EXPECT_THROW(Write(spec, scratch / "m"), Error);
  SynthOptions overwrite;
  overwrite.overwrite = true;
  EXPECT_NO_THROW(WriteSynthCheckpoint(spec, scratch / "m", overwrite));
}

TEST(SynthCheckpointTest, PresetsHaveTheAdvertisedSizes) {
  auto bytes = [](SynthArch arch, const char* preset) {
    const SynthSpec spec = SynthPreset(arch, preset);
    ValidateSynthSpec(spec);
    uint64_t total = 0;
    for (const SynthTensor& t : SynthTensors(spec)) total += NumElements(t.shape) * 2;  // BF16
    return total;
  };
  for (SynthArch arch : {SynthArch::kLlama, SynthArch::kMixtral}) {
    EXPECT_LT(bytes(arch, "tiny"), 1'000'000u);
    EXPECT_GE(bytes(arch, "small"), 5'000'000u);
    EXPECT_LE(bytes(arch, "small"), 30'000'000u);
    EXPECT_GE(bytes(arch, "1b"), 1'500'000'000u);
    EXPECT_GE(bytes(arch, "4gb"), 4'000'000'000u);
    EXPECT_LT(bytes(arch, "4gb"), 5'000'000'000u);
    EXPECT_GE(bytes(arch, "8gb"), 8'000'000'000u);
    EXPECT_LT(bytes(arch, "8gb"), 10'000'000'000u);
  }
}

TEST(SynthCliTest, WritesACheckpointAndReportsErrors) {
  ScratchDir scratch;
  const auto ok = ::octet::testing::RunCli("synth --arch mixtral --preset tiny --dtype f32 --seed 5 --threads 2 -o " +
                                           (scratch / "m").string());
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("tensors"), std::string::npos) << ok.output;
  const Checkpoint checkpoint = Checkpoint::Open(scratch / "m");
  EXPECT_EQ(checkpoint.config()["torch_dtype"], "float32");

  const auto sharded = ::octet::testing::RunCli("synth --preset tiny --hidden 128 --heads 4 --kv-heads 4 "
                                                "--max-shard-size 100kB -o " + (scratch / "s").string());
  ASSERT_EQ(sharded.exit_code, 0) << sharded.output;
  EXPECT_TRUE(fs::exists(scratch / "s" / "model.safetensors.index.json"));
  EXPECT_EQ(Checkpoint::Open(scratch / "s").config()["hidden_size"], 128);

  for (const std::string bad : {"--preset gigantic", "--arch gpt2", "--dtype f8", "--max-shard-size 5XB",
                                "--heads 3", "--experts 4"}) {
    const auto result = ::octet::testing::RunCli("synth " + bad + " -o " + (scratch / "bad").string());
    EXPECT_EQ(result.exit_code, 1) << bad << ": " << result.output;
    EXPECT_NE(result.output.find("octet: error: --"), std::string::npos) << bad << ": " << result.output;
  }
  EXPECT_FALSE(fs::exists(scratch / "bad"));
}

}  // namespace
}  // namespace octet
