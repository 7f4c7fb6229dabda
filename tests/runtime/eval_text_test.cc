// Evaluation of scored positions only (runtime/eval.h ScoredSequence) and `octet eval --text` end to end.
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "runtime/eval.h"
#include "runtime/text_windows.h"
#include "runtime/token_file.h"
#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// Total negative log-likelihood behind a result: positions * log(ppl).
double Nll(const EvalMetrics& m) { return static_cast<double>(m.positions) * std::log(m.ppl); }

// Scoring t >= k and scoring t < k (the sequence cut after token k) add up to scoring everything: the scored
// positions see the same logits as in a full evaluation, and the unscored ones count nowhere.
void ExpectScoredPartsAddUp(const Transformer& model, const TokenSequence& sequence, size_t first) {
  ThreadPool pool(2);
  const EvalMetrics all = Evaluate(model, nullptr, std::vector<ScoredSequence>{{sequence, 0}}, pool);
  const EvalMetrics tail = Evaluate(model, nullptr, std::vector<ScoredSequence>{{sequence, first}}, pool);
  const TokenSequence head_tokens(sequence.begin(), sequence.begin() + static_cast<std::ptrdiff_t>(first) + 1);
  const EvalMetrics head = Evaluate(model, nullptr, std::vector<TokenSequence>{head_tokens}, pool);
  EXPECT_EQ(all.positions, sequence.size() - 1);
  EXPECT_EQ(tail.positions, sequence.size() - 1 - first);
  EXPECT_EQ(head.positions, first);
  EXPECT_NEAR(Nll(head) + Nll(tail), Nll(all), 1e-9 * Nll(all));
  EXPECT_NE(tail.ppl, all.ppl);
}

TEST(EvalTextTest, OnlyScoredPositionsCount) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  ExpectScoredPartsAddUp(model, ReadTokenFile(dir / "sample_tokens.txt")[0], 64);
  // A sequence scored from past its end contributes nothing; all-positions scoring is --data's behaviour.
  ThreadPool pool(1);
  const auto sequences = ReadTokenFile(dir / "sample_tokens.txt");
  EXPECT_EQ(Evaluate(model, nullptr, ScoreAllPositions(sequences), pool).ppl,
            Evaluate(model, nullptr, sequences, pool).ppl);
  EXPECT_THROW(Evaluate(model, nullptr, std::vector<ScoredSequence>{{sequences[0], 127}}, pool), Error);
}

// Sequences longer than eval's 256-token chunks, scored from past the first chunk: that chunk runs without
// logits. aidreams' weights with a longer max_position_embeddings (the outputs past 128 mean nothing, but they
// are a deterministic function of the tokens).
TEST(EvalTextTest, ScoringFromALaterChunkGivesTheSameLogits) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  testing::ScratchDir scratch;
  nlohmann::json config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  config["max_position_embeddings"] = 600;
  std::ofstream(scratch / "config.json") << config.dump();
  fs::copy_file(dir / "model.safetensors", scratch / "model.safetensors");
  const Checkpoint checkpoint = Checkpoint::Open(scratch.path());
  const Transformer model(checkpoint);
  TokenSequence long_sequence;
  for (const TokenSequence& s : ReadTokenFile(dir / "sample_tokens.txt")) {
    long_sequence.insert(long_sequence.end(), s.begin(), s.end());
    if (long_sequence.size() >= 520) break;
  }
  long_sequence.resize(520);
  ExpectScoredPartsAddUp(model, long_sequence, 300);
}

struct TextSetup {
  TokenizedText text;
  size_t chunks = 0;
};

TextSetup Tokenized(const fs::path& dir) {
  const auto tokenizer = LoadTokenizer(dir);
  TextSetup s;
  s.text = TokenizeTextFile(dir / "sample_text.txt", *tokenizer);
  s.chunks = s.text.tokens.size() / 128;
  return s;
}

TEST(EvalTextTest, CliTextIsLlamaPerplexityWindowing) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const std::string text = (dir / "sample_text.txt").string();
  const auto result = testing::RunCli("eval " + dir.string() + " --text " + text + " --json --threads 2");
  ASSERT_EQ(result.exit_code, 0) << result.output;
  const auto json = nlohmann::json::parse(result.output);

  // Independently: llama-perplexity's loop over the whole-file tokens, ctx = max_position_embeddings = 128.
  const TextSetup setup = Tokenized(dir);
  ASSERT_GE(setup.chunks, 10u);
  const Checkpoint checkpoint = Checkpoint::Open(dir);
  const Transformer model(checkpoint);
  ThreadPool pool(2);
  double nll = 0;
  size_t count = 0;
  for (size_t i = 0; i < setup.chunks; ++i) {
    TokenSequence chunk(setup.text.tokens.begin() + static_cast<std::ptrdiff_t>(i * 128),
                        setup.text.tokens.begin() + static_cast<std::ptrdiff_t>((i + 1) * 128));
    chunk[0] = 1;  // BOS
    KvCache cache = model.NewCache();
    const std::vector<float> logits = model.Forward(chunk, cache, pool, LogitsFor::kAll);
    for (size_t t = 64; t < 127; ++t) {
      nll -= LogSoftmax(logits.data() + t * 512, 512)[static_cast<size_t>(chunk[t + 1])];
      ++count;
    }
  }
  EXPECT_EQ(json["positions"], setup.chunks * 63);
  EXPECT_EQ(json["positions"], count);
  EXPECT_NEAR(json["ppl"].get<double>(), std::exp(nll / static_cast<double>(count)), 1e-9);
  EXPECT_NEAR(json["ppl"].get<double>(), 5.9544, 5e-4);  // the figure in README.md
  EXPECT_TRUE(json["kld_mean"].is_null());

  // Human-readable output names the windowing.
  const auto plain = testing::RunCli("eval " + dir.string() + " --text " + text + " --ctx 64");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_THAT(plain.output, HasSubstr(fmt::format("({} tokens; {} windows of 64 tokens, second half of each scored)",
                                                  setup.text.tokens.size(), setup.text.tokens.size() / 64)));
}

TEST(EvalTextTest, CliStrideScoresEveryTokenOnceAndWorksWithReference) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  OCTET_REQUIRE_SHARED_MODEL(bf16_dir, "aidreams260K-bf16");
  const std::string text = (dir / "sample_text.txt").string();
  const TextSetup setup = Tokenized(dir);
  const auto strided = testing::RunCli("eval " + bf16_dir.string() + " --text " + text +
                                       " --ctx 128 --stride 32 --reference " + dir.string() + " --json");
  ASSERT_EQ(strided.exit_code, 0) << strided.output;
  const auto json = nlohmann::json::parse(strided.output);
  EXPECT_EQ(json["positions"], setup.text.tokens.size() - 1);
  EXPECT_GT(json["kld_mean"].get<double>(), 0.0);
  EXPECT_LT(json["kld_mean"].get<double>(), 2e-3);
  EXPECT_GT(json["top1_agreement"].get<double>(), 0.97);
  // The reference's perplexity is the one of the reference evaluated alone on the same windows.
  const auto alone = testing::RunCli("eval " + dir.string() + " --text " + text + " --ctx 128 --stride 32 --json");
  ASSERT_EQ(alone.exit_code, 0) << alone.output;
  EXPECT_EQ(json["ref_ppl"].get<double>(), nlohmann::json::parse(alone.output)["ppl"].get<double>());

  // --reference against itself: KLD exactly 0 on the same positions as without.
  const auto self = testing::RunCli("eval " + dir.string() + " --text " + text + " --reference " + dir.string() +
                                    " --json");
  ASSERT_EQ(self.exit_code, 0) << self.output;
  const auto self_json = nlohmann::json::parse(self.output);
  EXPECT_EQ(self_json["kld_mean"].get<double>(), 0.0);
  EXPECT_EQ(self_json["top1_agreement"].get<double>(), 1.0);
  EXPECT_EQ(self_json["positions"], setup.chunks * 63);
}

TEST(EvalTextTest, CliRefusesBadWindowsClearly) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const std::string text = (dir / "sample_text.txt").string();
  const auto too_long = testing::RunCli("eval " + dir.string() + " --text " + text + " --ctx 129");
  EXPECT_EQ(too_long.exit_code, 1);
  EXPECT_THAT(too_long.output, HasSubstr("--ctx 129 is more than the model's context (max_position_embeddings 128"));
  testing::ScratchDir scratch;
  std::ofstream(scratch / "short.txt") << "\"A short dream.";
  const auto short_text = testing::RunCli("eval " + dir.string() + " --text " + (scratch / "short.txt").string());
  EXPECT_EQ(short_text.exit_code, 1);
  EXPECT_THAT(short_text.output, HasSubstr("short.txt: the text has"));
  EXPECT_THAT(short_text.output, HasSubstr("too few for one window of 128 tokens"));
  const auto bad_stride = testing::RunCli("eval " + dir.string() + " --text " + text + " --stride 128");
  EXPECT_THAT(bad_stride.output, HasSubstr("the stride must be between 1 and the context minus 1 (127), not 128"));
  const auto both = testing::RunCli("eval " + dir.string() + " --text " + text + " --data " + text);
  EXPECT_EQ(both.exit_code, 1);
  EXPECT_THAT(both.output, HasSubstr("give the data as --data (token ids) or --text (one)"));
  const auto ctx_with_data =
      testing::RunCli("eval " + dir.string() + " --data " + (dir / "sample_tokens.txt").string() + " --ctx 64");
  EXPECT_THAT(ctx_with_data.output, HasSubstr("--ctx and --stride apply to --text only"));
}

}  // namespace
}  // namespace octet
