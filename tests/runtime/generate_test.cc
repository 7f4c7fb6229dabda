#include <algorithm>

#include <gtest/gtest.h>

#include "runtime/generate.h"
#include "runtime/sampler.h"
#include "runtime/token_file.h"
#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet {
namespace {

std::vector<int32_t> Greedy(const Transformer& model, size_t threads, int64_t steps) {
  ThreadPool pool(threads);
  GenerateOptions options;
  options.max_new_tokens = steps;
  options.temperature = 0;
  return Generate(model, std::vector<int32_t>{1}, options, pool);
}

TEST(GenerateTest, GreedyContinuationOfBosIsTheDocumentedDream) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const std::vector<int32_t> ids = Greedy(model, 1, 20);
  const std::string text = LoadTokenizer(dir)->Decode(ids);
  EXPECT_EQ(text.rfind("\"Echoes of vectors unfold, a gentle hum of precision", 0), 0u) << text;
}

TEST(GenerateTest, GreedyIsIdenticalAcrossThreadCounts) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const std::vector<int32_t> one = Greedy(model, 1, 127);
  EXPECT_EQ(one.size(), 127u);  // stops at max_position_embeddings (128) with the prompt's 1 token
  EXPECT_EQ(Greedy(model, 2, 127), one);
  EXPECT_EQ(Greedy(model, 3, 127), one);
}

// sample_tokens.txt line i was sampled by llama2.c run.c with seed 3001 + i, temperature 1, top-p 0.9.
TEST(GenerateTest, SamplingReproducesLlama2cRunWithTheSameSeed) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  const auto samples = ReadTokenFile(dir / "sample_tokens.txt");
  ThreadPool pool(2);
  size_t matching = 0;
  for (size_t i = 0; i < 4; ++i) {
    GenerateOptions options;
    options.max_new_tokens = 127;
    options.temperature = 1.0f;
    options.top_p = 0.9f;
    options.seed = 3001 + i;
    const std::vector<int32_t> ids = Generate(model, std::vector<int32_t>{1}, options, pool);
    const std::vector<int32_t> expected(samples[i].begin() + 1, samples[i].end());
    matching += ids == expected;
  }
  EXPECT_GE(matching, 3u);
}

TEST(GenerateTest, SamplerIsDeterministicPerSeedAndRespectsTopP) {
  std::vector<float> logits = {5.0f, 4.9f, 0.0f, -1.0f, -3.0f};
  Sampler a(1.0f, 0.5f, 7), b(1.0f, 0.5f, 7);
  for (int i = 0; i < 100; ++i) {
    const int32_t x = a.Sample(logits);
    EXPECT_EQ(x, b.Sample(logits));
    EXPECT_TRUE(x == 0 || x == 1);  // the nucleus of mass 0.5 holds the two top tokens only
  }
  Sampler greedy(0.0f, 0.9f, 1);
  EXPECT_EQ(greedy.Sample(logits), 0);
  EXPECT_THROW(Sampler(-1.0f, 0.9f, 1), Error);
  EXPECT_THROW(Sampler(1.0f, 1.5f, 1), Error);
}

TEST(GenerateTest, CliPrintIdsIsDeterministicAndValidatesPrompt) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto one = testing::RunCli("generate " + dir.string() + " --prompt-ids 1 -n 10 --print-ids --threads 1");
  const auto three = testing::RunCli("generate " + dir.string() + " --prompt-ids 1 -n 10 --print-ids --threads 3");
  ASSERT_EQ(one.exit_code, 0) << one.output;
  EXPECT_EQ(one.output, three.output);
  EXPECT_EQ(std::count(one.output.begin(), one.output.end(), ' '), 9);
  const auto bad = testing::RunCli("generate " + dir.string() + " --prompt-ids \"1 999\"");
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("999"), std::string::npos) << bad.output;
  // Without --print-ids: the text (tokenizer.json is beside the model) on stdout, the ids on stderr.
  const auto text = testing::RunCli("generate " + dir.string() + " --prompt-ids 1 -n 12");
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_EQ(text.output.rfind("\"Echoes of vectors unfold", 0), 0u) << text.output;
  EXPECT_NE(text.output.find("ids: 319 459 355"), std::string::npos) << text.output;
  // A text prompt is encoded with BOS: "\"Echoes of" is 1 319 459 355 260 275, the greedy path's first five
  // tokens, so the continuation is the greedy path's next three.
  const auto from_text =
      testing::RunCli("generate " + dir.string() + " --prompt '\"Echoes of' -n 3 --print-ids");
  EXPECT_EQ(from_text.exit_code, 0) << from_text.output;
  EXPECT_EQ(from_text.output, "429 339 315\n");
  EXPECT_EQ(testing::RunCli("generate " + dir.string() + " -n 3").exit_code, 1);
}

}  // namespace
}  // namespace octet
