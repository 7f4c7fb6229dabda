// Mixtral conversion on a synthetic checkpoint: a scale per expert (w1/w3 of one expert sharing it, as vLLM's
// fused w13 needs), the router kept, and static input scales shared across a layer's experts.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <set>

#include <gtest/gtest.h>

#include "calib/layerwise_int4.h"
#include "convert/convert.h"
#include "io/checkpoint.h"
#include "numeric/convert_rows.h"
#include "runtime/transformer.h"
#include "synth/synth_checkpoint.h"
#include "test_util.h"

namespace octet {
namespace {

namespace fs = std::filesystem;

float ScalarOf(const Checkpoint& c, const std::string& name) {
  const TensorView& v = c.Get(name);
  EXPECT_EQ(v.num_elements(), 1u) << name;
  float value = 0;
  DecodeToF32(v.dtype, v.bytes.data(), 1, &value);
  return value;
}

class ConvertMixtralTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SynthSpec spec = SynthPreset(SynthArch::kMixtral, "tiny");
    spec.seed = 11;
    WriteSynthCheckpoint(spec, scratch_ / "mixtral", SynthOptions{});
    experts_ = spec.num_experts;
    layers_ = spec.num_layers;
  }
  testing::ScratchDir scratch_;
  int64_t experts_ = 0;
  int64_t layers_ = 0;
};

TEST_F(ConvertMixtralTest, EveryExpertGetsItsOwnScaleAndTheRouterIsKept) {
  ConvertOptions options;
  options.model = scratch_ / "mixtral";
  options.output = scratch_ / "fp8";
  options.quiet = true;
  const ConvertSummary summary = Convert(options);
  EXPECT_EQ(summary.tensors_quantized, static_cast<size_t>(layers_ * (4 + 3 * experts_)));

  const Checkpoint out = Checkpoint::Open(options.output);
  std::set<float> w1_scales;
  for (int64_t layer = 0; layer < layers_; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".block_sparse_moe.";
    EXPECT_EQ(out.Get(p + "gate.weight").dtype, DType::kBF16);
    EXPECT_EQ(out.Find(p + "gate.weight_scale"), nullptr);
    for (int64_t e = 0; e < experts_; ++e) {
      const std::string x = p + "experts." + std::to_string(e) + ".";
      EXPECT_EQ(out.Get(x + "w1.weight").dtype, DType::kF8E4M3);
      EXPECT_EQ(out.Get(x + "w2.weight").dtype, DType::kF8E4M3);
      EXPECT_EQ(ScalarOf(out, x + "w1.weight_scale"), ScalarOf(out, x + "w3.weight_scale"));
      w1_scales.insert(ScalarOf(out, x + "w1.weight_scale"));
    }
  }
  // Scales are per expert: the synthetic experts have different outliers, so their scales differ.
  EXPECT_GT(w1_scales.size(), static_cast<size_t>(experts_));

  std::ifstream in(options.output / "config.json");
  const nlohmann::json config = nlohmann::json::parse(in);
  const auto& ignored = config["quantization_config"]["ignored_layers"];
  EXPECT_NE(std::find(ignored.begin(), ignored.end(), "model.layers.0.block_sparse_moe.gate"), ignored.end());
  EXPECT_NE(std::find(ignored.begin(), ignored.end(), "lm_head"), ignored.end());
  EXPECT_EQ(config["num_local_experts"], experts_);
}

TEST_F(ConvertMixtralTest, StaticInputScalesAreSharedByALayersExperts) {
  ConvertOptions options;
  options.model = scratch_ / "mixtral";
  options.output = scratch_ / "static";
  options.quiet = true;
  options.overrides.activations = "static";
  options.calibrator = [](const Checkpoint&, const std::vector<std::string>& modules) {
    // Expert 1 of every layer saw no tokens: it gets no statistic, and must still get the layer's scale.
    std::map<std::string, float> scales;
    float value = 0.5f;
    for (const std::string& m : modules) {
      if (m.find(".experts.1.") == std::string::npos) scales[m] = (value += 0.25f);
    }
    return scales;
  };
  Convert(options);
  const Checkpoint out = Checkpoint::Open(options.output);
  for (int64_t layer = 0; layer < layers_; ++layer) {
    const std::string p = "model.layers." + std::to_string(layer) + ".block_sparse_moe.experts.";
    const float w13 = ScalarOf(out, p + "0.w1.input_scale");
    const float w2 = ScalarOf(out, p + "0.w2.input_scale");
    EXPECT_NE(w13, w2);
    for (int64_t e = 0; e < experts_; ++e) {
      EXPECT_EQ(ScalarOf(out, p + std::to_string(e) + ".w1.input_scale"), w13);
      EXPECT_EQ(ScalarOf(out, p + std::to_string(e) + ".w3.input_scale"), w13);
      EXPECT_EQ(ScalarOf(out, p + std::to_string(e) + ".w2.input_scale"), w2);
    }
  }
}

// GPTQ and AWQ over experts: each expert calibrated on the tokens routed to it (experts share no statistics), the
// router kept, output deterministic at any thread count, and the result runs.
TEST_F(ConvertMixtralTest, Int4GptqAndAwqCalibratePerExpert) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> token(0, 255);
  std::vector<TokenSequence> sequences(4, TokenSequence(24));
  for (TokenSequence& sequence : sequences) {
    for (int32_t& id : sequence) id = token(rng);
  }
  const auto read = [](const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    return buffer.str();
  };
  for (const std::string method : {"gptq", "awq"}) {
    SCOPED_TRACE(method);
    std::string bytes;
    for (const size_t threads : {1, 3}) {
      ConvertOptions options;
      options.model = scratch_ / "mixtral";
      options.output = scratch_ / (method + std::to_string(threads));
      options.scheme = "int4";
      options.overrides.method = method;
      options.quiet = true;
      options.threads = threads;
      options.layerwise_quantizer = [&](const Checkpoint& original, const QuantScheme& scheme, ThreadPool& pool) {
        return NewLayerwiseInt4Quantizer(original, scheme, sequences, pool);
      };
      const ConvertSummary summary = Convert(options);
      EXPECT_NE(summary.report["calibration"].get<std::string>().find(method), std::string::npos);
      const std::string written = read(options.output / "model.safetensors");
      if (bytes.empty()) {
        bytes = written;
      } else {
        EXPECT_EQ(written, bytes) << "output depends on the thread count";
      }
    }
    const Checkpoint out = Checkpoint::Open(scratch_ / (method + "1"));
    EXPECT_NE(out.Find("model.layers.0.block_sparse_moe.experts.3.w2.weight_packed"), nullptr);
    EXPECT_EQ(out.Get("model.layers.0.block_sparse_moe.gate.weight").dtype, DType::kBF16);
    const Transformer model(out);
    KvCache cache = model.NewCache();
    ThreadPool pool(2);
    const std::vector<float> logits = model.Forward(sequences[0], cache, pool, LogitsFor::kAll);
    for (float v : logits) ASSERT_TRUE(std::isfinite(v));
  }
}

}  // namespace
}  // namespace octet
