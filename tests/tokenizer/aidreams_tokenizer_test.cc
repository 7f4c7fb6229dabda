// aidreams260K's real tokenizer, in both of its formats: every line of sample_text.txt must encode to exactly the
// ids of sample_text_ids.txt (with BOS), and the reference strings must match tokenizers.js (tokenizer.json) and,
// but for literal special-token text, run.c (tok512.bin; see shared/models/README.md).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer_test_util.h"

namespace octet {
namespace {

using testing::ParseIdLine;
using testing::ReadLines;
using testing::ReadReferenceCases;

void ExpectSampleTextIds(const Tokenizer& tokenizer, const std::filesystem::path& dir) {
  const std::vector<std::string> texts = ReadLines(dir / "sample_text.txt");
  const std::vector<std::string> ids = ReadLines(dir / "sample_text_ids.txt");
  ASSERT_EQ(texts.size(), 16u);
  ASSERT_EQ(texts.size(), ids.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(tokenizer.Encode(texts[i], /*add_bos=*/true), ParseIdLine(ids[i])) << "line " << i + 1;
  }
}

TEST(AidreamsTokenizerTest, TokenizerJsonEncodesSampleTextExactly) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto tokenizer = LoadTokenizer(dir);
  EXPECT_NE(tokenizer->description().find("tokenizer.json"), std::string::npos);
  ExpectSampleTextIds(*tokenizer, dir);
}

TEST(AidreamsTokenizerTest, Tok512BinEncodesSampleTextExactly) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto tokenizer = LoadTokenizer(dir / "tok512.bin");
  EXPECT_NE(tokenizer->description().find("llama2.c"), std::string::npos);
  ExpectSampleTextIds(*tokenizer, dir);
}

TEST(AidreamsTokenizerTest, SpecialIdsAndVocabulary) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  for (const auto& path : {dir, dir / "tok512.bin"}) {
    const auto tokenizer = LoadTokenizer(path);
    EXPECT_EQ(tokenizer->vocab_size(), 512) << path;
    EXPECT_EQ(tokenizer->bos_id(), 1) << path;
    EXPECT_EQ(tokenizer->eos_id(), 2) << path;
    EXPECT_TRUE(tokenizer->IsStop(2)) << path;
    EXPECT_EQ(tokenizer->Encode("", true), std::vector<int32_t>{1}) << path;
    EXPECT_TRUE(tokenizer->Encode("", false).empty()) << path;
  }
}

TEST(AidreamsTokenizerTest, TokenizerJsonMatchesTokenizersJs) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto tokenizer = LoadTokenizer(dir / "tokenizer.json");
  const auto cases = ReadReferenceCases("aidreams260K");
  ASSERT_GE(cases.size(), 300u);
  for (const auto& c : cases) {
    EXPECT_EQ(tokenizer->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Decode(c.ids), c.decoded) << "text: " << c.text;
  }
}

TEST(AidreamsTokenizerTest, Tok512BinMatchesTokenizersJsButForSpecialText) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto tokenizer = LoadTokenizer(dir / "tok512.bin");
  int compared = 0;
  for (const auto& c : ReadReferenceCases("aidreams260K")) {
    // HF turns literal "<s>", "</s>", "<unk>" into special tokens; run.c encodes the characters.
    if (c.text.find("<s>") != std::string::npos || c.text.find("</s>") != std::string::npos ||
        c.text.find("<unk>") != std::string::npos) {
      continue;
    }
    EXPECT_EQ(tokenizer->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(tokenizer->Decode(c.ids), c.decoded) << "text: " << c.text;
    ++compared;
  }
  EXPECT_GE(compared, 300);
}

TEST(AidreamsTokenizerTest, LiteralSpecialTextDiffersAsDocumented) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  const auto json = LoadTokenizer(dir);
  const auto bin = LoadTokenizer(dir / "tok512.bin");
  const std::vector<int32_t> hf = json->Encode("a<s>b", false);
  EXPECT_NE(std::find(hf.begin(), hf.end(), 1), hf.end());
  const std::vector<int32_t> runc = bin->Encode("a<s>b", false);
  EXPECT_EQ(std::find(runc.begin(), runc.end(), 1), runc.end());
}

}  // namespace
}  // namespace octet
