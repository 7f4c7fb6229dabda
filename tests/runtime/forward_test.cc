// The F32/BF16 forward pass against the independent double-precision reference, across checkpoint variants,
// thread counts, prefill vs decode, and Mixtral routing.
#include <cstring>
#include <random>

#include <gtest/gtest.h>

#include "runtime/mixtral_builder.h"
#include "runtime/reference_model.h"
#include "runtime/scratch_checkpoint.h"
#include "runtime/token_file.h"
#include "runtime/transformer.h"
#include "test_util.h"
#include "util/error.h"

namespace octet {
namespace {

using testing::ReferenceModel;
using testing::RelativeError;

std::vector<float> AllLogits(const Transformer& model, const std::vector<int32_t>& tokens, ThreadPool& pool) {
  KvCache cache = model.NewCache();
  return model.Forward(tokens, cache, pool, LogitsFor::kAll);
}

// Sample sequences live in the F32 variant's directory ("aidreams260K-bf16" -> "aidreams260K").
std::vector<TokenSequence> SampleTokens(const std::filesystem::path& dir) {
  const std::string name = dir.filename().string();
  return ReadTokenFile(dir.parent_path() / name.substr(0, name.find('-')) / "sample_tokens.txt");
}

void ExpectMatchesReference(const std::filesystem::path& dir, size_t num_sequences, double tolerance) {
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const ReferenceModel reference(checkpoint);
  const auto sequences = SampleTokens(dir);
  ThreadPool pool(2);
  for (size_t i = 0; i < num_sequences; ++i) {
    const double error = RelativeError(AllLogits(model, sequences[i], pool), reference.Logits(sequences[i]));
    EXPECT_LE(error, tolerance) << dir << " sequence " << i;
  }
}

TEST(ForwardTest, AidreamsF32MatchesDoubleReference) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  ExpectMatchesReference(dir, 4, 1e-4);
}

TEST(ForwardTest, StoriesGqaF32MatchesDoubleReference) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "stories260K");
  ExpectMatchesReference(dir, 4, 1e-4);
}

TEST(ForwardTest, AidreamsBf16MatchesDoubleReferenceOfBf16Weights) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K-bf16");
  ExpectMatchesReference(dir, 2, 1e-4);
}

TEST(ForwardTest, ShardedIsIdenticalToSingleFile) {
  for (const char* name : {"aidreams260K", "stories260K"}) {
    OCTET_REQUIRE_SHARED_MODEL(dir, name);
    OCTET_REQUIRE_SHARED_MODEL(sharded_dir, std::string(name) + "-sharded");
    const Checkpoint single = Checkpoint::Open(dir), sharded = Checkpoint::Open(sharded_dir);
    const Transformer a(single), b(sharded);
    const auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
    ThreadPool pool(2);
    EXPECT_EQ(AllLogits(a, sequences[0], pool), AllLogits(b, sequences[0], pool)) << name;
  }
}

TEST(ForwardTest, DecodeOneTokenAtATimeMatchesPrefill) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "stories260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const std::vector<int32_t> tokens = ReadTokenFile(dir / "sample_tokens.txt")[1];
  ThreadPool pool(2);
  const std::vector<float> prefill = AllLogits(model, tokens, pool);
  KvCache cache = model.NewCache();
  const size_t vocab = static_cast<size_t>(model.config().shape.vocab_size);
  double max_diff = 0, max_abs = 0;
  for (size_t t = 0; t < tokens.size(); ++t) {
    const std::vector<float> step = model.Forward(std::span(&tokens[t], 1), cache, pool, LogitsFor::kLast);
    ASSERT_EQ(step.size(), vocab);
    for (size_t v = 0; v < vocab; ++v) {
      max_diff = std::max(max_diff, std::fabs(static_cast<double>(step[v]) - prefill[t * vocab + v]));
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(prefill[t * vocab + v])));
    }
  }
  EXPECT_LE(max_diff / max_abs, 1e-5);
  EXPECT_EQ(cache.length(), static_cast<int64_t>(tokens.size()));
}

TEST(ForwardTest, LogitsDoNotDependOnThreadCount) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "stories260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const std::vector<int32_t> tokens = ReadTokenFile(dir / "sample_tokens.txt")[2];
  ThreadPool one(1), two(2), three(3);
  const std::vector<float> expected = AllLogits(model, tokens, one);
  EXPECT_EQ(AllLogits(model, tokens, two), expected);
  EXPECT_EQ(AllLogits(model, tokens, three), expected);
}

TEST(ForwardTest, RejectsTokensOutsideVocabularyAndContext) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  ThreadPool pool(1);
  KvCache cache = model.NewCache();
  EXPECT_THROW(model.Forward(std::vector<int32_t>{1, 512}, cache, pool), Error);
  KvCache cache2 = model.NewCache();
  EXPECT_THROW(model.Forward(std::vector<int32_t>(129, 1), cache2, pool), Error);
}

TEST(ForwardTest, MixtralWithOneExpertComputesExactlyTheLlama) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint llama_checkpoint = Checkpoint::Open(dir);
  testing::ScratchDir scratch;
  testing::WriteMixtral(llama_checkpoint, scratch.path(), 1, 1, std::vector<float>(64, 0.25f));
  const Checkpoint mixtral_checkpoint = Checkpoint::Open(scratch.path());
  const Transformer llama(llama_checkpoint), mixtral(mixtral_checkpoint);
  ASSERT_TRUE(mixtral.config().is_moe());
  ThreadPool pool(2);
  const auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  for (size_t i = 0; i < 2; ++i) EXPECT_EQ(AllLogits(mixtral, sequences[i], pool), AllLogits(llama, sequences[i], pool));
  // Decode path too.
  KvCache a = llama.NewCache(), b = mixtral.NewCache();
  EXPECT_EQ(llama.Forward(std::vector<int32_t>{1}, a, pool), mixtral.Forward(std::vector<int32_t>{1}, b, pool));
}

TEST(ForwardTest, MixtralTop2RoutingMatchesDoubleReference) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint llama_checkpoint = Checkpoint::Open(dir);
  testing::ScratchDir scratch;
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 0.5f);
  std::vector<float> router(4 * 64);
  for (float& r : router) r = normal(rng);
  testing::WriteMixtral(llama_checkpoint, scratch.path(), 4, 2, router);
  const Checkpoint checkpoint = Checkpoint::Open(scratch.path());
  const Transformer model(checkpoint);
  const ReferenceModel reference(checkpoint);
  ThreadPool pool(3);
  const auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_LE(RelativeError(AllLogits(model, sequences[i], pool), reference.Logits(sequences[i])), 1e-4);
  }
}

}  // namespace
}  // namespace octet
