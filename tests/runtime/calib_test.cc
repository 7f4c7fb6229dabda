#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "calib/calibrate.h"
#include "calib/input_scale.h"
#include "numeric/fp8.h"
#include "runtime/mixtral_builder.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

TEST(CalibMethodTest, ParsesTheThreeMethods) {
  EXPECT_EQ(ParseCalibMethod("max").kind, CalibMethod::Kind::kMax);
  EXPECT_EQ(ParseCalibMethod("mse").kind, CalibMethod::Kind::kMse);
  const CalibMethod p = ParseCalibMethod("percentile:99.99");
  EXPECT_EQ(p.kind, CalibMethod::Kind::kPercentile);
  EXPECT_DOUBLE_EQ(p.percentile, 99.99);
  EXPECT_EQ(p.ToString(), "percentile:99.99");
  EXPECT_EQ(ParseCalibMethod("percentile:100").percentile, 100.0);
}

TEST(CalibMethodTest, RejectsBadValuesClearly) {
  for (const char* bad : {"", "minmax", "percentile", "percentile:", "percentile:0", "percentile:-1",
                          "percentile:100.5", "percentile:99x", "percentile:nan", "MSE"}) {
    try {
      ParseCalibMethod(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("percentile"), std::string::npos) << message;
    }
  }
}

TEST(CalibHistogramTest, PercentilesOfKnownDistributions) {
  AbsHistogram h;
  std::vector<float> values;
  for (int i = 1; i <= 100000; ++i) values.push_back(static_cast<float>(i) * (i % 2 ? 0.001f : -0.001f));
  h.Add(values.data(), values.size());
  EXPECT_EQ(h.count(), 100000u);
  EXPECT_FLOAT_EQ(h.abs_max(), 100.0f);
  EXPECT_NEAR(h.Percentile(50), 50.0, 50.0 / 64);
  EXPECT_NEAR(h.Percentile(99), 99.0, 99.0 / 64);
  EXPECT_DOUBLE_EQ(h.Percentile(100), h.abs_max());
  const std::vector<float> zeros(100, 0.0f);
  h.Add(zeros.data(), zeros.size());
  EXPECT_EQ(h.zeros(), 100u);
  // Split and merged in another order: the same histogram.
  AbsHistogram a, b;
  b.Add(values.data() + 500, values.size() - 500);
  a.Add(zeros.data(), zeros.size());
  a.Add(values.data(), 500);
  b.Merge(a);
  EXPECT_EQ(b.counts(), h.counts());
  EXPECT_EQ(b.count(), h.count());
}

TEST(CalibHistogramTest, MseThresholdBeatsMaxWhenTheTopBinadeIsBadlyAligned) {
  // Most values at 0.97 * absmax: with clip = absmax they land at 434.6 of 448 and round to 448 (a 3% error);
  // clipping at 0.957 * absmax saturates them instead (1.3%). FP8 being floating point, the bulk's relative error
  // does not depend on the clip, so only the top matters.
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> values(100000);
  for (size_t i = 0; i < values.size(); ++i) values[i] = i % 2 ? 0.97f : normal(rng) * 0.01f;
  values[0] = 1.0f;
  AbsHistogram h;
  h.Add(values.data(), values.size());
  const double max_clip = ClipThreshold(h, ParseCalibMethod("max"));
  const double mse_clip = ClipThreshold(h, ParseCalibMethod("mse"));
  EXPECT_EQ(max_clip, 1.0);
  EXPECT_LT(mse_clip, max_clip);
  EXPECT_LT(FakeQuantMse(h, mse_clip), 0.5 * FakeQuantMse(h, max_clip));
  // The MSE estimate is exact when every bin maps to one value: compare with a direct computation.
  double direct = 0;
  for (float v : values) {
    const double s = mse_clip / 448.0;
    const double q = DecodeE4M3(EncodeE4M3(static_cast<float>(std::fabs(v) / s))) * s;
    direct += (std::fabs(v) - q) * (std::fabs(v) - q);
  }
  EXPECT_NEAR(FakeQuantMse(h, mse_clip), direct / values.size(), 0.05 * direct / values.size());
  EXPECT_LE(InputScale(h, ParseCalibMethod("percentile:99.99")), InputScale(h, ParseCalibMethod("max")));
  EXPECT_LE(InputScale(h, ParseCalibMethod("mse")), InputScale(h, ParseCalibMethod("max")));
}

TEST(CalibHistogramTest, AllZeroInputGetsTheFloorScale) {
  AbsHistogram h;
  const std::vector<float> zeros(1000, 0.0f);
  h.Add(zeros.data(), zeros.size());
  for (const char* method : {"max", "percentile:99", "mse"}) {
    EXPECT_EQ(InputScale(h, ParseCalibMethod(method)), kMinInputScale) << method;
  }
}

// Records absmax per module independently of the histogram.
class AbsMaxObserver : public LinearInputObserver {
 public:
  void Observe(std::string_view module, const float* x, size_t tokens, size_t dim) override {
    float& m = max_[std::string(module)];
    for (size_t i = 0; i < tokens * dim; ++i) m = std::max(m, std::fabs(x[i]));
  }
  std::map<std::string, float> max_;
};

TEST(CalibTest, AidreamsScalesArePositiveFiniteAndOrdered) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  auto sequences = ReadTokenFile(dir / "sample_text_ids.txt");
  sequences.resize(8);
  ThreadPool pool(2);
  const auto max = CalibrateInputScales(checkpoint, sequences, ParseCalibMethod("max"), pool);
  const auto pct = CalibrateInputScales(checkpoint, sequences, ParseCalibMethod("percentile:99.9"), pool);
  const auto mse = CalibrateInputScales(checkpoint, sequences, ParseCalibMethod("mse"), pool);
  ASSERT_EQ(max.size(), 4u * 7u);  // q, k, v, o, gate, up, down per layer
  EXPECT_TRUE(max.count("model.layers.0.self_attn.q_proj"));
  EXPECT_TRUE(max.count("model.layers.3.mlp.down_proj"));
  EXPECT_FALSE(max.count("lm_head"));

  // max is absmax / 448 of what an independent observer sees.
  const Transformer model(checkpoint);
  AbsMaxObserver observer;
  for (const auto& s : sequences) {
    KvCache cache = model.NewCache();
    model.Forward(s, cache, pool, LogitsFor::kNone, &observer);
  }
  for (const auto& [module, scale] : max) {
    EXPECT_TRUE(std::isfinite(scale) && scale > 0) << module;
    EXPECT_FLOAT_EQ(scale, observer.max_.at(module) / 448.0f) << module;
    EXPECT_TRUE(std::isfinite(pct.at(module)) && pct.at(module) > 0) << module;
    EXPECT_TRUE(std::isfinite(mse.at(module)) && mse.at(module) > 0) << module;
    EXPECT_LE(pct.at(module), scale) << module;
    EXPECT_LE(mse.at(module), scale) << module;
  }
  // q, k and v see the same input.
  EXPECT_EQ(max.at("model.layers.1.self_attn.q_proj"), max.at("model.layers.1.self_attn.v_proj"));
}

TEST(CalibTest, ScalesDoNotDependOnThreadCount) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  sequences.resize(4);
  ThreadPool one(1), three(3);
  for (const char* method : {"max", "percentile:99.99", "mse"}) {
    EXPECT_EQ(CalibrateInputScales(checkpoint, sequences, ParseCalibMethod(method), one),
              CalibrateInputScales(checkpoint, sequences, ParseCalibMethod(method), three))
        << method;
  }
}

TEST(CalibTest, MixtralExpertsSeeOnlyTheirRoutedTokens) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint llama = Checkpoint::Open(dir);
  testing::ScratchDir scratch;
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> router(4 * 64);
  for (float& r : router) r = normal(rng);
  testing::WriteMixtral(llama, scratch.path(), 4, 2, router);
  const Checkpoint mixtral = Checkpoint::Open(scratch.path());
  auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  sequences.resize(2);
  ThreadPool pool(2);
  const auto stats = CollectActivationStats(mixtral, sequences, pool);
  for (int layer = 0; layer < 4; ++layer) {
    uint64_t routed = 0;
    for (int e = 0; e < 4; ++e) {
      const std::string p = "model.layers." + std::to_string(layer) + ".block_sparse_moe.experts." +
                            std::to_string(e) + ".";
      if (!stats.count(p + "w1")) continue;
      EXPECT_EQ(stats.at(p + "w1").tokens, stats.at(p + "w3").tokens);
      EXPECT_EQ(stats.at(p + "w1").tokens, stats.at(p + "w2").tokens);
      routed += stats.at(p + "w1").tokens;
    }
    EXPECT_EQ(routed, 2u * 2u * 128u) << "layer " << layer;  // top-2 of 256 tokens
    EXPECT_FALSE(stats.count("model.layers." + std::to_string(layer) + ".block_sparse_moe.gate"));
  }
}

TEST(CalibTest, RejectsEmptyAndOverlongInput) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  ThreadPool pool(1);
  EXPECT_THROW(CalibrateInputScales(checkpoint, {}, ParseCalibMethod("max"), pool), Error);
  EXPECT_THROW(CalibrateInputScales(checkpoint, {std::vector<int32_t>(129, 1)}, ParseCalibMethod("max"), pool),
               Error);
}

}  // namespace
}  // namespace octet
