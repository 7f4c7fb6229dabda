// GGUF vocabularies (tokenizer.ggml.*), written with octet's GgufWriter the way llama.cpp's convert_hf_to_gguf.py
// would, must tokenize like the tokenizers they came from: aidreams260K's SentencePiece vocabulary (from
// tok512.bin: pieces, scores, token types) against tokenizers.js's reference vectors and the sample text ids, and
// the byte-level test tokenizers (GPT-2, Llama-3, Qwen2 flavours) against theirs.
#include "tokenizer/gguf_tokenizer.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "io/gguf_writer.h"
#include "test_util.h"
#include "tokenizer/load_tokenizer.h"
#include "tokenizer_test_util.h"
#include "gguf_test_vocabularies.h"
#include "util/error.h"

#include <fmt/format.h>

namespace octet {
namespace {

using testing::ParseIdLine;
using testing::ReadFileText;
using testing::ReadLines;
using testing::ReadReferenceCases;
using testing::ScratchDir;
using testing::TokenizerDataDir;
using namespace testing::gguf_vocab;  // kNormal, ..., WriteVocabGguf, AidreamsVocabulary, ByteLevelVocabulary

TEST(GgufTokenizerTest, AidreamsVocabularyMatchesTokenizersJsAndTok512) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  ScratchDir scratch;
  const auto path = scratch / "aidreams.gguf";
  WriteVocabGguf(path, AidreamsVocabulary(dir / "tok512.bin"));
  const auto gguf = LoadTokenizer(path);
  const auto tok512 = LoadTokenizer(dir / "tok512.bin");
  EXPECT_NE(gguf->description().find("GGUF"), std::string::npos) << gguf->description();
  EXPECT_EQ(gguf->vocab_size(), 512);
  EXPECT_EQ(gguf->bos_id(), 1);
  EXPECT_EQ(gguf->eos_id(), 2);
  EXPECT_EQ(gguf->Encode("", true), std::vector<int32_t>{1});
  EXPECT_TRUE(gguf->Encode("", false).empty());

  const auto cases = ReadReferenceCases("aidreams260K");
  ASSERT_GE(cases.size(), 300u);
  int compared_with_tok512 = 0;
  for (const auto& c : cases) {
    // Special text ("<s>", "<unk>") is matched as the special token, as transformers and llama.cpp
    // (parse_special) do, so every case must equal tokenizers.js.
    EXPECT_EQ(gguf->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(gguf->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(gguf->Decode(c.ids), c.decoded) << "text: " << c.text;
    if (c.text.find("<s>") == std::string::npos && c.text.find("</s>") == std::string::npos &&
        c.text.find("<unk>") == std::string::npos) {
      EXPECT_EQ(gguf->Encode(c.text, true), tok512->Encode(c.text, true)) << "text: " << c.text;
      ++compared_with_tok512;
    }
  }
  EXPECT_GE(compared_with_tok512, 300);

  const std::vector<std::string> texts = ReadLines(dir / "sample_text.txt");
  const std::vector<std::string> ids = ReadLines(dir / "sample_text_ids.txt");
  ASSERT_EQ(texts.size(), ids.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    EXPECT_EQ(gguf->Encode(texts[i], true), ParseIdLine(ids[i])) << "line " << i + 1;
    EXPECT_EQ(gguf->Decode(ParseIdLine(ids[i])), texts[i]) << "line " << i + 1;
  }
}

// A hand-made SentencePiece-style vocabulary (no shared model needed): merges by score, leftmost among equals,
// byte fallback for characters outside the vocabulary, the dummy-prefix space, i32 scores.
TEST(GgufTokenizerTest, SentencePieceMergesByScoreByHand) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {kUnknown, kControl, kControl};
  for (int b = 0; b < 256; ++b) {
    tokens.push_back(fmt::format("<0x{:02X}>", b));
    types.push_back(kByte);
  }
  const int32_t first = static_cast<int32_t>(tokens.size());  // 259
  for (const char* piece : {"\xE2\x96\x81", "\xE2\x96\x81t", "h", "e", "\xE2\x96\x81th", "\xE2\x96\x81the", "t", "a",
                            "b", "c", "ab", "bc"}) {
    tokens.push_back(piece);
    types.push_back(kNormal);
  }
  // Scores: "bc" (0) beats "ab" (-1); the rest descending.
  std::vector<int32_t> scores(tokens.size(), 0);
  for (int32_t i = first; i < static_cast<int32_t>(tokens.size()); ++i) scores[i] = first - i;
  scores[first + 10] = -1;  // ab
  scores[first + 11] = 0;   // bc
  const int32_t space = first, space_t = first + 1, h = first + 2, e = first + 3, space_the = first + 5,
                t = first + 6, a = first + 7, bc = first + 11;
  ScratchDir scratch;
  auto write = [&](const std::filesystem::path& path, bool add_space_prefix) {
    WriteVocabGguf(path, {{"tokenizer.ggml.model", GgufValue::String("llama")},
                          {"tokenizer.ggml.tokens", GgufValue::StringArray(tokens)},
                          {"tokenizer.ggml.scores", GgufValue::Int32Array(scores)},
                          {"tokenizer.ggml.token_type", GgufValue::Int32Array(types)},
                          {"tokenizer.ggml.add_space_prefix", GgufValue::Bool(add_space_prefix)}});
  };
  write(scratch / "spm.gguf", true);
  write(scratch / "nospace.gguf", false);
  const auto spm = LoadTokenizer(scratch / "spm.gguf");
  EXPECT_EQ(spm->bos_id(), 1);  // llama.cpp's defaults for "llama": BOS 1, EOS 2, add BOS
  EXPECT_EQ(spm->eos_id(), 2);
  // " the": \u2581 t -> \u2581t, then \u2581th, then \u2581the.
  EXPECT_EQ(spm->Encode("the", true), (std::vector<int32_t>{1, space_the}));
  // "x" is not in the vocabulary: its byte token <0x78> (id 3 + 0x78).
  EXPECT_EQ(spm->Encode("tex", false), (std::vector<int32_t>{space_t, e, 3 + 0x78}));
  // "abc": bc (score 0) is merged before ab (score -1).
  EXPECT_EQ(spm->Encode("abc", false), (std::vector<int32_t>{space, a, bc}));
  // Two spaces: the prefix plus one, each its own token; decoding drops only the prefix.
  EXPECT_EQ(spm->Encode(" h", false), (std::vector<int32_t>{space, space, h}));
  EXPECT_EQ(spm->Decode(spm->Encode("the tex", true)), "the tex");
  // A special token in the text, and the prefix again after it (llama.cpp: is_prev_special).
  EXPECT_EQ(spm->Encode("t</s>t", false), (std::vector<int32_t>{space_t, 2, space_t}));
  const auto nospace = LoadTokenizer(scratch / "nospace.gguf");
  EXPECT_EQ(nospace->Encode("the", false), (std::vector<int32_t>{t, h, e}));
  EXPECT_EQ(nospace->leading_spaces_to_strip(), 0);
}

TEST(GgufTokenizerTest, DirectoryLookupOrder) {
  OCTET_REQUIRE_SHARED_MODEL(dir, "aidreams260K");
  ScratchDir scratch;
  WriteVocabGguf(scratch / "model.gguf", AidreamsVocabulary(dir / "tok512.bin"));
  // A llama2.c tokenizer.bin beside the GGUF loses to it; tokenizer.json wins over both.
  std::filesystem::copy_file(dir / "tok512.bin", scratch / "tokenizer.bin");
  EXPECT_NE(LoadTokenizer(scratch.path())->description().find("model.gguf"), std::string::npos);
  EXPECT_NE(LoadTokenizer(scratch / "model.gguf")->description().find("GGUF"), std::string::npos);
  std::filesystem::copy_file(dir / "tokenizer.json", scratch / "tokenizer.json");
  EXPECT_NE(LoadTokenizer(scratch.path())->description().find("tokenizer.json"), std::string::npos);
}

class GgufByteLevelTest : public ::testing::TestWithParam<ByteLevelCase> {};

TEST_P(GgufByteLevelTest, MatchesTokenizersJs) {
  ScratchDir scratch;
  const auto path = scratch / (GetParam().name + ".gguf");
  WriteVocabGguf(path, ByteLevelVocabulary(GetParam().name, GetParam().pre));
  const auto gguf = LoadTokenizer(path);
  const auto json = LoadTokenizer(TokenizerDataDir() / (GetParam().name + ".json"));
  EXPECT_NE(gguf->description().find("byte-level"), std::string::npos) << gguf->description();
  EXPECT_EQ(gguf->vocab_size(), json->vocab_size());
  EXPECT_EQ(gguf->bos_id(), json->bos_id());
  int compared = 0;
  for (const auto& c : ReadReferenceCases(GetParam().name)) {
    if (!c.nfc_inert) continue;  // Qwen2 normalizes with NFC; llama.cpp does not, transformers does
    EXPECT_EQ(gguf->Encode(c.text, true), c.ids) << "text: " << c.text;
    EXPECT_EQ(gguf->Encode(c.text, false), c.ids_no_special) << "text: " << c.text;
    EXPECT_EQ(gguf->Decode(c.ids), json->Decode(c.ids)) << "text: " << c.text;
    ++compared;
  }
  EXPECT_GE(compared, 260);
}

INSTANTIATE_TEST_SUITE_P(Flavours, GgufByteLevelTest,
                         ::testing::ValuesIn(kByteLevelFlavours),
                         [](const auto& info) { return info.param.name; });

TEST(GgufTokenizerTest, SpecialTextAndTokenTypes) {
  ScratchDir scratch;
  const auto path = scratch / "llama3.gguf";
  WriteVocabGguf(path, ByteLevelVocabulary("bytelevel_llama3", "llama-bpe"));
  const auto t = LoadTokenizer(path);
  const int32_t begin = t->TokenToId("<|begin_of_text|>").value();
  const int32_t eot = t->TokenToId("<|eot_id|>").value();
  const int32_t dreamer = t->TokenToId("dreamer").value();
  EXPECT_EQ(t->bos_id(), begin);
  EXPECT_TRUE(t->IsStop(eot));  // found by its text, as llama.cpp does when no eot id is given
  const std::vector<int32_t> ids = t->Encode("hi<|eot_id|>dreamer", true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids.front(), begin);
  EXPECT_EQ(ids[ids.size() - 2], eot);
  EXPECT_EQ(ids.back(), dreamer);
  EXPECT_EQ(std::vector<int32_t>(ids.begin() + 1, ids.end() - 2), t->Encode("hi", false));
  EXPECT_EQ(t->Decode(ids), "hidreamer");  // control tokens decode to nothing, user-defined to their text
}

TEST(GgufTokenizerTest, RefusesWhatItDoesNotImplementClearly) {
  ScratchDir scratch;
  auto expect_error = [&](std::vector<GgufKeyValue> metadata, const std::string& part) {
    const auto path = scratch / "bad.gguf";
    WriteVocabGguf(path, std::move(metadata));
    try {
      LoadTokenizer(path);
      ADD_FAILURE() << "no error; expected '" << part << "'";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_NE(message.find("bad.gguf"), std::string::npos) << message;
      EXPECT_NE(message.find(part), std::string::npos) << message;
      EXPECT_EQ(message.find('\n'), std::string::npos) << message;
    }
    std::filesystem::remove(path);
  };
  const GgufKeyValue tokens{"tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "ab"})};
  expect_error({tokens}, "metadata key 'tokenizer.ggml.model' is missing");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("bert")}, tokens}, "'bert' is not supported");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("gpt2")}, tokens}, "'default' pre-tokenizer");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("gpt2")},
                {"tokenizer.ggml.pre", GgufValue::String("deepseek-llm")},
                tokens},
               "'deepseek-llm' is not supported");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("gpt2")},
                {"tokenizer.ggml.pre", GgufValue::String("gpt-2")},
                tokens},
               "'tokenizer.ggml.merges' is missing");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                {"tokenizer.ggml.tokens", GgufValue::Int32Array({1, 2})}},
               "array of i32, expected strings");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                {"tokenizer.ggml.tokens", GgufValue::StringArray({"a", "b", "a"})}},
               "duplicate token 'a'");
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                tokens,
                {"tokenizer.ggml.scores", GgufValue::Float32Array({0, 1})}},
               "2 entries for 3 tokens");
  // The default BOS id 1 is outside a one-token vocabulary.
  expect_error({{"tokenizer.ggml.model", GgufValue::String("llama")},
                {"tokenizer.ggml.tokens", GgufValue::StringArray({"<unk>"})}},
               "add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
}

}  // namespace
}  // namespace octet
