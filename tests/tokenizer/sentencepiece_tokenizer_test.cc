// tokenizer.model through libsentencepiece: a model trained here on aidreams260K's sample text (the shared models
// ship no .model file) must round-trip, decode like SentencePiece itself, and stream.
#include "tokenizer/sentencepiece_tokenizer.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/load_tokenizer.h"

#ifdef OCTET_HAVE_SENTENCEPIECE
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>
#endif

namespace octet {
namespace {

#ifdef OCTET_HAVE_SENTENCEPIECE

TEST(SentencePieceTokenizerTest, TrainedModelRoundTrips) {
  OCTET_REQUIRE_SHARED_MODEL(model, "aidreams260K");
  testing::ScratchDir dir;
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (model / "sample_text.txt").string() + " --model_prefix=" + (dir / "tokenizer").string() +
      " --vocab_size=500 --model_type=bpe --byte_fallback=true --character_coverage=1.0 --minloglevel=2");
  ASSERT_TRUE(status.ok()) << status.ToString();
  const auto tokenizer = LoadTokenizer(dir.path());
  EXPECT_NE(tokenizer->description().find("SentencePiece"), std::string::npos);
  EXPECT_EQ(tokenizer->bos_id(), 1);
  EXPECT_EQ(tokenizer->eos_id(), 2);

  sentencepiece::SentencePieceProcessor reference;
  ASSERT_TRUE(reference.Load((dir / "tokenizer.model").string()).ok());
  for (const std::string& text :
       std::vector<std::string>{"Embeddings blend through me.", "  two  spaces", "中文 and 😀", "x"}) {
    const std::vector<int32_t> ids = tokenizer->Encode(text, false);
    std::vector<int> expected;
    ASSERT_TRUE(reference.Encode(text, &expected).ok());
    EXPECT_EQ(ids, std::vector<int32_t>(expected.begin(), expected.end()));
    std::string expected_text;
    ASSERT_TRUE(reference.Decode(expected, &expected_text).ok());
    EXPECT_EQ(tokenizer->Decode(ids), expected_text) << text;
    const std::vector<int32_t> with_bos = tokenizer->Encode(text, true);
    EXPECT_EQ(with_bos.front(), 1);
    EXPECT_EQ(tokenizer->Decode(with_bos), expected_text) << text;
  }
}

#else

TEST(SentencePieceTokenizerTest, RefusesClearlyWithoutLibrary) {
  EXPECT_FALSE(SentencePieceAvailable());
  GTEST_SKIP() << "built without libsentencepiece";
}

#endif

}  // namespace
}  // namespace octet
