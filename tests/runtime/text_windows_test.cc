// Window boundaries of eval --text and convert --calib-text (runtime/text_windows.h) on hand-made token lists,
// against llama.cpp's loops (tools/perplexity/perplexity.cpp, tools/imatrix/imatrix.cpp) and the Hugging Face
// strided-perplexity loop written out by hand.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <numeric>
#include <set>

#include "runtime/text_windows.h"
#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "util/error.h"

namespace octet {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<int32_t> Iota(int32_t n) {
  std::vector<int32_t> tokens(static_cast<size_t>(n));
  std::iota(tokens.begin(), tokens.end(), 0);
  return tokens;
}

std::string ErrorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(TextWindowsTest, PerplexityChunksAreLlamaCppChunksScoringTheSecondHalf) {
  // 11 tokens, ctx 4: n_chunk = 11 / 4 = 2; tokens 8..10 are dropped; each chunk's first token becomes BOS.
  const std::vector<ScoredSequence> chunks = PerplexityChunks(Iota(11), /*bos=*/100, 4, "t");
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_THAT(chunks[0].tokens, ElementsAre(100, 1, 2, 3));
  EXPECT_THAT(chunks[1].tokens, ElementsAre(100, 5, 6, 7));
  // first = n_ctx/2 = 2: position 2 predicts token 3 (ctx - ctx/2 - 1 = 1 prediction).
  EXPECT_EQ(chunks[0].first_scored, 2u);
  EXPECT_EQ(chunks[1].first_scored, 2u);
  // Odd ctx 5: first = 2, positions 2 and 3 scored (5 - 2 - 1 = 2); no BOS: the text's tokens stay.
  const std::vector<ScoredSequence> odd = PerplexityChunks(Iota(10), /*bos=*/-1, 5, "t");
  ASSERT_EQ(odd.size(), 2u);
  EXPECT_THAT(odd[1].tokens, ElementsAre(5, 6, 7, 8, 9));
  EXPECT_EQ(odd[1].first_scored, 2u);
  // Exactly one chunk.
  EXPECT_EQ(PerplexityChunks(Iota(4), 100, 4, "t").size(), 1u);
}

TEST(TextWindowsTest, CalibrationChunksAreBosPlusTheNextTokens) {
  const std::vector<TokenSequence> all = CalibrationChunks(Iota(10), /*bos=*/1, 3, /*count=*/0, "t");
  ASSERT_EQ(all.size(), 3u);
  EXPECT_THAT(all[0], ElementsAre(1, 1, 2));
  EXPECT_THAT(all[1], ElementsAre(1, 4, 5));
  EXPECT_THAT(all[2], ElementsAre(1, 7, 8));
  const std::vector<TokenSequence> two = CalibrationChunks(Iota(10), 1, 3, 2, "t");
  ASSERT_EQ(two.size(), 2u);
  EXPECT_EQ(two[1], all[1]);
  EXPECT_THAT(ErrorOf([] { CalibrationChunks(Iota(10), 1, 3, 4, "corpus.txt"); }),
              HasSubstr("corpus.txt: the text has 10 tokens, enough for 3 samples of 3 tokens, not 4"));
}

TEST(TextWindowsTest, SlidingWindowsFollowTheHuggingFaceLoop) {
  // n 11, ctx 4, stride 3: windows [0,4) [3,7) [6,10) [9,11); the last one is shorter.
  const std::vector<ScoredSequence> w = SlidingWindows(Iota(11), 4, 3, "t");
  ASSERT_EQ(w.size(), 4u);
  EXPECT_THAT(w[0].tokens, ElementsAre(0, 1, 2, 3));
  EXPECT_EQ(w[0].first_scored, 0u);  // predicts 1, 2, 3
  EXPECT_THAT(w[1].tokens, ElementsAre(3, 4, 5, 6));
  EXPECT_EQ(w[1].first_scored, 0u);  // predicts 4, 5, 6 (context: token 3 only)
  EXPECT_THAT(w[3].tokens, ElementsAre(9, 10));
  EXPECT_EQ(w[3].first_scored, 0u);  // predicts 10
  // n 10, ctx 4, stride 2: [0,4) [2,6) [4,8) [6,10); later windows predict their last 2 tokens.
  const std::vector<ScoredSequence> v = SlidingWindows(Iota(10), 4, 2, "t");
  ASSERT_EQ(v.size(), 4u);
  EXPECT_THAT(v[3].tokens, ElementsAre(6, 7, 8, 9));
  EXPECT_EQ(v[1].first_scored, 1u);
  EXPECT_EQ(v[3].first_scored, 1u);
}

// The HF guide's loop, written out: for begin in range(0, n, stride): end = min(begin + ctx, n);
// trg_len = end - prev_end; targets are input_ids[end - trg_len : end] except the text's first token.
TEST(TextWindowsTest, SlidingWindowsPredictEveryTokenButTheFirstExactlyOnce) {
  for (int32_t n = 4; n <= 40; ++n) {
    for (size_t ctx = 2; ctx <= static_cast<size_t>(n); ++ctx) {
      for (size_t stride = 1; stride < ctx; ++stride) {
        const std::vector<int32_t> tokens = Iota(n);
        std::vector<int32_t> predicted;
        size_t begin = 0;
        for (const ScoredSequence& window : SlidingWindows(tokens, ctx, stride, "t")) {
          EXPECT_EQ(window.tokens[0], static_cast<int32_t>(begin));
          ASSERT_LE(window.tokens.size(), ctx);
          for (size_t t = window.first_scored; t + 1 < window.tokens.size(); ++t) {
            predicted.push_back(window.tokens[t + 1]);
          }
          begin += stride;
        }
        std::vector<int32_t> expected(tokens.begin() + 1, tokens.end());
        ASSERT_EQ(predicted, expected) << "n " << n << " ctx " << ctx << " stride " << stride;
      }
    }
  }
}

TEST(TextWindowsTest, RefusesTooShortTextsAndSenselessSizes) {
  EXPECT_THAT(ErrorOf([] { PerplexityChunks(Iota(5), 1, 8, "a.txt"); }),
              HasSubstr("a.txt: the text has 5 tokens, too few for one window of 8 tokens"));
  EXPECT_THAT(ErrorOf([] { SlidingWindows(Iota(5), 8, 2, "a.txt"); }), HasSubstr("too few for one window"));
  EXPECT_THAT(ErrorOf([] { CalibrationChunks(Iota(5), 1, 8, 0, "a.txt"); }), HasSubstr("too few"));
  EXPECT_THAT(ErrorOf([] { PerplexityChunks(Iota(5), 1, 2, "a.txt"); }), HasSubstr("leaves nothing to score"));
  EXPECT_THAT(ErrorOf([] { SlidingWindows(Iota(10), 4, 4, "a.txt"); }),
              HasSubstr("the stride must be between 1 and the context minus 1 (3), not 4"));
}

TEST(TextWindowsTest, TokenizeTextFileEncodesTheWholeFileWithBos) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const std::unique_ptr<const Tokenizer> tokenizer = LoadTokenizer(dir);
  const TokenizedText text = TokenizeTextFile(dir / "sample_text.txt", *tokenizer);
  EXPECT_EQ(text.bos, 1);
  std::ifstream in(dir / "sample_text.txt", std::ios::binary);
  const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.tokens, tokenizer->Encode(contents, true));
  ASSERT_GT(text.tokens.size(), 1000u);
  EXPECT_EQ(text.tokens[0], 1);
  EXPECT_THAT(ErrorOf([&] { TokenizeTextFile(dir / "no-such.txt", *tokenizer); }),
              HasSubstr("no-such.txt: cannot open the text file"));
}

// Byte-level tokenizers (tests/tokenizer/data): GPT-2's adds nothing around a sequence, Llama-3's adds
// <|begin_of_text|> through its post-processor.
TEST(TextWindowsTest, TokenizeTextFileFindsWhatTheTokenizerAdds) {
  const std::filesystem::path data = std::filesystem::path(OCTET_SOURCE_DIR) / "tests" / "tokenizer" / "data";
  testing::ScratchDir scratch;
  const std::string contents = "Hello world.\nA second line, with caf\xc3\xa9 and 123.\n";
  std::ofstream(scratch / "t.txt", std::ios::binary) << contents;

  const std::unique_ptr<const Tokenizer> gpt2 = LoadTokenizer(data / "bytelevel_gpt2.json");
  const TokenizedText plain = TokenizeTextFile(scratch / "t.txt", *gpt2);
  EXPECT_EQ(plain.bos, -1);
  EXPECT_EQ(plain.tokens, gpt2->Encode(contents, false));

  const std::unique_ptr<const Tokenizer> llama3 = LoadTokenizer(data / "bytelevel_llama3.json");
  const TokenizedText with_bos = TokenizeTextFile(scratch / "t.txt", *llama3);
  ASSERT_TRUE(llama3->TokenToId("<|begin_of_text|>").has_value());
  EXPECT_EQ(with_bos.bos, *llama3->TokenToId("<|begin_of_text|>"));
  EXPECT_EQ(with_bos.tokens[0], with_bos.bos);
  EXPECT_EQ(std::vector<int32_t>(with_bos.tokens.begin() + 1, with_bos.tokens.end()), llama3->Encode(contents, false));
}

}  // namespace
}  // namespace octet
