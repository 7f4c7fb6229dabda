#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/eval.h"
#include "runtime/token_file.h"
#include "test_util.h"

namespace octet {
namespace {

TEST(EvalTest, AidreamsF32PerplexityMatchesPublishedValue) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  ThreadPool pool(2);
  const EvalMetrics metrics = Evaluate(model, nullptr, ReadTokenFile(dir / "sample_tokens.txt"), pool);
  EXPECT_EQ(metrics.positions, 16u * 127u);
  EXPECT_NEAR(metrics.ppl, 3.8837, 5e-4);
  EXPECT_FALSE(metrics.reference.has_value());
}

TEST(EvalTest, AidreamsSampleTextPerplexityMatchesPublishedValue) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  ThreadPool pool(2);
  EXPECT_NEAR(Evaluate(model, nullptr, ReadTokenFile(dir / "sample_text_ids.txt"), pool).ppl, 4.0536, 5e-4);
}

TEST(EvalTest, ShardedAgainstSingleFileHasZeroDivergence) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(sharded_dir, "aidreams260K-sharded");
  const Checkpoint single = Checkpoint::Open(dir), sharded = Checkpoint::Open(sharded_dir);
  const Transformer a(single), b(sharded);
  ThreadPool pool(2);
  const EvalMetrics m = Evaluate(b, &a, ReadTokenFile(dir / "sample_tokens.txt"), pool);
  ASSERT_TRUE(m.reference.has_value());
  EXPECT_EQ(m.reference->kld_mean, 0.0);
  EXPECT_EQ(m.reference->kld_p99, 0.0);
  EXPECT_EQ(m.reference->top1_agreement, 1.0);
  EXPECT_EQ(m.ppl, m.reference->ref_ppl);
  EXPECT_EQ(m.reference->delta_ppl_pct, 0.0);
}

TEST(EvalTest, Bf16AgainstF32HasSmallDivergence) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(bf16_dir, "aidreams260K-bf16");
  const Checkpoint f32 = Checkpoint::Open(dir), bf16 = Checkpoint::Open(bf16_dir);
  const Transformer reference(f32), model(bf16);
  ThreadPool pool(2);
  const EvalMetrics m = Evaluate(model, &reference, ReadTokenFile(dir / "sample_tokens.txt"), pool);
  ASSERT_TRUE(m.reference.has_value());
  const ReferenceMetrics& r = *m.reference;
  EXPECT_NEAR(r.ref_ppl, 3.8837, 5e-4);
  EXPECT_GT(r.kld_mean, 0.0);
  EXPECT_LT(r.kld_mean, 2e-3);
  EXPECT_LE(r.kld_median, r.kld_p99);
  EXPECT_GT(r.top1_agreement, 0.97);
  EXPECT_LT(std::fabs(r.delta_ppl_pct), 1.0);
  EXPECT_NEAR(r.delta_ppl_pct, 100.0 * (m.ppl / r.ref_ppl - 1.0), 1e-9);
}

TEST(EvalTest, PerLayerAttributesTheErrorToTheSwappedLayer) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(bf16_dir, "aidreams260K-bf16");
  const Checkpoint f32 = Checkpoint::Open(dir), bf16 = Checkpoint::Open(bf16_dir);
  const Transformer reference(f32), model(bf16);
  auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  sequences.resize(4);
  ThreadPool pool(2);
  const std::vector<EvalMetrics> per_layer = EvaluatePerLayer(model, reference, sequences, pool);
  ASSERT_EQ(per_layer.size(), 4u);
  for (const EvalMetrics& m : per_layer) {
    EXPECT_GT(m.reference->kld_mean, 0.0);  // each layer alone changes something
    EXPECT_LT(m.reference->kld_mean, Evaluate(model, &reference, sequences, pool).reference->kld_mean * 1.5);
  }
  // Swapping a layer from the model itself changes nothing.
  const EvalMetrics same = Evaluate(reference.WithLayerFrom(reference, 2), &reference, sequences, pool);
  EXPECT_EQ(same.reference->kld_mean, 0.0);
  const auto json = nlohmann::json::parse(EvalMetricsJson(per_layer[0], per_layer));
  EXPECT_EQ(json["per_layer"].size(), 4u);
  EXPECT_EQ(json["per_layer"][3]["layer"], 3);
}

TEST(EvalTest, PercentileInterpolatesLinearly) {
  std::vector<double> v = {4, 1, 3, 2, 5};
  EXPECT_DOUBLE_EQ(Percentile(v, 50), 3);
  EXPECT_DOUBLE_EQ(Percentile(v, 0), 1);
  EXPECT_DOUBLE_EQ(Percentile(v, 100), 5);
  EXPECT_DOUBLE_EQ(Percentile(v, 99), 4.96);
}

TEST(EvalTest, KlDivergenceOfKnownDistributions) {
  const std::vector<float> p = {0.0f, 0.0f}, q = {std::log(3.0f), 0.0f};
  // P = (1/2, 1/2), Q = (3/4, 1/4): KL = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3).
  EXPECT_NEAR(KlDivergence(LogSoftmax(p.data(), 2), LogSoftmax(q.data(), 2)), 0.5 * std::log(4.0 / 3.0), 1e-7);
  EXPECT_EQ(KlDivergence(LogSoftmax(q.data(), 2), LogSoftmax(q.data(), 2)), 0.0);
}

TEST(EvalTest, JsonHasExactlyTheDocumentedKeys) {
  EvalMetrics m;
  m.positions = 10;
  m.ppl = 2.0;
  const auto without = nlohmann::ordered_json::parse(EvalMetricsJson(m));
  std::vector<std::string> keys;
  for (const auto& [k, v] : without.items()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"ppl", "ref_ppl", "delta_ppl_pct", "kld_mean", "kld_median", "kld_p99",
                                            "top1_agreement", "positions"}));
  EXPECT_TRUE(without["ref_ppl"].is_null());
  EXPECT_TRUE(without["kld_mean"].is_null());
  EXPECT_EQ(without["positions"], 10);
  m.reference = ReferenceMetrics{1.5, 33.3, 0.1, 0.05, 0.9, 0.8};
  const auto with = nlohmann::json::parse(EvalMetricsJson(m));
  EXPECT_EQ(with["ref_ppl"], 1.5);
  EXPECT_EQ(with["top1_agreement"], 0.8);
}

TEST(EvalTest, CliPrintsJsonAndRejectsBadData) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto ok = testing::RunCli("eval " + dir.string() + " --data " + (dir / "sample_tokens.txt").string() +
                                  " --reference " + dir.string() + " --json --threads 2");
  ASSERT_EQ(ok.exit_code, 0) << ok.output;
  const auto json = nlohmann::json::parse(ok.output);
  EXPECT_NEAR(json["ppl"].get<double>(), 3.8837, 5e-4);
  EXPECT_EQ(json["kld_mean"].get<double>(), 0.0);
  EXPECT_EQ(json["positions"], 2032);

  testing::ScratchDir scratch;
  std::ofstream(scratch / "bad.txt") << "1 2 3\n1 x 3\n";
  const auto bad = testing::RunCli("eval " + dir.string() + " --data " + (scratch / "bad.txt").string());
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("bad.txt:2:"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace octet
